"""ResponseGuard: response rules over a streamed (SSE) answer, event by event.

Text is held back per channel (`StreamWindow`) only where a match could still be in progress,
so a match split across events is still caught; released text goes out in the event it arrived
in, rewritten when redacted, then with the prompt's placeholders restored when rules ask for it.
Any event without text first flushes what is held, so order is kept (keep-alives excepted:
they carry nothing to keep in order). A block ends the stream with an error event.

Limits, by nature of streaming: text released before a rule's count is reached (`min_count`)
is not taken back; a match longer than the hold-back is reported but not held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from proxy.enforce import access_input, policy_violation
from proxy.exchange import Exchange
from proxy.formats.stream_common import ChannelKey
from proxy.formats.stream_text import StreamDelta, rewrite_delta, rewrite_texts, stream_deltas
from proxy.policy import Decision, PolicySet
from proxy.policy.conditions import glob_matcher
from proxy.redact import Redactor
from proxy.replies import LocalReply
from proxy.restore import Restorer, StreamRestorer
from proxy.risk import assess
from proxy.scanners import Finding, Scanner, scan_text
from proxy.scanners.window import StreamWindow
from proxy.scanning import Scanning, TimedScanner
from proxy.sse import SseEvent, SseParser
from proxy.stream_meter import meter_delta
from proxy.upstream import sse_error_event


@dataclass(slots=True)
class GuardOutput:
    data: bytes = b""
    blocked: LocalReply | None = None


@dataclass(slots=True)
class _Channel:
    window: StreamWindow | None  # None when no scanner reads answers
    restore: StreamRestorer | None  # None when nothing is restored
    template: SseEvent  # the latest event that carried this channel's text
    template_delta: StreamDelta  # and what stream_deltas read in it
    shown: list[str] = field(default_factory=list)  # what the caller got on this channel


class ResponseGuard:
    """One streamed answer. Pure but for the exchange it records decisions and usage on.

    `decide`: whether response rules apply (False when only placeholders are restored).
    `observe`: rules only record; the caller gets the answer as sent (restored, if asked).
    """

    def __init__(
        self,
        exchange: Exchange,
        policy: PolicySet,
        scanners: tuple[Scanner, ...],
        hold_back: int,
        *,
        observe: bool = False,
        decide: bool = True,
        restorer: Restorer | None = None,
        timer: Callable[[str, float], None] | None = None,
    ) -> None:
        assert exchange.route is not None and exchange.call is not None
        self.exchange = exchange
        self.policy = policy
        # Scanner time is reported once, when the stream ends.
        self.timed = [TimedScanner(s) for s in scanners] if timer is not None else []
        self.scanners: tuple[Scanner, ...] = tuple(self.timed) or scanners
        self.timer = timer
        self.hold_back = hold_back
        self.observe = observe
        self.deciding = decide
        self.restorer = restorer
        self.format = exchange.route.format
        self.operation = exchange.call.operation
        self.parser = SseParser()
        self.channels: dict[ChannelKey, _Channel] = {}
        self.findings: list[Finding] = []
        self.decision: Decision | None = None
        self.redactor = exchange.redactor = exchange.redactor or Redactor()
        self.finished = False

    def feed(self, chunk: bytes) -> Iterator[GuardOutput]:
        """What to send, event by event: the caller can write each before the next is checked."""
        for event in self.parser.feed(chunk):
            out: list[bytes] = []
            blocked = self._event(event, out)
            if blocked is not None:
                yield self._cut(out, blocked)
                return
            if out:
                yield GuardOutput(b"".join(out))

    def finish(self) -> GuardOutput:
        """End of the upstream stream: release what is held. Unterminated bytes are dropped:
        they were never scanned."""
        out: list[bytes] = []
        blocked = self._flush(out)
        if blocked is not None:
            return self._cut(out, blocked)
        self._record()
        return GuardOutput(b"".join(out))

    def _cut(self, out: list[bytes], blocked: Decision) -> GuardOutput:
        reply = policy_violation(blocked)
        return GuardOutput(b"".join(out) + sse_error_event(reply), reply)

    def _event(self, event: SseEvent, out: list[bytes]) -> Decision | None:
        """Append what goes out for `event` to `out`; a decision that blocks ends the stream."""
        delta = stream_deltas(self.format, self.operation, event)
        meter_delta(self.exchange, delta)
        if delta.keepalive:
            out.append(event.raw)
            return None
        if (not delta.texts and not delta.snapshots) or delta.whole_values:
            # An event that ends or opens something: what is held goes out before it.
            blocked = self._flush(out)
            if blocked is not None:
                return blocked
            if not delta.texts and not delta.snapshots:
                out.append(event.raw)
                return None
        rewrites: dict[ChannelKey, str] = {}
        shown_any = False
        for channel_key, text in delta.texts:
            channel = self.channels.get(channel_key) or self._channel(channel_key, event, delta)
            channel.template, channel.template_delta = event, delta
            if delta.whole_values:
                shown, blocked = self._whole(text, channel_key in delta.json_channels)
            else:
                shown, blocked = self._pass(channel, text)
            if blocked is not None:
                return blocked
            if shown:
                channel.shown.append(shown)
                shown_any = True
            if shown != text:
                rewrites[channel_key] = shown
        if delta.snapshots:
            blocked = self._flush(out)
            if blocked is not None:
                return blocked
            for channel_key, text in delta.snapshots:
                shown, blocked = self._snapshot(channel_key, text, delta)
                if blocked is not None:
                    return blocked
                if shown != text:
                    rewrites[channel_key] = shown
            shown_any = True
        if shown_any or delta.whole_values:
            out.append(rewrite_texts(event, delta, rewrites) if rewrites else event.raw)
        return None

    def _channel(self, key: ChannelKey, event: SseEvent, delta: StreamDelta) -> _Channel:
        """A channel's first text: its window and restorer."""
        window = StreamWindow(self.scanners, self.hold_back) if self.scanners else None
        restore = None
        if self.restorer is not None:
            restore = self.restorer.stream(json_string=key in delta.json_channels)
        channel = self.channels[key] = _Channel(window, restore, event, delta)
        return channel

    def _pass(self, channel: _Channel, text: str) -> tuple[str, Decision | None]:
        """What the caller may see of `text` now: held back, redacted, restored."""
        visible = text
        window = channel.window
        if window is not None:
            start = window.position
            emit, found = window.feed(text)
            if found or self.decision is None:
                blocked = self._settle(found)
                if blocked is not None:
                    return "", blocked
            if not self.observe:  # observing, the caller gets the text as it came
                visible = self._redacted(emit, found, start) if found else emit
        if channel.restore is not None:
            visible = channel.restore.feed(visible)
        return visible, None

    def _snapshot(
        self, channel_key: ChannelKey, text: str, delta: StreamDelta
    ) -> tuple[str, Decision | None]:
        """A repeat of a channel's whole text: show what the deltas showed, or scan it afresh."""
        channel = self.channels.get(channel_key)
        if channel is not None:
            return "".join(channel.shown), None
        return self._whole(text, channel_key in delta.json_channels)

    def _whole(self, text: str, json_string: bool) -> tuple[str, Decision | None]:
        """A text that arrives whole: scanned at once, never held."""
        shown = text
        if self.scanners:
            found = scan_text(text, self.scanners)
            blocked = self._settle(found)
            if blocked is not None:
                return text, blocked
            if not self.observe:
                shown = self._redacted(text, found, 0)
        if self.restorer is not None:
            shown = self.restorer.restore(shown, json_string=json_string)
        return shown, None

    def _flush(self, out: list[bytes]) -> Decision | None:
        """Release every held channel (before an event without text, and at the end)."""
        for channel_key, channel in self.channels.items():
            shown = ""
            if channel.window is not None:
                start = channel.window.position
                result = channel.window.finish()
                blocked = self._settle(result.findings)
                if blocked is not None:
                    return blocked
                if not self.observe:
                    shown = self._redacted(result.emit, result.findings, start)
                # Text that may follow is a new text; offsets restart, which is all they serve.
                channel.window.restart()
            if channel.restore is not None:
                shown = channel.restore.feed(shown) + channel.restore.flush()
            if shown:
                channel.shown.append(shown)
                out.append(self._rewritten_template(channel_key, channel, shown))
        return None

    def _rewritten_template(self, key: ChannelKey, channel: _Channel, text: str) -> bytes:
        """The channel's latest event carrying `text` instead, to release what was held."""
        delta = channel.template_delta
        if all(place[0] == key for place in delta.places):
            # The event carries no other channel's text: its data as read can be reused.
            return rewrite_texts(channel.template, delta, {key: text})
        return rewrite_delta(self.format, channel.template, key, text).raw

    def _settle(self, found: Sequence[Finding]) -> Decision | None:
        """Decide again whenever findings arrive; a block ends the stream."""
        if not self.deciding or (not found and self.decision is not None):
            return None
        self.findings.extend(found)
        risk = assess(self.findings)
        inp = access_input(self.exchange).with_findings(self.findings, risk.score, risk.label)
        self.decision = self.policy.decide("response", inp)
        if self.decision.blocks and not self.observe:
            self.exchange.stream_cut = True
            self._record()
            return self.decision
        return None

    def _redacted(self, text: str, found: Sequence[Finding], start: int) -> str:
        decision = self.decision
        if not text or not found or decision is None or decision.action != "redact":
            return text
        wanted = glob_matcher(decision.redact_kinds)
        local = [
            Finding(f.kind, f.start - start, f.end - start, f.score)
            for f in found
            if wanted(f.kind) and f.start >= start and f.end <= start + len(text)
        ]
        return self.redactor.redact(text, local) if local else text

    def _record(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            for timed in self.timed:
                self.timer(timed.name, timed.seconds)
        if not self.deciding:
            return
        if self.decision is None:
            self._settle([])
        assert self.decision is not None
        if self.decision not in self.exchange.decisions:
            self.exchange.decisions.append(self.decision)


class StreamGuards:
    """Makes the guard a streamed answer needs, per the route's mode; None when none is."""

    def __init__(self, scanning: Scanning) -> None:
        self.scanning = scanning

    def __call__(self, exchange: Exchange) -> ResponseGuard | None:
        policy, route = exchange.policy, exchange.route
        if policy is None or route is None or exchange.call is None:
            return None
        deciding = route.stream_guard != "off" and policy.scans("response")
        if not deciding and exchange.restorer is None:
            return None
        scanners = self.scanning.scanners_for(policy, "response") if deciding else ()
        hold_back = route.stream_hold_back
        if hold_back is None:
            hold_back = max((s.max_match_len for s in scanners), default=0)
        return ResponseGuard(
            exchange,
            policy,
            scanners,
            hold_back,
            observe=route.stream_guard == "observe",
            decide=deciding,
            restorer=exchange.restorer,
            timer=self.scanning.timer,
        )
