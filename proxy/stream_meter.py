"""What a streamed answer used: the usage events it carried and how much text it streamed.

Rate limits settle on this after the stream (proxy.ratelimit.stage.usage_of): reported usage
where the upstream sent it (OpenAI `stream_options.include_usage`, Anthropic `message_start`
and `message_delta`), else the output counted from the streamed text, so that a stream cut
short (the caller left, the upstream failed) is charged what it produced, not its reservation.
"""

from __future__ import annotations

from collections.abc import Callable

from proxy.exchange import Exchange
from proxy.formats.stream_text import StreamDelta, stream_deltas
from proxy.sse import SseParser, SseTooLarge


def meter_delta(exchange: Exchange, delta: StreamDelta) -> None:
    """Record one event's usage and text on the exchange (the response guard calls this too,
    so a guarded stream is parsed once)."""
    if delta.usage is not None:
        current = exchange.stream_usage
        exchange.stream_usage = delta.usage if current is None else current.merge(delta.usage)
    for _, text in delta.texts:
        exchange.streamed_text_chars += len(text)


class StreamMeter:
    """Reads the events of a stream no response guard reads, only for usage and text size."""

    def __init__(self, exchange: Exchange) -> None:
        assert exchange.route is not None and exchange.call is not None
        self.exchange = exchange
        self.format = exchange.route.format
        self.operation = exchange.call.operation
        self.parser: SseParser | None = SseParser()

    def feed(self, chunk: bytes) -> None:
        if self.parser is None:
            return
        try:
            events = self.parser.feed(chunk)
        except SseTooLarge:
            # Not an event stream we can read; the reservation then stands as the charge.
            self.parser = None
            return
        for event in events:
            meter_delta(self.exchange, stream_deltas(self.format, self.operation, event))


StreamMeterFactory = Callable[[Exchange], "StreamMeter | None"]


class StreamMeters:
    """Meters only where the usage is wanted: for the audit row, or to settle a reservation."""

    def __init__(self, always: bool, wanted: Callable[[Exchange], bool]) -> None:
        self.always = always
        self.wanted = wanted

    def __call__(self, exchange: Exchange) -> StreamMeter | None:
        if exchange.route is None or exchange.call is None:
            return None
        if self.always or self.wanted(exchange):
            return StreamMeter(exchange)
        return None
