"""Risk scanners: the `Finding` value, the `Scanner` protocol and the default scanner set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from proxy.scanners.base import Finding, Scanner
from proxy.scanners.injection import InjectionScanner
from proxy.scanners.pii import PIIScanner
from proxy.scanners.secrets import SecretsScanner

__all__ = ["KNOWN_KINDS", "SCANNERS", "Finding", "Scanner", "scan_text"]

# The default scanners, by the name policies use. Explicit on purpose: no plugin discovery.
SCANNERS: Final[Mapping[str, Scanner]] = {
    "pii": PIIScanner(),
    "secrets": SecretsScanner(),
    "injection": InjectionScanner(),
}

KNOWN_KINDS: Final[frozenset[str]] = frozenset().union(*(s.kinds for s in SCANNERS.values()))

# When spans overlap, the more specific and more damaging reading wins: a 16-digit run inside
# a token is part of the token, not a card; an IBAN's digits are not a phone number.
_SPAN_PRIORITY: Final[dict[str, int]] = {
    "pii.credit_card": 5,
    "pii.iban": 5,
    "pii.us_ssn": 4,
    "pii.email": 3,
    "pii.phone": 2,
    "pii.ip_address": 1,
}
_SECRET_PRIORITY: Final = 10


def _priority(kind: str) -> int | None:
    """Priority among mutually exclusive span readings; None for findings kept regardless."""
    if kind.startswith("secret."):
        return _SECRET_PRIORITY
    return _SPAN_PRIORITY.get(kind)


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Sort findings; where PII/secret spans overlap keep the higher-priority, longer one.

    Injection and custom-rule findings answer other questions, so they are never dropped.
    """
    ordered = sorted(findings, key=lambda f: (f.start, -f.end, f.kind))
    kept: list[Finding] = []
    exclusive: list[Finding] = []
    for finding in ordered:
        priority = _priority(finding.kind)
        if priority is None:
            kept.append(finding)
            continue
        rank = (priority, finding.end - finding.start)
        clashes = [
            other for other in exclusive if other.start < finding.end and finding.start < other.end
        ]
        if any((_priority(o.kind) or 0, o.end - o.start) >= rank for o in clashes):
            continue
        for other in clashes:
            exclusive.remove(other)
            kept.remove(other)
        exclusive.append(finding)
        kept.append(finding)
    kept.sort(key=lambda f: (f.start, f.end, f.kind))
    return kept


def scan_text(text: str, scanners: Iterable[Scanner] | None = None) -> list[Finding]:
    """Run `scanners` (default: all of `SCANNERS`) over `text`; sorted, overlaps resolved."""
    chosen = SCANNERS.values() if scanners is None else scanners
    findings: list[Finding] = []
    for scanner in chosen:
        findings.extend(scanner.scan(text))
    return resolve_overlaps(findings)
