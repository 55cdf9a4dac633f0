"""Streaming guard core: scan a text stream in windows so matches split across chunks are caught."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, NamedTuple

from proxy.scanners import Finding, Scanner, scan_text
from proxy.scanners.holdback import window_hold_rule
from proxy.scanners.prefilter import prefilter

if TYPE_CHECKING:
    from proxy.redact import Redactor

# Left context kept from already-emitted text so context-dependent detectors ("SSN 123456789")
# still see the words before a number that starts right after a cut.
LEFT_CONTEXT = 64


class WindowResult(NamedTuple):
    """Text safe to send now (redacted if a redactor was given) and the findings it settled.

    A NamedTuple: one is made per streamed delta (see `proxy.formats.stream_common.Located`).
    """

    emit: str
    findings: Sequence[Finding] = ()


_NOTHING: Final = WindowResult("")


class StreamWindow:
    """Hold back the tail of a stream where a match could still be growing; emit and report
    the rest.

    What is held is decided per scanner (`holdback.hold_rule`): the trailing word or number
    for the default detectors, `max_match_len` characters for the others, never more than
    `hold_back`. Ordinary prose is released as soon as each word ends.

    Correctness: a match that could still grow is never emitted in part; a match crossing
    the cut moves the cut back to its start; matches end before the cut with the character
    after them seen. Findings carry absolute offsets in the stream.

    Cost: a scan runs when at least a quarter as many characters can be released as stay
    held (or `step` of them), over `LEFT_CONTEXT` plus the pending text, so the work is at
    most `LEFT_CONTEXT` per delta plus a few times the stream's length: never the accumulated
    text per delta. It is skipped when the scanners' pre-check (`prefilter`) shows that no
    finding can lie in the pending text: only such findings are ever reported or move the
    cut. Findings longer than `hold_back` (document-level classifiers) cannot be held back;
    they are reported once per kind and never delay the stream.
    """

    def __init__(
        self,
        scanners: Iterable[Scanner],
        hold_back: int,
        *,
        redactor: Redactor | None = None,
        step: int | None = None,
    ) -> None:
        if hold_back < 0:
            raise ValueError("hold_back must be >= 0")
        self._scanners = tuple(scanners)
        self._hold_back = hold_back
        self._hold_from = window_hold_rule(self._scanners)
        self._may_match = prefilter(self._scanners)
        self._step = step if step is not None else max(16, hold_back // 4)
        self._redactor = redactor
        self.restart()

    def restart(self) -> None:
        """Start over, as a new window: what follows is scanned apart from what came before."""
        self._pending = ""  # not yet emitted; starts at absolute offset self.position
        self.position = 0  # absolute offset of the first character not yet emitted
        self._context = ""  # raw tail of emitted text, for left context only
        self._reported_long: set[str] = set()
        self._finished = False

    def feed(self, delta: str) -> WindowResult:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        pending = self._pending = self._pending + delta
        # How much of the pending text no match still in progress can reach back into.
        cut = max(self._hold_from(pending), len(pending) - self._hold_back)
        held = len(pending) - cut
        # Scan only when it releases enough to pay for itself (see Cost above).
        if cut <= 0 or (4 * cut < held and cut < self._step):
            return _NOTHING
        return self._advance(cut, final=False)

    def finish(self) -> WindowResult:
        self._finished = True
        return self._advance(len(self._pending), final=True)

    def _advance(self, cut: int, *, final: bool) -> WindowResult:
        if self._may_match is not None and self._may_match(self._pending) is None:
            # Nothing can be found: the text up to `cut` goes as it is.
            emit = self._pending[:cut]
            self._context = (self._context + emit)[-LEFT_CONTEXT:]
            self._pending = self._pending[cut:]
            self.position += cut
            return WindowResult(emit)
        window = self._context + self._pending
        offset = len(self._context)  # window index of self._pending[0]
        settled: list[Finding] = []
        findings = scan_text(window, self._scanners) if window else []
        for finding in findings:
            start, end = finding.start - offset, finding.end - offset
            if start < 0:
                continue  # began in emitted text: reported by the scan that emitted it
            if end - start > self._hold_back and not final:
                if finding.kind not in self._reported_long:
                    self._reported_long.add(finding.kind)
                    settled.append(self._absolute(finding, start, end))
                continue
            if start < cut < end:
                cut = start  # crosses the cut: keep it whole for the next scan
        for finding in findings:
            start, end = finding.start - offset, finding.end - offset
            if 0 <= start and end <= cut and (final or end - start <= self._hold_back):
                if final and end - start > self._hold_back and finding.kind in self._reported_long:
                    continue
                settled.append(self._absolute(finding, start, end))
        emit_raw = self._pending[:cut]
        emit = emit_raw
        if self._redactor is not None and emit_raw:
            local = [
                Finding(f.kind, f.start - self.position, f.end - self.position, f.score)
                for f in settled
                if f.start >= self.position and f.end <= self.position + cut
            ]
            emit = self._redactor.redact(emit_raw, local)
        self._context = (self._context + emit_raw)[-LEFT_CONTEXT:]
        self._pending = self._pending[cut:]
        self.position += cut
        settled.sort(key=lambda f: (f.start, f.end, f.kind))
        return WindowResult(emit, settled)

    def _absolute(self, finding: Finding, start: int, end: int) -> Finding:
        return Finding(finding.kind, start + self.position, end + self.position, finding.score)
