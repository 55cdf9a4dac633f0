"""Big scans in a scanning process, so the event loop keeps serving small requests meanwhile.

Scanning is CPU work: a multi-megabyte body takes a second, during which an event loop that
scanned it inline answers no one. A worker thread is not enough: parts of the scanners hold
the GIL for tens of milliseconds at a time on such texts (bench/big_bodies.py measured small
requests' p99 at 350 ms that way). Above a size threshold the texts go to a small pool of
processes instead; only the texts travel, and findings come back. The scanners are pure, so
a process rebuilds them from their names (and a policy's custom patterns from their specs).
The first big scan starts the process (about a second); big scans wait for each other there,
small ones never do.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import orjson

from proxy.formats.segments import Segment
from proxy.scanners import SCANNERS, Finding, Scanner
from proxy.scanning import compile_custom, find_in_segments

log = logging.getLogger(__name__)

Found = tuple[list[list[Finding]], list[float]]


class ScanOffload:
    """Where scans of more than `threshold` characters run; `close()` it at shutdown."""

    def __init__(self, threshold: int, processes: int) -> None:
        self.threshold = threshold
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def wanted(self, segments: Sequence[Segment]) -> bool:
        if self.threshold <= 0:
            return False
        total = 0
        for segment in segments:
            total += len(segment.text)
            if total > self.threshold:
                return True
        return False

    async def find(
        self,
        scanners: Sequence[Scanner],
        segments: Sequence[Segment],
        custom_specs: Mapping[str, Any],
    ) -> Found | None:
        """`find_in_segments` in a scanning process; None when a scanner is neither a default
        one nor a policy's custom one, so it cannot be rebuilt there, or the process died: the
        caller then scans inline."""
        names = [s.name for s in scanners]
        custom = {}
        for scanner in scanners:
            if SCANNERS.get(scanner.name) is scanner:
                continue
            rule_id = scanner.name.removeprefix("custom.")
            if not scanner.name.startswith("custom.") or rule_id not in custom_specs:
                return None
            custom[rule_id] = custom_specs[rule_id]
        texts = [s.text for s in segments]
        keys = [s.is_key for s in segments]
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), _find, texts, keys, names, custom)
        except BrokenProcessPool:
            # The process died (killed, out of memory): a new one next time, this scan here.
            log.warning("scanning process stopped; starting another for the next big scan")
            self._pool = None
            return None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fresh interpreter, not a copy of this one with its loop and threads.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            # A scan still running finishes on its own; shutdown does not wait for it.
            self._pool.shutdown(wait=False, cancel_futures=True)


# In the scanning process: custom scanners compiled once per (rule id, spec).
_COMPILED: dict[tuple[str, bytes], Scanner] = {}


def _find(texts: list[str], keys: list[bool], names: list[str], custom: dict[str, Any]) -> Found:
    scanners: list[Scanner] = []
    for name in names:
        if name in SCANNERS:
            scanners.append(SCANNERS[name])
            continue
        rule_id = name.removeprefix("custom.")
        key = (rule_id, orjson.dumps(custom[rule_id], option=orjson.OPT_SORT_KEYS))
        if key not in _COMPILED:
            _COMPILED[key] = compile_custom(rule_id, custom[rule_id])
        scanners.append(_COMPILED[key])
    segments = [Segment((), text, None, key) for text, key in zip(texts, keys, strict=True)]
    return find_in_segments(scanners, segments)
