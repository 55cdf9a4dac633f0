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


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Sort findings; where PII/secret spans overlap keep the higher-priority, longer one.

    Injection and custom-rule findings answer other questions, so they are never dropped.
    """
    ordered = sorted(findings, key=_by_start_longest_first)
    if len(ordered) < 2:
        return ordered
    kept: list[Finding] = []
    dropped: set[int] = set()  # ids of findings in `kept` that a later one displaced
    # In start order, a kept span that ends by the current start can clash with nothing that
    # follows, and kept spans never overlap one another: so at most one of them, the last
    # non-empty one kept, can still clash. One slot, not a list: dense text stays linear.
    held: Finding | None = None
    held_rank = (0, 0)
    for finding in ordered:
        kind = finding.kind
        priority = _SPAN_PRIORITY.get(kind)
        if priority is None:
            if not kind.startswith("secret."):
                kept.append(finding)
                continue
            priority = _SECRET_PRIORITY
        start, end = finding.start, finding.end
        rank = (priority, end - start)
        if held is not None and held.start < end and start < held.end:
            if held_rank >= rank:
                continue
            dropped.add(id(held))
            held = None
        kept.append(finding)
        if end > start:  # an empty span clashes with nothing after it
            held, held_rank = finding, rank
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
