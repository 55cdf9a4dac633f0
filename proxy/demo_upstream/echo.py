"""The echo model's answer: the prompt's words, lengthened by pacing and cut at a limit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from proxy.demo_upstream.pacing import request_pacing

ECHO_MODEL: Final = "echo-1"
# A "word" keeps its leading whitespace so that joining the words reproduces the text exactly;
# words are also the unit the demo counts tokens in (prompt and completion alike).
_WORD: Final = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class Answer:
    words: list[str]
    truncated: bool

    @property
    def text(self) -> str:
        return "".join(self.words)


def echo_answer(request: web.Request, prompt: str, limit: int | None) -> Answer:
    words: list[str] = _WORD.findall(prompt)
    wanted = request_pacing(request).answer_words
    if wanted is not None:
        source = words or ["echo"]
        cycled = [source[i % len(source)] for i in range(wanted)]
        # A repeat starts with a bare word; give it a separator so words do not fuse.
        words = [w if i == 0 or w[:1].isspace() else f" {w}" for i, w in enumerate(cycled)]
    truncated = limit is not None and len(words) > limit
    if truncated:
        words = words[:limit]
    size = request_pacing(request).chunk_chars
    if size:
        text = "".join(words)
        words = [text[i : i + size] for i in range(0, len(text), size)]
    return Answer(words, truncated=truncated)
