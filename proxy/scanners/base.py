"""The value every scanner returns and the protocol every scanner implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection: what kind, where (`text[start:end]`), and how sure (0–1).

    Deliberately holds no matched text, so a finding can be logged, audited or put in a
    metric label without leaking the value it points at.
    """

    kind: str
    start: int
    end: int
    score: float

    def __reduce__(self) -> tuple[type[Finding], tuple[str, int, int, float]]:
        # Findings come back from the scanning process pickled. Rebuilt through __init__:
        # pickle's default restores a compiled class attribute by attribute, which a frozen
        # dataclass refuses.
        return (Finding, (self.kind, self.start, self.end, self.score))


class Scanner(Protocol):
    """A pure, synchronous detector, compiled once and safe to share between requests.

    Contract: `scan` does no I/O, keeps no state between calls, returns findings whose kinds are
    in `kinds` and whose spans are at most `max_match_len` characters long (the streaming window
    relies on it), and runs in time linear in `len(text)`.
    """

    name: str
    kinds: frozenset[str]
    max_match_len: int

    def scan(self, text: str) -> list[Finding]: ...
