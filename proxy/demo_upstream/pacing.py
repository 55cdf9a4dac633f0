"""Per-request pacing: how fast the echo model streams and how long it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Pacing:
    """How the echo model paces a stream and how long its answer is (None: the echo's length)."""

    chunk_delay: float = 0.0
    answer_words: int | None = None
    # Stream the answer in pieces of this many characters instead of word by word, so that
    # a word (a placeholder, a secret) arrives split across events.
    chunk_chars: int | None = None


# Set by an outer middleware to slow streams down or lengthen answers for one request.
PACING: Final = web.RequestKey("warden_demo_pacing", Pacing)
_NO_PACING: Final = Pacing()


def request_pacing(request: web.Request) -> Pacing:
    return request[PACING] if PACING in request else _NO_PACING
