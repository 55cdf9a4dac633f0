"""Combine findings into one 0–1 risk score and a label (normal, suspicious, risky)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from proxy.scanners import Finding

NORMAL, SUSPICIOUS, RISKY = "normal", "suspicious", "risky"

# How much one certain finding of a kind is worth on its own. A leaked credential or an
# injection attempt is risky by itself; an IP address in a log line is not even suspicious.
# Longest matching prefix wins, so "secret.private_key" can outrank "secret.".
KIND_WEIGHTS: Final[Mapping[str, float]] = {
    "secret.": 0.9,
    "secret.private_key": 0.97,
    "secret.generic": 0.75,
    "injection.": 0.9,
    "pii.credit_card": 0.7,
    "pii.us_ssn": 0.7,
    "pii.iban": 0.6,
    "pii.phone": 0.3,
    "pii.email": 0.3,
    "pii.ip_address": 0.15,
    "custom.": 0.6,
}
_DEFAULT_WEIGHT: Final = 0.3


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    suspicious: float = 0.4
    risky: float = 0.75

    def __post_init__(self) -> None:
        if not 0.0 <= self.suspicious <= self.risky <= 1.0:
            raise ValueError("risk thresholds must satisfy 0 <= suspicious <= risky <= 1")


@dataclass(frozen=True, slots=True)
class Risk:
    score: float
    label: str


def kind_weight(kind: str, weights: Mapping[str, float] = KIND_WEIGHTS) -> float:
    best, best_length = _DEFAULT_WEIGHT, -1
    for prefix, weight in weights.items():
        if kind.startswith(prefix) and len(prefix) > best_length:
            best, best_length = weight, len(prefix)
    return best


def assess(
    findings: Iterable[Finding],
    thresholds: RiskThresholds = RiskThresholds(),  # noqa: B008 - frozen, so sharing is safe
    weights: Mapping[str, float] = KIND_WEIGHTS,
) -> Risk:
    """Noisy-OR over kinds: each kind counts once, at its most confident finding.

    Counting each kind once keeps fifty e-mail addresses in a CSV from adding up to "risky",
    while two different kinds of evidence do reinforce each other.
    """
    strongest: dict[str, float] = {}
    for finding in findings:
        score = min(1.0, max(0.0, finding.score))
        if score > strongest.get(finding.kind, 0.0):
            strongest[finding.kind] = score
    survival = 1.0
    for kind, score in strongest.items():
        survival *= 1.0 - kind_weight(kind, weights) * score
    total = round(1.0 - survival, 6)
    if total >= thresholds.risky:
        return Risk(total, RISKY)
    if total >= thresholds.suspicious:
        return Risk(total, SUSPICIOUS)
    return Risk(total, NORMAL)
