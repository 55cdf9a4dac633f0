"""ResponseGuard: response rules over a streamed (SSE) answer, event by event.

Text is held back per channel (`StreamWindow`) so a match split across events is still caught;
released text goes out in the event it arrived in, rewritten when redacted. Any event without
text first flushes what is held, so order is kept. A block ends the stream with an error event.

Limits, by nature of streaming: text released before a rule's count is reached (`min_count`)
is not taken back; a match longer than the hold-back is reported but not held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.enforce import access_input, policy_violation
from proxy.exchange import Exchange
from proxy.formats.stream_common import ChannelKey
from proxy.formats.stream_text import rewrite_delta, stream_deltas
from proxy.policy import Decision, PolicySet
from proxy.policy.conditions import glob_matcher
from proxy.redact import Redactor
from proxy.replies import LocalReply
from proxy.risk import assess
from proxy.scanners import Finding, Scanner, scan_text
from proxy.scanners.window import StreamWindow
from proxy.scanning import Scanning
from proxy.sse import SseEvent, SseParser, serialize
from proxy.stream_meter import meter_delta
from proxy.upstream import sse_error_event


@dataclass(slots=True)
class GuardOutput:
    data: bytes = b""
    blocked: LocalReply | None = None


@dataclass(slots=True)
class _Channel:
    window: StreamWindow
    template: SseEvent  # the latest event that carried this channel's text
    emitted: list[str] = field(default_factory=list)  # what the caller got, redacted


class ResponseGuard:
    """One streamed answer. Pure but for the exchange it records decisions and usage on."""

    def __init__(
        self,
        exchange: Exchange,
        policy: PolicySet,
        scanners: tuple[Scanner, ...],
        hold_back: int,
        *,
        observe: bool = False,
    ) -> None:
        assert exchange.route is not None and exchange.call is not None
        self.exchange = exchange
        self.policy = policy
        self.scanners = scanners
        self.hold_back = hold_back
        # Observe mode only records: it never holds, rewrites or cuts what the caller gets.
        self.observe = observe
        self.format = exchange.route.format
        self.operation = exchange.call.operation
        self.parser = SseParser()
        self.channels: dict[ChannelKey, _Channel] = {}
        self.findings: list[Finding] = []
        self.decision: Decision | None = None
        self.redactor = exchange.redactor = exchange.redactor or Redactor()

    def feed(self, chunk: bytes) -> GuardOutput:
        out = bytearray()
        for event in self.parser.feed(chunk):
            blocked = self._event(event, out)
            if blocked is not None:
                return self._cut(out, blocked)
        return GuardOutput(bytes(out))

    def finish(self) -> GuardOutput:
        """End of the upstream stream: release what is held. Unterminated bytes are dropped:
        they were never scanned."""
        out = bytearray()
        blocked = self._flush(out)
        if blocked is not None:
            return self._cut(out, blocked)
        self._record()
        return GuardOutput(bytes(out))

    @staticmethod
    def _cut(out: bytearray, blocked: Decision) -> GuardOutput:
        reply = policy_violation(blocked)
        return GuardOutput(bytes(out) + sse_error_event(reply), reply)

    def _event(self, event: SseEvent, out: bytearray) -> Decision | None:
        delta = stream_deltas(self.format, self.operation, event)
        meter_delta(self.exchange, delta)
        if not delta.texts and not delta.snapshots:
            blocked = self._flush(out)
            if blocked is None:
                out += event.raw
            return blocked
        rewritten: SseEvent | None = event
        changed = False
        released_any = False
        for channel_key, text in delta.texts:
            channel = self.channels.get(channel_key)
            if channel is None:
                window = StreamWindow(self.scanners, self.hold_back)
                channel = self.channels[channel_key] = _Channel(window, event)
            channel.template = event
            start = channel.window.position
            result = channel.window.feed(text)
            blocked = self._settle(result.findings)
            if blocked is not None:
                return blocked
            emit = self._redacted(result.emit, result.findings, start)
            channel.emitted.append(emit)
            released_any = released_any or bool(emit)
            if emit != text:
                assert rewritten is not None
                rewritten = rewrite_delta(self.format, rewritten, channel_key, emit)
                changed = True
        if delta.snapshots:
            blocked = self._flush(out)
            if blocked is not None:
                return blocked
            for channel_key, text in delta.snapshots:
                assert rewritten is not None
                shown, blocked = self._snapshot(channel_key, text)
                if blocked is not None:
                    return blocked
                if shown != text:
                    rewritten = rewrite_delta(self.format, rewritten, channel_key, shown)
                    changed = True
            released_any = True
        if released_any and rewritten is not None:
            out += serialize(rewritten) if changed else event.raw
        return None

    def _snapshot(self, channel_key: ChannelKey, text: str) -> tuple[str, Decision | None]:
        """A repeat of a channel's whole text: show what the deltas showed, or scan it afresh."""
        channel = self.channels.get(channel_key)
        if channel is not None:
            return "".join(channel.emitted), None
        found = scan_text(text, self.scanners)
        blocked = self._settle(found)
        return (text if blocked else self._redacted(text, found, 0)), blocked

    def _flush(self, out: bytearray) -> Decision | None:
        """Release every held channel (before an event without text, and at the end)."""
        for channel_key, channel in list(self.channels.items()):
            start = channel.window.position
            result = channel.window.finish()
            blocked = self._settle(result.findings)
            if blocked is not None:
                return blocked
            emit = self._redacted(result.emit, result.findings, start)
            if emit:
                channel.emitted.append(emit)
                out += serialize(rewrite_delta(self.format, channel.template, channel_key, emit))
            # A fresh window for text that may follow; offsets restart, which is all they serve.
            fresh = StreamWindow(self.scanners, self.hold_back)
            self.channels[channel_key] = _Channel(fresh, channel.template, channel.emitted)
        return None

    def _settle(self, found: list[Finding]) -> Decision | None:
        """Decide again whenever findings arrive; a block ends the stream."""
        if not found and self.decision is not None:
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

    def _redacted(self, text: str, found: list[Finding], start: int) -> str:
        decision = self.decision
        if self.observe or not text or decision is None or decision.action != "redact":
            return text
        if not found:
            return text
        wanted = glob_matcher(decision.redact_kinds)
        local = [
            Finding(f.kind, f.start - start, f.end - start, f.score)
            for f in found
            if wanted(f.kind) and f.start >= start and f.end <= start + len(text)
        ]
        return self.redactor.redact(text, local) if local else text

    def _record(self) -> None:
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
        if route.stream_guard == "off" or not policy.scans("response"):
            return None
        return ResponseGuard(
            exchange,
            policy,
            self.scanning.scanners_for(policy),
            route.stream_hold_back,
            observe=route.stream_guard == "observe",
        )
