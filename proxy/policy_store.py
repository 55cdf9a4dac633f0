"""PolicyStore: the live PolicySet; compile, swap atomically, keep the last good set on errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.policy import PolicyError, PolicyProblem, PolicySet, compile_directory

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    changed: bool
    version: str
    problems: tuple[PolicyProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def fingerprint(directory: Path) -> Fingerprint:
    """Names, sizes and mtimes: cheap enough to poll every second on every worker."""
    entries = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # removed between glob and stat; the next poll sees the final state
        entries.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


class PolicyStore:
    """Holds the active set; readers take `store.active` once per request and keep it.

    Assigning one attribute is atomic under asyncio, so a request sees either the old set
    or the new one, never a mix.
    """

    def __init__(
        self,
        directory: Path,
        compile_options: dict[str, Any],
        on_reload: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        self.directory = directory
        self.compile_options = compile_options
        self.on_reload = on_reload
        self._fingerprint: Fingerprint = ()
        self.active: PolicySet = self._compile()  # startup: a bad set is an error, not a default
        self.loaded_at = time.time()
        self.last_error: tuple[PolicyProblem, ...] = ()
        self.last_error_at: float | None = None
        self._lock = asyncio.Lock()

    def _compile(self) -> PolicySet:
        self._fingerprint = fingerprint(self.directory)
        return compile_directory(self.directory, **self.compile_options)

    async def reload(self) -> ReloadResult:
        """Compile the folder off the event loop; swap only a set that compiled completely."""
        async with self._lock:
            try:
                candidate = await asyncio.to_thread(self._compile)
            except PolicyError as exc:
                self.last_error = tuple(exc.problems)
                self.last_error_at = time.time()
                log.error(
                    "policy reload failed; keeping the active set",
                    extra={"fields": {"problems": [str(p) for p in exc.problems]}},
                )
                result = ReloadResult(False, self.active.version, tuple(exc.problems))
            else:
                changed = candidate.version != self.active.version
                self.active = candidate
                self.loaded_at = time.time()
                self.last_error = ()
                if changed:
                    log.info("policy set loaded", extra={"fields": {"version": candidate.version}})
                result = ReloadResult(changed, candidate.version)
        if self.on_reload is not None:
            self.on_reload(result)
        return result

    async def watch(self, interval: float) -> None:
        """Poll for edits; runs until cancelled (inside the app's cleanup context)."""
        while True:
            await asyncio.sleep(interval)
            try:
                current = await asyncio.to_thread(fingerprint, self.directory)
            except OSError as exc:
                log.warning("cannot read the policy folder: %s", exc)
                continue
            if current != self._fingerprint:
                await self.reload()
