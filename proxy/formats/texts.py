"""Where text comes from, by the format named on a route: request and response text, usage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from proxy.formats import anthropic, generic, kserve, openai
from proxy.formats.segments import Segment, Usage

SegmentReader = Callable[[str, Any], list[Segment]]


@dataclass(frozen=True, slots=True)
class TextReader:
    """A format's text functions; each takes `(operation, payload)` and is pure."""

    request_segments: SegmentReader
    response_segments: SegmentReader
    usage: Callable[[str, Any], Usage | None]


# Keyed like `formats.FORMATS`.
TEXT_READERS: Final[dict[str, TextReader]] = {
    "openai": TextReader(openai.request_segments, openai.response_segments, openai.usage),
    "anthropic": TextReader(
        anthropic.request_segments, anthropic.response_segments, anthropic.usage
    ),
    "kserve": TextReader(kserve.request_segments, kserve.response_segments, kserve.usage),
    "json": TextReader(generic.request_segments, generic.response_segments, generic.usage),
}
