"""What a stream reader finds in one event: texts by channel and path, usage, the end."""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.formats.segments import JsonPath, Usage

ChannelKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """`texts`: (channel, path of the string in the event's data, is it a snapshot)."""

    texts: list[tuple[ChannelKey, JsonPath, bool]] = field(default_factory=list)
    usage: Usage | None = None
    done: bool = False
