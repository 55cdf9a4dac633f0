"""A rule's `when:` compiled into one predicate over PolicyInput; every key given must hold."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from proxy.policy.model import PolicyInput

Predicate = Callable[[PolicyInput], bool]

# Request fields that carry the maximum output length, by API.
_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def glob_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A list of globs as one compiled regex, so many patterns cost one match call."""
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda value: regex.match(value) is not None


def compare(spec: dict[str, Any]) -> Callable[[float], bool]:
    """Every comparison given must hold: {gt: 0, lte: 1} is a band, {outside: [0, 1]} is not.

    Only the comparisons given are asked, one closure each: rules are read on every request.
    """
    checks: list[Callable[[float], bool]] = []
    if (low_open := spec.get("gt")) is not None:
        checks.append(lambda v: v > low_open)
    if (low := spec.get("gte")) is not None:
        checks.append(lambda v: v >= low)
    if (high_open := spec.get("lt")) is not None:
        checks.append(lambda v: v < high_open)
    if (high := spec.get("lte")) is not None:
        checks.append(lambda v: v <= high)
    if (equal := spec.get("eq")) is not None:
        checks.append(lambda v: v == equal)
    if (outside := spec.get("outside")) is not None:
        below, above = outside
        checks.append(lambda v: v < below or v > above)
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    return lambda v: all(check(v) for check in checks)


# A tuple, not `int | float`: that union is built anew on each call.
_NUMBERS: Final = (int, float)


def _number(payload: Any, names: tuple[str, ...]) -> float | None:
    if not isinstance(payload, dict):
        return None
    for name in names:
        value = payload.get(name)
        if isinstance(value, _NUMBERS) and not isinstance(value, bool):
            return float(value)
    return None


def _has_key_anywhere(payload: Any, names: frozenset[str]) -> bool:
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in names and value is not None:
                    return True
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _param(*names: str) -> Callable[[Any], Predicate]:
    def factory(spec: dict[str, Any]) -> Predicate:
        holds = compare(spec)

        def predicate(inp: PolicyInput) -> bool:
            value = _number(inp.payload, names)
            # An absent parameter violates no limit: the upstream's default applies.
            return value is not None and holds(value)

        return predicate

    return factory


def _flag(*fields: str) -> Callable[[Any], Predicate]:
    def factory(want: bool) -> Predicate:
        def predicate(inp: PolicyInput) -> bool:
            present = isinstance(inp.payload, dict) and any(inp.payload.get(f) for f in fields)
            return present == want

        return predicate

    return factory


def _model_in(spec: list[str]) -> Predicate:
    match = glob_matcher(spec)
    return lambda inp: inp.model is not None and match(inp.model)


def _model_not_in(spec: list[str]) -> Predicate:
    match = glob_matcher(spec)
    # A request that names no model (a models listing) is on no deny list.
    return lambda inp: inp.model is not None and not match(inp.model)


def _operation_in(spec: list[str]) -> Predicate:
    match = glob_matcher(spec)
    return lambda inp: inp.operation is not None and match(inp.operation)


def _body_bytes(spec: dict[str, Any]) -> Predicate:
    holds = compare(spec)
    return lambda inp: holds(inp.body_bytes)


def _headers_missing(spec: list[str]) -> Predicate:
    names = tuple(h.lower() for h in spec)
    return lambda inp: any(not inp.headers.get(name) for name in names)


def _fields_present(spec: list[str]) -> Predicate:
    names = frozenset(spec)
    return lambda inp: _has_key_anywhere(inp.payload, names)


def _metadata(spec: dict[str, Any]) -> Predicate:
    wanted = dict(spec)
    return lambda inp: all(inp.metadata.get(k) == v for k, v in wanted.items())


def _least(spec: dict[str, Any]) -> int:
    """`min_count`: how many findings a `findings` or `custom` condition needs."""
    return int(spec.get("min_count", 1))


def _findings(spec: dict[str, Any]) -> Predicate:
    match = glob_matcher(spec["kinds"])
    least = _least(spec)
    floor = float(spec.get("min_score", 0.0))
    return lambda inp: sum(1 for f in inp.findings if match(f.kind) and f.score >= floor) >= least


def _risk(spec: dict[str, Any]) -> Predicate:
    holds = compare(spec)
    return lambda inp: holds(inp.risk_score)


def _risk_label(spec: list[str]) -> Predicate:
    labels = frozenset(spec)
    return lambda inp: inp.risk_label in labels


def _ml(component: str) -> Callable[[Any], Predicate]:
    def factory(spec: dict[str, Any]) -> Predicate:
        holds = compare(spec)

        def predicate(inp: PolicyInput) -> bool:
            # A request that is not a prediction, or a component not known, matches nothing.
            value = getattr(inp.ml_risk, component, None) if inp.ml_risk is not None else None
            return value is not None and holds(value)

        return predicate

    return factory


def _ml_risk_label(spec: list[str]) -> Predicate:
    labels = frozenset(spec)
    return lambda inp: inp.ml_risk is not None and inp.ml_risk.label in labels


def _custom_findings(kind: str, spec: dict[str, Any]) -> Predicate:
    least = _least(spec)
    return lambda inp: sum(1 for f in inp.findings if f.kind == kind) >= least


_FACTORIES: dict[str, Callable[[Any], Predicate]] = {
    "model_in": _model_in,
    "model_not_in": _model_not_in,
    "operation_in": _operation_in,
    "max_tokens": _param(*_MAX_TOKEN_FIELDS),
    "temperature": _param("temperature"),
    "n": _param("n"),
    "body_bytes": _body_bytes,
    "stream": _flag("stream"),
    "tools": _flag("tools", "functions"),
    "headers_missing": _headers_missing,
    "fields_present": _fields_present,
    "metadata": _metadata,
    "findings": _findings,
    "risk": _risk,
    "risk_label": _risk_label,
    "ml_risk": _ml("score"),
    "ml_risk_label": _ml_risk_label,
    "ml_outlier": _ml("outlier"),
    "ml_drift": _ml("drift"),
}
# What the scanners found: content and response rules that read these need texts scanned.
SCAN_KEYS = frozenset({"findings", "risk", "risk_label", "custom"})
# A prediction's ML risk is known once the model answered: response rules only.
ML_KEYS = frozenset({"ml_risk", "ml_risk_label", "ml_outlier", "ml_drift"})
ACCESS_KEYS = frozenset(_FACTORIES) - SCAN_KEYS - ML_KEYS
CONTENT_KEYS = SCAN_KEYS
RESPONSE_KEYS = SCAN_KEYS | ML_KEYS


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    predicate: Predicate
    # Finding-kind globs a redact rule hides: those its condition matched on.
    redact_kinds: tuple[str, ...]
    # It cannot hold without a finding, so a request where nothing was found skips it.
    needs_findings: bool = False


def compile_condition(when: dict[str, Any], custom_kind: str | None) -> CompiledCondition:
    """Build the predicate; `custom_kind` is the finding kind of the rule's own custom patterns."""
    parts: list[Predicate] = []
    redact_kinds: list[str] = []
    needs_findings = False
    for key, spec in when.items():
        if key == "custom":
            assert custom_kind is not None
            parts.append(_custom_findings(custom_kind, spec))
            redact_kinds.append(custom_kind)
            needs_findings = needs_findings or _least(spec) >= 1
            continue
        parts.append(_FACTORIES[key](spec))
        if key == "findings":
            redact_kinds.extend(spec["kinds"])
            needs_findings = needs_findings or _least(spec) >= 1
    if not parts:
        return CompiledCondition(lambda _: True, ())
    if len(parts) == 1:
        return CompiledCondition(parts[0], tuple(redact_kinds), needs_findings)
    return CompiledCondition(
        lambda inp: all(p(inp) for p in parts), tuple(redact_kinds), needs_findings
    )
