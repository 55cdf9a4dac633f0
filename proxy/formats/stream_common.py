"""What a stream reader finds in one event: texts by channel and path, usage, the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from proxy.formats.segments import JsonPath, Usage

ChannelKey = tuple[str | int, ...]


# Per-event values are NamedTuples, not frozen dataclasses: as immutable, and a third of the
# cost to build, which counts at one (or two) per streamed event.
class Located(NamedTuple):
    """`texts`: (channel, path of the string in the event's data, is it a snapshot).

    `json_channels`: the channels among them whose text is raw JSON being written (tool-call
    arguments), where a value put into it must be escaped. `keepalive`: the event only keeps
    the connection open; it may go out before text held back from earlier events.
    `whole_values`: the event opens or describes a block or item (`content_block_start`,
    `response.output_item.added`); its texts are whole values that go out with it, never
    pieces to hold back, since holding would move the event after the deltas that follow it.
    """

    texts: Sequence[tuple[ChannelKey, JsonPath, bool]] = ()
    usage: Usage | None = None
    done: bool = False
    json_channels: frozenset[ChannelKey] = frozenset()
    keepalive: bool = False
    whole_values: bool = False
