"""Severity and status of what people triage (incidents, alerts): open → acknowledged → resolved."""

from __future__ import annotations

from typing import Final, Literal

from proxy.policy.model import SEVERITY_RANK

Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "acknowledged", "resolved"]
SEVERITIES: Final[tuple[Severity, ...]] = ("low", "medium", "high", "critical")
STATUSES: Final[tuple[Status, ...]] = ("open", "acknowledged", "resolved")

# Work only moves forward; asking for the status something already has changes nothing.
# A resolved item stays resolved: a recurrence opens a new one, so each has one history.
_ALLOWED_FROM: Final[dict[str, tuple[Status, ...]]] = {
    "open": ("open",),
    "acknowledged": ("open", "acknowledged"),
    "resolved": ("open", "acknowledged", "resolved"),
}


def allowed_from(target: Status) -> tuple[Status, ...]:
    """The statuses from which `target` may be reached."""
    return _ALLOWED_FROM[target]


def transition_error(current: str, target: Status) -> str | None:
    """Why `current` cannot move to `target`, or None when it can."""
    if current in _ALLOWED_FROM[target]:
        return None
    return f"cannot move from '{current}' to '{target}': status goes open → acknowledged → resolved"


def parse_severity(value: object) -> Severity | None:
    """A severity in any letter case ("High", "high"), or None when it is not one."""
    if not isinstance(value, str):
        return None
    lowered = value.strip().lower()
    for severity in SEVERITIES:
        if severity == lowered:
            return severity
    return None


def severity_rank(severity: str | None) -> int:
    """low 0 … critical 3; -1 for anything else (no severity at all)."""
    return SEVERITY_RANK.get(severity or "", -1)
