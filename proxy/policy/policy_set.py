"""PolicySet: compiled rules for every phase and the one pure function that decides."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from proxy.policy.conditions import Predicate, glob_matcher
from proxy.policy.contract import Contract
from proxy.policy.model import (
    ACTION_RANK,
    PHASES,
    Action,
    Decision,
    Mode,
    Phase,
    PolicyInput,
    RuleMatch,
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Globs over tenant, route prefix and model; None means every value (and no model)."""

    tenants: Predicate | None = None
    routes: Predicate | None = None
    models: Predicate | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, list[str]] | None) -> Scope:
        spec = spec or {}

        def field(name: str, attr: str) -> Predicate | None:
            patterns = spec.get(name)
            if not patterns or patterns == ["*"]:
                return None
            match = glob_matcher(patterns)
            return lambda i: (value := getattr(i, attr)) is not None and match(value)

        tenants, routes = field("tenants", "tenant"), field("routes", "route")
        models = field("models", "model")
        if tenants is None and routes is None and models is None:
            return EVERYWHERE
        return cls(tenants, routes, models)

    def covers(self, inp: PolicyInput) -> bool:
        return (
            (self.tenants is None or self.tenants(inp))
            and (self.routes is None or self.routes(inp))
            and (self.models is None or self.models(inp))
        )


# The scope of most rules: `decide` skips asking it.
EVERYWHERE: Final = Scope()


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    phase: Phase
    action: Action
    severity: str
    mode: Mode
    may_loosen: bool
    scope: Scope
    condition: Predicate
    redact_kinds: tuple[str, ...]
    source: str  # file:line, for people reading a decision
    # Whether the condition reads what the scanners find (texts must be scanned for it).
    reads_findings: bool = True
    # Set for an input contract: the condition is "the contract is broken".
    contract: Contract | None = None
    # Finding-kind globs the condition looks at; None when it reads every finding (risk).
    finding_kinds: tuple[str, ...] | None = None
    # Content redact rules only: the caller's answer gets the original values back.
    restore: bool = False
    # The condition cannot hold without at least one finding (`findings` or `custom`).
    needs_findings: bool = False


@dataclass(frozen=True, slots=True)
class Override:
    """A tenant's change to one rule; validated against what the rule allows when compiled."""

    action: Action | None = None
    mode: Mode | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class PolicyDefaults:
    access: Action = "allow"
    content: Action = "allow"
    response: Action = "allow"

    def for_phase(self, phase: Phase) -> Action:
        action: Action = getattr(self, phase)
        return action


def _derived() -> Any:
    """A field computed in `__post_init__` from the others: not an argument, not compared."""
    return dataclasses.field(init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PolicySet:
    version: str
    rules: Mapping[Phase, tuple[Rule, ...]]
    overrides: Mapping[tuple[str, str], Override]
    defaults: PolicyDefaults
    files: tuple[str, ...] = ()
    custom_scanners: tuple[Any, ...] = ()  # scanners for rules' own `custom` patterns
    # rule id -> its `custom` spec, to compile those scanners again in another process.
    custom_specs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tests: tuple[Any, ...] = ()
    # Phases with a rule that reads findings: only these have their texts scanned.
    scanned_phases: frozenset[Phase] = frozenset()
    # Per phase, the finding-kind globs its rules look at (None: all findings); a phase missing
    # here is read as None.
    phase_kinds: Mapping[Phase, tuple[str, ...] | None] = dataclasses.field(default_factory=dict)
    # Derived from the fields above, once: what `decide` would otherwise work out per request.
    _tenant_overrides: Mapping[str, Mapping[str, Override]] = _derived()
    _defaults: Mapping[Phase, Decision] = _derived()
    # Phases where every rule needs a finding: with none found, the default decides.
    _findings_only: frozenset[Phase] = _derived()

    def __post_init__(self) -> None:
        by_tenant: dict[str, dict[str, Override]] = {}
        for (tenant, rule_id), override in self.overrides.items():
            by_tenant.setdefault(tenant, {})[rule_id] = override
        defaults = {
            phase: _default_decision(self.version, self.defaults.for_phase(phase), phase)
            for phase in PHASES
        }
        findings_only = frozenset(
            phase
            for phase, rules in self.rules.items()
            if rules and all(rule.needs_findings for rule in rules)
        )
        object.__setattr__(self, "_tenant_overrides", by_tenant)
        object.__setattr__(self, "_defaults", defaults)
        object.__setattr__(self, "_findings_only", findings_only)

    @property
    def rule_count(self) -> int:
        return sum(len(rules) for rules in self.rules.values())

    def default_decision(self, phase: Phase) -> Decision:
        """The decision when no enforced rule matches: a frozen value, made once per set."""
        return self._defaults[phase]

    def scans(self, phase: Phase) -> bool:
        """Whether any rule of the phase looks at findings: if none does, nobody scans for it.

        Scanning is most of Warden's CPU per request; a set with no content or response rules
        costs no more than authentication and routing, and response rules that only read a
        prediction's ML risk scan no answer text.
        """
        return phase in self.scanned_phases

    def decides(self, phase: Phase) -> bool:
        """Whether the phase has any rule at all (otherwise its default decides)."""
        return bool(self.rules.get(phase))

    def contract_for(self, model: str) -> Contract | None:
        """The first input contract naming this model: it names positional features too."""
        for rule in self.rules.get("access", ()):
            if rule.contract is not None and rule.contract.models(model):
                return rule.contract
        return None

    def finding_kinds(self, phase: Phase) -> tuple[str, ...] | None:
        """The finding-kind globs the phase's rules look at, so that only the scanners that can
        produce one of them run; None when some rule reads every finding (risk conditions)."""
        return self.phase_kinds.get(phase)

    def decide(self, phase: Phase, inp: PolicyInput) -> Decision:
        """Pure: most severe enforced match wins, ties by file order; monitor rules only count."""
        rules = self.rules.get(phase)
        if not rules:
            return self._defaults[phase]
        found = bool(inp.findings)
        if not found and phase in self._findings_only:
            return self._defaults[phase]
        # Hot on every request: most tenants override nothing, most rules match nothing.
        overrides = self._tenant_overrides.get(inp.tenant)
        matched: list[tuple[Rule, Action]] = []
        monitored: list[RuleMatch] = []
        for rule in rules:
            if rule.needs_findings and not found:
                continue
            action, mode = rule.action, rule.mode
            if overrides is not None:
                override = overrides.get(rule.id)
                if override is not None:
                    if not override.enabled:
                        continue
                    action = override.action or action
                    mode = override.mode or mode
            scope = rule.scope
            if (scope is not EVERYWHERE and not scope.covers(inp)) or not rule.condition(inp):
                continue
            if mode == "monitor":
                monitored.append(RuleMatch(rule.id, action, rule.severity))
            else:
                matched.append((rule, action))
        if not matched:
            if not monitored:
                return self._defaults[phase]
            return replace(self._defaults[phase], monitored=tuple(monitored))
        winner, winner_action = matched[0]
        redact_kinds: list[str] = []
        restore_kinds: list[str] = []
        for rule, action in matched:
            if action == "redact":
                redact_kinds.extend(rule.redact_kinds)
                if rule.restore:
                    restore_kinds.extend(rule.redact_kinds)
            if ACTION_RANK[action] > ACTION_RANK[winner_action]:
                winner, winner_action = rule, action
        violation = None
        if winner.contract is not None and inp.prediction is not None:
            # Asked again only for the winner, so the rule loop stays a plain predicate call.
            violation = winner.contract.check(inp.prediction)
        return Decision(
            phase,
            winner_action,
            winner.id,
            winner.description,
            self.version,
            severity=winner.severity,
            rules=tuple(rule.id for rule, _ in matched),
            monitored=tuple(monitored),
            redact_kinds=tuple(redact_kinds) if winner_action == "redact" else (),
            violation=violation,
            restore_kinds=tuple(restore_kinds) if winner_action == "redact" else (),
        )


def _default_decision(version: str, action: Action, phase: Phase) -> Decision:
    reason = "no rule matched" if action != "block" else "no policy allows this request"
    return Decision(phase, action, None, reason, version)
