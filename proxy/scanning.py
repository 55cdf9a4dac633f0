"""Scanning: which scanners read which texts, with what risk; the ScanPrompt stage."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxy.exchange import Exchange
from proxy.formats import Call
from proxy.formats.segments import Segment, TooDeeplyNested
from proxy.formats.texts import TEXT_READERS
from proxy.policy import PolicySet
from proxy.policy.conditions import glob_matcher
from proxy.policy.evaluate import Scanned
from proxy.policy.model import Phase
from proxy.replies import LocalReply, bad_request
from proxy.risk import Risk, RiskThresholds, assess
from proxy.scanners import SCANNERS, Finding, Scanner, resolve_overlaps
from proxy.scanners.custom import compile_custom_rule

_CHOSEN_CACHE = 16

if TYPE_CHECKING:
    from proxy.scan_offload import ScanOffload

# Told how long each scanner spent on one request's texts (by scanner name).
ScannerTimer = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class TextScan:
    """The findings of every segment (offsets are within each segment's own text), and all of
    them in one list (read by the decision, the metrics and the audit row alike)."""

    segments: Sequence[Segment]
    findings: Sequence[Sequence[Finding]]
    risk: Risk
    all_findings: Sequence[Finding]

    def as_scanned(self) -> Scanned:
        return Scanned(self.all_findings, self.risk.score, self.risk.label)


class TimedScanner:
    """A scanner that adds up the time it spends, for a caller that reports it later."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.name = scanner.name
        self.kinds = scanner.kinds
        self.max_match_len = scanner.max_match_len
        self.seconds = 0.0

    def scan(self, text: str) -> list[Finding]:
        started = time.perf_counter()
        try:
            return self.scanner.scan(text)
        finally:
            self.seconds += time.perf_counter() - started


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
        offload: ScanOffload | None = None,
    ) -> None:
        self.scanners = tuple(SCANNERS.values()) if scanners is None else tuple(scanners)
        self.thresholds = thresholds or RiskThresholds()
        self.timer = timer
        self.offload = offload
        # (policy version, phase) -> the scanners that phase needs.
        self._chosen: dict[tuple[str, Phase], tuple[Scanner, ...]] = {}
        self._no_risk = assess((), self.thresholds)

    def scanners_for(
        self, policy: PolicySet | None, phase: Phase | None = None
    ) -> tuple[Scanner, ...]:
        """The scanners a phase's rules need: those that can produce a kind some rule reads.

        Without a phase (dry runs, the decision API), every scanner runs, custom ones included.
        """
        if policy is None or phase is None:
            return self._every(policy)
        # Asked on every scan of every request: one lookup once the set's answer is known.
        key = (policy.version, phase)
        chosen = self._chosen.get(key)
        if chosen is None:
            every = self._every(policy)
            kinds = policy.finding_kinds(phase)
            if kinds is None:
                chosen = every
            else:
                wanted = glob_matcher(kinds) if kinds else None
                chosen = tuple(
                    s for s in every if wanted is not None and any(wanted(k) for k in s.kinds)
                )
            if len(self._chosen) >= _CHOSEN_CACHE:
                self._chosen.clear()  # policy reloads only; a few versions at most
            self._chosen[key] = chosen
        return chosen

    def _every(self, policy: PolicySet | None) -> tuple[Scanner, ...]:
        if policy is not None and policy.custom_scanners:
            return self.scanners + tuple(policy.custom_scanners)
        return self.scanners

    def scan_segments(
        self, policy: PolicySet | None, segments: Sequence[Segment], phase: Phase | None = None
    ) -> TextScan:
        return self._scan_here(self.scanners_for(policy, phase), segments)

    def _scan_here(self, scanners: Sequence[Scanner], segments: Sequence[Segment]) -> TextScan:
        per_segment, spent = find_in_segments(scanners, segments)
        return self._result(scanners, segments, per_segment, spent)

    async def scan_segments_off_loop(
        self, policy: PolicySet | None, segments: Sequence[Segment], phase: Phase | None = None
    ) -> TextScan:
        """`scan_segments`, in a scanning process when the texts are big (see scan_offload)."""
        scanners = self.scanners_for(policy, phase)
        offload = self.offload
        if offload is None or not scanners or not offload.wanted(segments):
            return self._scan_here(scanners, segments)
        specs = policy.custom_specs if policy is not None else {}
        found = await offload.find(scanners, segments, specs)
        if found is None:  # a scanner the process cannot rebuild: scanned here
            return self._scan_here(scanners, segments)
        return self._result(scanners, segments, *found)

    def _result(
        self,
        scanners: Sequence[Scanner],
        segments: Sequence[Segment],
        per_segment: list[list[Finding]],
        spent: list[float],
    ) -> TextScan:
        timer = self.timer
        if timer is not None and segments and scanners:
            for scanner, seconds in zip(scanners, spent, strict=True):
                timer(scanner.name, seconds)
        if len(per_segment) == 1:
            flat = per_segment[0]
        else:
            flat = [f for findings in per_segment for f in findings]
        # Nothing found is the common case: its risk is the same for every request.
        risk = assess(flat, self.thresholds) if flat else self._no_risk
        return TextScan(segments, per_segment, risk, flat)

    def scan(self, policy: PolicySet, texts: Sequence[str]) -> Scanned:
        """For dry runs and policy tests: plain texts, no paths."""
        segments = [Segment((), text) for text in texts if text]
        return self.scan_segments(policy, segments).as_scanned()

    @staticmethod
    def request_texts(format_name: str, call: Call) -> list[str]:
        reader = TEXT_READERS[format_name]
        return [s.text for s in reader.request_segments(call.operation, call.payload)]


def find_in_segments(
    scanners: Sequence[Scanner], segments: Sequence[Segment]
) -> tuple[list[list[Finding]], list[float]]:
    """Every scanner over every segment: each segment's findings (overlaps resolved) and each
    scanner's seconds. Pure; scanning processes run it too."""
    spent = [0.0] * len(scanners)
    found: list[list[Finding]] = [[] for _ in segments]
    clock = time.perf_counter
    for indexes, text in _scan_units(segments):
        alone = found[indexes[0]] if len(indexes) == 1 else None
        # One clock reading between two scanners ends one's time and starts the next's.
        before = clock()
        for i, scanner in enumerate(scanners):
            unit_findings = scanner.scan(text)
            after = clock()
            spent[i] += after - before
            before = after
            if not unit_findings:
                continue
            if alone is not None:
                alone.extend(unit_findings)
            else:
                _spread(unit_findings, indexes, segments, found)
    # Overlaps need two findings; most texts have none.
    return [resolve_overlaps(f) if len(f) > 1 else f for f in found], spent


# Object keys are scanned together, one per line: a request may have hundreds (tool schemas,
# JSON payloads), and each scanner call has a fixed cost far above that of a short key.
_KEY_SEPARATOR = "\n"


def _scan_units(segments: Sequence[Segment]) -> list[tuple[list[int], str]]:
    """(segment indexes, text to scan): each value alone, all keys joined in one text."""
    units: list[tuple[list[int], str]] = []
    keys: list[int] = []
    for i, segment in enumerate(segments):
        if segment.is_key:
            keys.append(i)
        else:
            units.append(([i], segment.text))
    if len(keys) == 1:
        units.append((keys, segments[keys[0]].text))
    elif keys:
        units.append((keys, _KEY_SEPARATOR.join(segments[i].text for i in keys)))
    return units


def _spread(
    findings: list[Finding],
    indexes: list[int],
    segments: Sequence[Segment],
    found: list[list[Finding]],
) -> None:
    """Findings over joined keys, back to the key each starts in, clipped to that key."""
    starts, offset = [], 0
    for i in indexes:
        starts.append(offset)
        offset += len(segments[i].text) + len(_KEY_SEPARATOR)
    for finding in findings:
        at = bisect.bisect_right(starts, finding.start) - 1
        base, length = starts[at], len(segments[indexes[at]].text)
        start, end = finding.start - base, min(finding.end - base, length)
        if end > start:
            found[indexes[at]].append(Finding(finding.kind, start, end, finding.score))


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
        try:
            segments = exchange.prompt_segments()
        except TooDeeplyNested as exc:
            return bad_request(str(exc), code="too_deeply_nested")
        exchange.prompt_scan = await self.scanning.scan_segments_off_loop(
            exchange.policy, segments, "content"
        )
        return None
