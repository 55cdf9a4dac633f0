"""Server-sent events: an incremental parser that keeps each event's exact bytes, and a writer."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

_EOL: Final = re.compile(rb"[\r\n]")
_DATA_LINES: Final = re.compile(r"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"
_CR, _LF = 0x0D, 0x0A
_CR_BYTE, _LF_BYTE = b"\r", b"\n"
_DATA_FIELD: Final = b"data: "
DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024


class SseTooLarge(ValueError):
    """An event grew past the parser's limit without ending (an upstream that never stops)."""


# A NamedTuple rather than a frozen dataclass: one is made per event, and it is as immutable
# for a third of the cost to build.
class SseEvent(NamedTuple):
    """One block of a stream, up to and including the blank line that ends it.

    `event`: the type, None for the default ("message"). `data`: the `data:` lines joined with
    "\\n". `id`, `retry`: this block's fields, None when absent. `raw`: the exact bytes received,
    so an unchanged event is relayed byte for byte (after a CR that ended a chunk, the LF that
    completes the CRLF is the first byte of the next event's raw). `has_data`: False for blocks
    the spec does not dispatch (comments, keep-alives, stray blank lines); relay them, do not
    interpret them.
    """

    event: str | None
    data: str
    id: str | None = None
    raw: bytes = b""
    retry: int | None = None
    has_data: bool = True


class SseParser:
    """Feed bytes as they arrive, in chunks split anywhere (even inside a UTF-8 character);
    get back the events they complete. Lines end in CRLF, LF or CR, per the HTML spec."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._scan = 0  # where the next unread line starts in _buffer
        self._skip_lf = False  # the last chunk ended in CR: an LF next completes that CRLF
        self._first_line = True  # a UTF-8 BOM may open the stream, and is then ignored
        self._reset_fields()

    def _reset_fields(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        if not chunk:
            return events
        buf = self._buffer
        if self._first_line and not buf and not chunk.startswith(_BOM[:1]):
            self._first_line = False  # no BOM can open this stream
        if not buf and not self._skip_lf and not self._first_line:
            whole = _whole_data_events(chunk)
            if whole is not None:
                return whole
        buf += chunk
        if self._skip_lf:
            self._skip_lf = False
            if buf[self._scan] == _LF:
                self._scan += 1
        # Almost every stream ends its lines in LF alone: then a byte search finds them. The
        # bytes before this chunk hold no line end (they are an unfinished line), so a chunk
        # without CR cannot need the general rules, nor can any line after the first.
        if self._first_line or _CR_BYTE in chunk:
            start, scan = self._feed_any_endings(buf, events)
        else:
            start, scan = self._feed_lf_endings(buf, events)
        del buf[:start]
        self._scan = scan - start
        if len(buf) > self._max_event_bytes:
            raise SseTooLarge(f"an event exceeded {self._max_event_bytes} bytes")
        return events

    def _feed_any_endings(self, buf: bytearray, events: list[SseEvent]) -> tuple[int, int]:
        """Lines ended by CRLF, LF or CR: (first byte of the event in progress, next line)."""
        start = 0
        scan = self._scan
        while (match := _EOL.search(buf, scan)) is not None:
            end = match.start()
            line_start, scan = scan, end + 1
            if buf[end] == _CR:
                if scan == len(buf):
                    self._skip_lf = True  # cannot know yet; the next chunk will tell
                elif buf[scan] == _LF:
                    scan += 1
            if self._first_line:
                self._first_line = False
                if buf.startswith(_BOM, line_start):
                    line_start += len(_BOM)
            if end > line_start:
                self._field(bytes(buf[line_start:end]))
                continue
            events.append(self._dispatch(bytes(buf[start:scan])))
            start = scan
        return start, scan

    def _feed_lf_endings(self, buf: bytearray, events: list[SseEvent]) -> tuple[int, int]:
        """`_feed_any_endings` for a buffer whose lines all end in LF."""
        start = 0
        scan = self._scan
        find = buf.find
        while (end := find(_LF_BYTE, scan)) >= 0:
            line_start, scan = scan, end + 1
            if end > line_start:
                if buf.startswith(_DATA_FIELD, line_start):  # the usual line, parsed in place
                    value = buf[line_start + len(_DATA_FIELD) : end].decode("utf-8", "replace")
                    if line_start == start and buf.startswith(_LF_BYTE, scan):
                        # The usual event, one data line and its blank line (no field can
                        # be set yet: the line opens the event).
                        scan += 1
                        events.append(SseEvent(None, value, None, bytes(buf[start:scan])))
                        start = scan
                        continue
                    self._data.append(value)
                else:
                    self._field(bytes(buf[line_start:end]))
                continue
            events.append(self._dispatch(bytes(buf[start:scan])))
            start = scan
        return start, scan

    def pending(self) -> bytes:
        """Bytes of an event not yet ended by a blank line. At end of stream the spec discards
        them; a relay should drop them too rather than forward text nobody scanned."""
        return bytes(self._buffer)

    def _field(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if text.startswith(":"):
            return  # a comment
        name, colon, value = text.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value or None
        elif name == "id":
            if "\x00" not in value:  # the spec ignores such ids
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)

    def _dispatch(self, raw: bytes) -> SseEvent:
        data = self._data
        text = data[0] if len(data) == 1 else "\n".join(data)
        event = SseEvent(self._event, text, self._id, raw, self._retry, bool(data))
        self._reset_fields()
        return event


def _whole_data_events(chunk: bytes) -> list[SseEvent] | None:
    """The events of a chunk made only of whole one-line `data: ` events ending in LF (what
    most upstreams send, a read at a time), else None: the line-by-line parser decides."""
    if not chunk.endswith(b"\n\n") or _CR_BYTE in chunk:
        return None
    blocks = chunk.split(b"\n\n")
    if blocks.pop():
        return None  # a blank line too many: a block without data follows
    events = []
    for block in blocks:
        if not block.startswith(_DATA_FIELD) or _LF_BYTE in block:
            return None
        data = block[len(_DATA_FIELD) :].decode("utf-8", "replace")
        events.append(SseEvent(None, data, None, block + b"\n\n"))
    return events


def serialize(event: SseEvent) -> bytes:
    """The event in canonical form (`event`, `id`, `retry`, `data` lines, blank line).

    Comments are not kept (`raw` has them). A block with nothing to say becomes a bare comment,
    so that a keep-alive stays a keep-alive.
    """
    lines = _field_lines(event.event, event.id, event.retry)
    if event.has_data:
        lines.extend(f"data: {line}" for line in _DATA_LINES.split(event.data))
    if not lines:
        lines.append(":")
    return ("\n".join(lines) + "\n\n").encode()


def serialize_data(
    data: bytes, event: str | None = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """`serialize` of an event whose data is `data` (UTF-8), built without splitting it into
    lines when it is one, as compact JSON always is."""
    if _CR_BYTE in data or _LF_BYTE in data:
        return serialize(SseEvent(event, data.decode(), id, b"", retry))
    if event is None and id is None and retry is None:
        return _DATA_FIELD + data + b"\n\n"
    head = "".join(f"{line}\n" for line in _field_lines(event, id, retry)).encode()
    return head + _DATA_FIELD + data + b"\n\n"


def _field_lines(event: str | None, id: str | None, retry: int | None) -> list[str]:
    lines: list[str] = []
    if event is not None:
        lines.append(f"event: {_single_line(event, 'event')}")
    if id is not None:
        if "\x00" in id:
            raise ValueError("an SSE id cannot contain NUL")
        lines.append(f"id: {_single_line(id, 'id')}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    return lines


def make_event(
    data: str, event: str | None = None, id: str | None = None, retry: int | None = None
) -> SseEvent:
    """A new event whose `raw` is its serialisation."""
    made = SseEvent(event, data, id, b"", retry)
    return SseEvent(event, data, id, serialize(made), retry)


def _single_line(value: str, field: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"an SSE {field} cannot span lines")
    return value
