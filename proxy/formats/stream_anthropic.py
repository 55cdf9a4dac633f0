"""Anthropic streamed events: message_start, content blocks and their deltas, message_delta."""

from __future__ import annotations

from typing import Any, Final

from proxy.formats.anthropic import STRUCTURE, usage
from proxy.formats.segments import VALUES_ONLY, JsonPath, Prune, Segment, walk_strings
from proxy.formats.stream_common import ChannelKey, Located

Found = list[tuple[ChannelKey, JsonPath, bool]]

# delta type -> the field holding its text. Each content block is one channel, whatever it is:
# text, thinking, or the raw JSON fragments of a tool_use input.
_DELTA_TEXT: Final = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
}
_BLOCK_TEXT: Final = frozenset({"text", "thinking"})


def locate(data: Any) -> Located:
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(kind, str):
        return Located(_walk(data, (), ("event",), STRUCTURE, snapshot=True))
    if kind == "content_block_delta":
        deltas = _delta(data)
        delta = data.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
            return Located(deltas, json_channels=frozenset(channel for channel, _, _ in deltas))
        return Located(deltas)
    if kind == "content_block_start":
        index = _index(data.get("index"))
        block = _block(data.get("content_block"), ("content_block",), index)
        return Located(block, whole_values=True)
    if kind == "message_start":
        message = data.get("message")
        if not isinstance(message, dict):
            return Located()
        found: Found = []
        content = message.get("content")
        for pos, block in enumerate(content if isinstance(content, list) else []):
            found.extend(_block(block, ("message", "content", pos), pos))
        # Input tokens arrive here, output tokens (cumulative) in message_delta.
        return Located(found, usage("messages", message), whole_values=True)
    if kind == "message_delta":
        return Located(usage=usage("messages", data))
    if kind == "ping":
        return Located(keepalive=True)
    if kind in ("message_stop", "content_block_stop"):
        return Located(done=kind == "message_stop")
    # `error` and any event type added later: each string scanned whole.
    found = _walk(data, (), ("event", kind), STRUCTURE, snapshot=True)
    return Located(found, done=kind == "error")


def _delta(data: dict[str, Any]) -> Found:
    index = _index(data.get("index"))
    delta = data.get("delta")
    if not isinstance(delta, dict):
        return []
    kind = delta.get("type")
    key = _DELTA_TEXT.get(kind) if isinstance(kind, str) else None
    if key is not None:
        ok = isinstance(delta.get(key), str)
        return [(("content", index), ("delta", key), False)] if ok else []
    if kind == "signature_delta":
        return []
    # citations_delta (cited text quoted from a document) and delta types added later.
    return _walk(delta, ("delta",), ("content", index), STRUCTURE, snapshot=False)


def _block(block: Any, path: JsonPath, index: int) -> Found:
    """A block as it starts (usually empty): text/thinking on the block's channel, a tool_use
    `input` walked as free-form JSON, server tool results (search titles, ...) by their path."""
    if not isinstance(block, dict) or block.get("type") in STRUCTURE.types:
        return []
    found: Found = []
    channel: ChannelKey = ("content", index)
    for key, value in block.items():
        if key in _BLOCK_TEXT and isinstance(value, str):
            found.append((channel, (*path, key), False))
        elif key == "input":
            found.extend(_walk(value, (*path, key), (*channel, key), VALUES_ONLY, snapshot=False))
        elif key not in STRUCTURE.keys:
            found.extend(_walk(value, (*path, key), (*channel, key), STRUCTURE, snapshot=False))
    return found


def _walk(value: Any, path: JsonPath, channel: ChannelKey, prune: Prune, snapshot: bool) -> Found:
    segments: list[Segment] = []
    walk_strings(segments, value, (), None, prune)
    return [((*channel, *s.path), (*path, *s.path), snapshot) for s in segments]


def _index(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
