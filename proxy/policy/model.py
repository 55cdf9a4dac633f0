"""The values of policy evaluation: what a decision is asked about, and what it answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from proxy.ml.features import Prediction
    from proxy.ml.risk import MlRisk

Action = Literal["allow", "flag", "redact", "block"]
Phase = Literal["access", "content", "response"]
Mode = Literal["enforce", "monitor"]
PHASES: tuple[Phase, ...] = ("access", "content", "response")
# Most severe wins: the order actions combine in.
ACTION_RANK: dict[str, int] = {"allow": 0, "flag": 1, "redact": 2, "block": 3}
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class FindingLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def score(self) -> float: ...


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class PolicyInput(NamedTuple):
    """Everything a rule may look at. Built by the enforcement stages or a policy test.

    A named tuple rather than a frozen dataclass: as immutable, and several times cheaper to
    build, which every phase of every request does.
    """

    tenant: str
    route: str | None = None
    model: str | None = None
    operation: str | None = None
    payload: Any = None
    headers: Mapping[str, str] = _NOTHING  # lower-case names
    body_bytes: int = 0
    metadata: Mapping[str, Any] = _NOTHING
    findings: Sequence[FindingLike] = ()
    risk_score: float = 0.0
    risk_label: str = "normal"
    # ML routes: the model called and its inputs (contracts read them), and once the answer
    # is in, the prediction's ML risk (response rules read it).
    prediction: Prediction | None = None
    ml_risk: MlRisk | None = None

    def with_findings(
        self, findings: Sequence[FindingLike], risk_score: float, risk_label: str
    ) -> PolicyInput:
        """The same request, as content and response rules see it: with what was found."""
        return PolicyInput(
            tenant=self.tenant,
            route=self.route,
            model=self.model,
            operation=self.operation,
            payload=self.payload,
            headers=self.headers,
            body_bytes=self.body_bytes,
            metadata=self.metadata,
            findings=findings,
            risk_score=risk_score,
            risk_label=risk_label,
            prediction=self.prediction,
            ml_risk=self.ml_risk,
        )


@dataclass(frozen=True, slots=True)
class Violation:
    """Why an input contract refused a request: the field at fault (a feature) and how."""

    param: str
    message: str


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule_id: str
    action: Action
    severity: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one phase. `rule_id` is the winning rule, None for the default decision."""

    phase: Phase
    action: Action
    rule_id: str | None
    reason: str
    version: str
    severity: str | None = None
    rules: tuple[str, ...] = ()  # every enforced rule that matched, in file order
    monitored: tuple[RuleMatch, ...] = ()  # monitor-mode matches: what would have happened
    redact_kinds: tuple[str, ...] = ()  # finding-kind globs that redact rules asked to hide
    violation: Violation | None = None  # when the winner is an input contract: what broke it
    # Of those, the ones whose placeholders the answer may turn back into the original values.
    restore_kinds: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        return self.action == "block"


def most_severe(actions: Iterable[str]) -> str:
    """block > redact > flag > allow: how actions combine, wherever they are summed up."""
    return max(actions, key=ACTION_RANK.__getitem__, default="allow")


def outcome_of(decisions: Iterable[Decision]) -> Decision:
    """What the caller gets from several phases: the first block, else the most severe."""
    ordered = list(decisions)
    for decision in ordered:
        if decision.blocks:
            return decision
    return max(ordered, key=lambda d: ACTION_RANK[d.action])
