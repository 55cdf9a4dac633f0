"""Streaming guard core: scan a text stream in windows so matches split across chunks are caught."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxy.scanners import Finding, Scanner, scan_text

if TYPE_CHECKING:
    from proxy.redact import Redactor

# Left context kept from already-emitted text so context-dependent detectors ("SSN 123456789")
# still see the words before a number that starts right after a cut.
LEFT_CONTEXT = 64


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Text safe to send now (redacted if a redactor was given) and the findings it settled."""

    emit: str
    findings: list[Finding] = field(default_factory=list)


class StreamWindow:
    """Hold back the last `hold_back` characters of a stream; emit and report the rest.

    Correctness: every match no longer than `hold_back` that starts before the emitted cut has
    all its characters in the scanned window, so it is seen whole; a match crossing the cut
    moves the cut back to its start. Findings carry absolute offsets in the stream.

    Cost: a scan runs only once `step` new characters are pending, over at most
    `LEFT_CONTEXT + hold_back + step + len(delta)` characters, so the whole stream is scanned
    about `1 + hold_back / step` times: linear in its length, never the accumulated text per
    delta. Findings longer than `hold_back` (document-level classifiers) cannot be held back;
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
        self._step = step if step is not None else max(16, hold_back // 4)
        self._redactor = redactor
        self._pending = ""  # not yet emitted; starts at absolute offset self._emitted
        self._emitted = 0
        self._context = ""  # raw tail of emitted text, for left context only
        self._reported_long: set[str] = set()
        self._finished = False

    @property
    def position(self) -> int:
        """Absolute offset of the first character not yet emitted."""
        return self._emitted

    def feed(self, delta: str) -> WindowResult:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._pending += delta
        if len(self._pending) < self._hold_back + self._step:
            return WindowResult("")
        return self._advance(final=False)

    def finish(self) -> WindowResult:
        self._finished = True
        return self._advance(final=True)

    def _advance(self, *, final: bool) -> WindowResult:
        window = self._context + self._pending
        offset = len(self._context)  # window index of self._pending[0]
        cut = len(self._pending) if final else len(self._pending) - self._hold_back
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
                Finding(f.kind, f.start - self._emitted, f.end - self._emitted, f.score)
                for f in settled
                if f.start >= self._emitted and f.end <= self._emitted + cut
            ]
            emit = self._redactor.redact(emit_raw, local)
        self._context = (self._context + emit_raw)[-LEFT_CONTEXT:]
        self._pending = self._pending[cut:]
        self._emitted += cut
        settled.sort(key=lambda f: (f.start, f.end, f.kind))
        return WindowResult(emit, settled)

    def _absolute(self, finding: Finding, start: int, end: int) -> Finding:
        return Finding(finding.kind, start + self._emitted, end + self._emitted, finding.score)
