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
    ordered = sorted(findings, key=_by_start_longest_first)
    if len(ordered) < 2:
        return ordered
    kept: list[Finding] = []
    dropped: set[int] = set()  # ids of findings in `kept` that a later one displaced
    # The exclusive findings kept so far that end after the current start: in start order,
    # an earlier one that ends by then can clash with nothing that follows. So this list
    # stays short (kept exclusive spans never overlap), and dense text is not quadratic.
    live: list[tuple[tuple[int, int], Finding]] = []
    for finding in ordered:
        priority = _priority(finding.kind)
        if priority is None:
            kept.append(finding)
            continue
        start, end = finding.start, finding.end
        live = [entry for entry in live if entry[1].end > start]
        rank = (priority, end - start)
        clashes = [entry for entry in live if entry[1].start < end]
        if any(other_rank >= rank for other_rank, _ in clashes):
            continue
        for entry in clashes:
            live.remove(entry)
            dropped.add(id(entry[1]))
        live.append((rank, finding))
        kept.append(finding)
    if dropped:
        kept = [finding for finding in kept if id(finding) not in dropped]
    kept.sort(key=_by_span)
    return kept


def _by_start_longest_first(finding: Finding) -> tuple[int, int, str]:
    return finding.start, -finding.end, finding.kind


def _by_span(finding: Finding) -> tuple[int, int, str]:
    return finding.start, finding.end, finding.kind


def scan_text(text: str, scanners: Iterable[Scanner] | None = None) -> list[Finding]:
    """Run `scanners` (default: all of `SCANNERS`) over `text`; sorted, overlaps resolved."""
    chosen = SCANNERS.values() if scanners is None else scanners
    findings: list[Finding] = []
    for scanner in chosen:
        findings.extend(scanner.scan(text))
    return resolve_overlaps(findings)
