"""Text and usage in streamed (SSE) events, per wire format, and events rebuilt with other text.

A channel key names one growing text: a chat choice's content, one tool call's arguments, a
Responses output part, an Anthropic content block. The guard accumulates texts per channel, so
that a match split across events is still one match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import orjson

from proxy.formats import stream_anthropic, stream_openai
from proxy.formats.rewrite import replace_segments
from proxy.formats.segments import VALUES_ONLY, Segment, Usage, walk_strings
from proxy.formats.stream_common import ChannelKey, Located
from proxy.sse import SseEvent, make_event, serialize_data

__all__ = [
    "RAW_DATA",
    "ChannelKey",
    "StreamDelta",
    "rewrite_delta",
    "rewrite_texts",
    "stream_deltas",
]

# The channel of an event whose data is not JSON: the whole data is the text.
RAW_DATA: Final[ChannelKey] = ("<raw data>",)
_NOT_JSON: Final = object()
_KEEPALIVE_LOCATED: Final = Located(keepalive=True)


# A NamedTuple like `Located`: one per event.
class StreamDelta(NamedTuple):
    """What one event adds.

    `texts`: (channel, text) appended to each channel. `snapshots`: (channel, text) that repeat
    a channel's whole text so far (`response.output_text.done`, `response.completed`, ...).
    A guard must scan snapshots too, since nothing forces them to equal the deltas, and when it
    changed a channel's text it must rewrite the snapshots (`rewrite_delta` does both kinds).
    `usage`: token counts this event reports (merge them: later wins). `done`: the stream's end.
    `json_channels`, `keepalive` and `whole_values`: as in `Located`.
    """

    texts: Sequence[tuple[ChannelKey, str]] = ()
    usage: Usage | None = None
    done: bool = False
    snapshots: Sequence[tuple[ChannelKey, str]] = ()
    json_channels: frozenset[ChannelKey] = frozenset()
    keepalive: bool = False
    whole_values: bool = False
    # For `rewrite_texts`: the event's data as parsed here (this delta's own copy) and where
    # each channel's text is in it: (channel, the object or array holding it, its key or
    # index), the holder None when the text is the whole data. A rewrite then neither parses
    # nor locates again.
    parsed: Any = None
    places: tuple[tuple[ChannelKey, Any, Any], ...] = ()


_KEEPALIVE: Final = StreamDelta(keepalive=True)
_DONE: Final = StreamDelta(done=True)


def _generic(data: Any) -> Located:
    # An unknown stream: every string is a text, its channel the path to it in the event.
    segments: list[Segment] = []
    walk_strings(segments, data, (), None, VALUES_ONLY)
    return Located([(s.path, s.path, False) for s in segments])


_LOCATORS: Final[dict[str, Callable[[Any], Located]]] = {
    "openai": stream_openai.locate,
    "anthropic": stream_anthropic.locate,
    "kserve": _generic,
    "json": _generic,
}


def stream_deltas(format_name: str, operation: str, event: SseEvent) -> StreamDelta:
    """The texts, usage and end an event carries.

    The event's own shape decides how it is read, not `operation`: what the client receives is
    what the upstream sent, whatever was asked. Data that is not JSON is one text (`RAW_DATA`).
    """
    if not event.has_data:
        return _KEEPALIVE  # comments and bare `event:` lines are not events
    if event.data.strip() == "[DONE]":
        return _DONE
    data = _parse(event.data)
    if data is _NOT_JSON:
        return StreamDelta([(RAW_DATA, event.data)] if event.data else [], parsed=_NOT_JSON)
    if format_name == "openai":
        plain = stream_openai.plain_content(data)
        if plain is not None:
            channel, holder, text = plain
            texts = [(channel, text)] if text else []
            place = (channel, holder, "content")
            return StreamDelta(texts, None, False, [], parsed=data, places=(place,))
    return _located_delta(data, _LOCATORS.get(format_name, _generic)(data))


def _located_delta(data: Any, located: Located) -> StreamDelta:
    """The delta of an event's parsed data, from what its format's locator found in it."""
    if located == _KEEPALIVE_LOCATED:
        return _KEEPALIVE
    texts: list[tuple[ChannelKey, str]] = []
    snapshots: list[tuple[ChannelKey, str]] = []
    places: list[tuple[ChannelKey, Any, Any]] = []
    for channel, path, snapshot in located.texts:
        holder = key = None
        node = data
        for step in path:
            holder, key = node, step
            node = node[step]
        places.append((channel, holder, key))
        if node and isinstance(node, str):
            (snapshots if snapshot else texts).append((channel, node))
    return StreamDelta(
        texts,
        located.usage,
        located.done,
        snapshots,
        located.json_channels,
        located.keepalive,
        located.whole_values,
        data,
        tuple(places),
    )


def rewrite_texts(event: SseEvent, delta: StreamDelta, texts: Mapping[ChannelKey, str]) -> bytes:
    """`event` with the text of each channel in `texts` replaced, serialised, from `delta` (the
    one `stream_deltas` made of this event; its parsed data is changed in place)."""
    if delta.parsed is _NOT_JSON:
        return make_event(texts[RAW_DATA], event.event, event.id, event.retry).raw
    data = delta.parsed
    for channel, holder, key in delta.places:
        text = texts.get(channel)
        if text is None:
            continue
        if holder is None:
            data = text  # the event's data is one JSON string
        else:
            holder[key] = text
    return serialize_data(orjson.dumps(data), event.event, event.id, event.retry)


def rewrite_delta(
    format_name: str, event: SseEvent, channel_key: ChannelKey, new_text: str
) -> SseEvent:
    """`event` with the text of `channel_key` (delta or snapshot) replaced by `new_text`.

    The data is re-serialised as compact JSON; `event`, `id` and `retry` are kept. Raises
    LookupError when the event has no text on that channel.
    """
    data = _parse(event.data) if event.has_data else _NOT_JSON
    if data is _NOT_JSON:
        if channel_key != RAW_DATA or not event.has_data:
            raise LookupError(f"no channel {channel_key!r} in this event")
        return make_event(new_text, event.event, event.id, event.retry)
    located = _LOCATORS.get(format_name, _generic)(data)
    paths = {path: new_text for channel, path, _ in located.texts if channel == channel_key}
    if not paths:
        raise LookupError(f"no channel {channel_key!r} in this event")
    rewritten = orjson.dumps(replace_segments(data, paths))
    raw = serialize_data(rewritten, event.event, event.id, event.retry)
    return SseEvent(event.event, rewritten.decode(), event.id, raw, event.retry)


def _parse(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _NOT_JSON
