"""Scanning: which scanners read which texts, with what risk; the ScanPrompt stage."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.exchange import Exchange
from proxy.formats import Call
from proxy.formats.segments import Segment, TooDeeplyNested
from proxy.formats.texts import TEXT_READERS
from proxy.policy import PolicySet
from proxy.policy.evaluate import Scanned
from proxy.replies import LocalReply, bad_request
from proxy.risk import Risk, RiskThresholds, assess
from proxy.scanners import SCANNERS, Finding, Scanner, resolve_overlaps
from proxy.scanners.custom import compile_custom_rule

# Told how long each scanner spent on one request's texts (by scanner name).
ScannerTimer = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class TextScan:
    """The findings of every segment (offsets are within each segment's own text)."""

    segments: Sequence[Segment]
    findings: Sequence[Sequence[Finding]]
    risk: Risk

    @property
    def all_findings(self) -> list[Finding]:
        return [f for per_segment in self.findings for f in per_segment]

    def as_scanned(self) -> Scanned:
        return Scanned(self.all_findings, self.risk.score, self.risk.label)


def compile_custom(rule_id: str, spec: dict[str, Any]) -> Scanner:
    """The policy compiler's hook for a rule's `custom:` patterns (RE2, linear time)."""
    return compile_custom_rule(
        rule_id,
        regexes=spec.get("regex", ()),
        keywords=spec.get("keywords", ()),
        case_sensitive=spec.get("case_sensitive", False),
    )


class Scanning:
    """The default scanners plus the active policy's custom ones, and the risk thresholds."""

    def __init__(
        self,
        scanners: Sequence[Scanner] | None = None,
        thresholds: RiskThresholds | None = None,
        *,
        timer: ScannerTimer | None = None,
    ) -> None:
        self.scanners = tuple(SCANNERS.values()) if scanners is None else tuple(scanners)
        self.thresholds = thresholds or RiskThresholds()
        self.timer = timer

    def scanners_for(self, policy: PolicySet | None) -> tuple[Scanner, ...]:
        if policy is None or not policy.custom_scanners:
            return self.scanners
        return self.scanners + tuple(policy.custom_scanners)

    def scan_segments(self, policy: PolicySet | None, segments: Sequence[Segment]) -> TextScan:
        scanners = self.scanners_for(policy)
        spent = [0.0] * len(scanners)
        per_segment = []
        for segment in segments:
            found: list[Finding] = []
            for i, scanner in enumerate(scanners):
                started = time.perf_counter()
                found.extend(scanner.scan(segment.text))
                spent[i] += time.perf_counter() - started
            per_segment.append(resolve_overlaps(found))
        if self.timer is not None and segments:
            for scanner, seconds in zip(scanners, spent, strict=True):
                self.timer(scanner.name, seconds)
        flat = [f for findings in per_segment for f in findings]
        return TextScan(segments, per_segment, assess(flat, self.thresholds))

    def scan(self, policy: PolicySet, texts: Sequence[str]) -> Scanned:
        """For dry runs and policy tests: plain texts, no paths."""
        segments = [Segment((), text) for text in texts if text]
        return self.scan_segments(policy, segments).as_scanned()

    @staticmethod
    def request_texts(format_name: str, call: Call) -> list[str]:
        reader = TEXT_READERS[format_name]
        return [s.text for s in reader.request_segments(call.operation, call.payload)]


class ScanPrompt:
    """Stage 6: find what the model would read. It decides nothing; EnforceContent does."""

    def __init__(self, scanning: Scanning) -> None:
        self.scanning = scanning

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        call, route, policy = exchange.call, exchange.route, exchange.policy
        if call is None or route is None or call.payload is None:
            return None
        if policy is not None and not policy.scans("content"):
            return None
        reader = TEXT_READERS[route.format]
        try:
            segments = reader.request_segments(call.operation, call.payload)
        except TooDeeplyNested as exc:
            return bad_request(str(exc), code="too_deeply_nested")
        exchange.prompt_scan = self.scanning.scan_segments(exchange.policy, segments)
        return None
