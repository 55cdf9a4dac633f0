"""SSE parser and writer: the HTML spec's rules, chunks split anywhere, raw bytes kept exactly."""

from __future__ import annotations

import pytest

from proxy.sse import SseEvent, SseParser, SseTooLarge, make_event, serialize

Fields = tuple[str | None, str, str | None, int | None, bool]


def fields(event: SseEvent) -> Fields:
    return (event.event, event.data, event.id, event.retry, event.has_data)


def parse_all(stream: bytes, cuts: list[int] | None = None) -> tuple[list[SseEvent], bytes]:
    parser = SseParser()
    events: list[SseEvent] = []
    bounds = [0, *(cuts or []), len(stream)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        events.extend(parser.feed(stream[start:end]))
    return events, parser.pending()


# A stream using every feature: named events, ids, retry, comments, multi-line data, an empty
# data event, multibyte UTF-8 (2, 3 and 4 bytes), all three line endings, a BOM.
STREAM = (
    "\ufeff: keep-alive comment\n\n"
    'event: message_start\r\nid: 1\r\ndata: {"a": "é"}\r\n\r\n'
    "data: line one\rdata: line two\r\r"
    "retry: 1500\n: a comment inside\ndata:no space\ndata:  two spaces\n\n"
    "data\n\n"
    "event: delta\ndata: 日本語 🙂\nid\n\n"
    "data: [DONE]\n\n"
).encode()
EXPECTED: list[Fields] = [
    (None, "", None, None, False),
    ("message_start", '{"a": "é"}', "1", None, True),
    (None, "line one\nline two", None, None, True),
    (None, "no space\n two spaces", None, 1500, True),
    (None, "", None, None, True),
    ("delta", "日本語 🙂", "", None, True),
    (None, "[DONE]", None, None, True),
]


def test_every_field_and_line_ending() -> None:
    events, pending = parse_all(STREAM)
    assert [fields(e) for e in events] == EXPECTED
    assert pending == b""
    assert b"".join(e.raw for e in events) == STREAM
    assert events[1].raw == b'event: message_start\r\nid: 1\r\ndata: {"a": "\xc3\xa9"}\r\n\r\n'


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_split_at_every_offset(cut: int) -> None:
    events, pending = parse_all(STREAM, [cut])
    assert [fields(e) for e in events] == EXPECTED
    # Lossless: every byte belongs to exactly one event, so relaying raws relays the stream.
    assert b"".join(e.raw for e in events) + pending == STREAM


def test_split_into_single_bytes() -> None:
    events, _ = parse_all(STREAM, list(range(1, len(STREAM))))
    assert [fields(e) for e in events] == EXPECTED
    assert b"".join(e.raw for e in events) == STREAM


@pytest.mark.parametrize("first", range(1, 12))
@pytest.mark.parametrize("second", range(1, 12))
def test_split_at_every_pair_of_offsets(first: int, second: int) -> None:
    stream = "data: é🙂\r\n\r\ndata: x\r\r".encode()
    cuts = sorted({first, min(first + second, len(stream))})
    events, _ = parse_all(stream, cuts)
    assert [fields(e) for e in events] == [
        (None, "é🙂", None, None, True),
        (None, "x", None, None, True),
    ]


def test_crlf_split_between_cr_and_lf_does_not_make_an_extra_line() -> None:
    parser = SseParser()
    assert [e.data for e in parser.feed(b"data: a\r\n\r")] == ["a"]
    # The LF completing the CRLF is kept (first byte of the next raw) but is not a blank line.
    assert parser.feed(b"\n") == []
    (event,) = parser.feed(b"data: b\n\n")
    assert event.data == "b"
    assert event.raw == b"\ndata: b\n\n"


def test_an_event_is_dispatched_as_soon_as_its_blank_line_arrives() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\n") == []
    assert [e.data for e in parser.feed(b"\n")] == ["a"]
    assert parser.feed(b"data: b\r") == []
    assert [e.data for e in parser.feed(b"\r")] == ["b"]  # CR-only endings, no lookahead wait


def test_unterminated_event_is_pending_not_dispatched() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\n\ndata: half") == [SseEvent(None, "a", None, b"data: a\n\n")]
    assert parser.pending() == b"data: half"


def test_blocks_without_data_are_relayed_but_not_dispatched() -> None:
    events, _ = parse_all(b"event: x\n\n: ping\n\n\n")
    assert [(e.event, e.has_data, e.raw) for e in events] == [
        ("x", False, b"event: x\n\n"),
        (None, False, b": ping\n\n"),
        (None, False, b"\n"),
    ]


def test_ids_with_nul_and_non_numeric_retry_are_ignored() -> None:
    (event,) = parse_all(b"id: a\x00b\nretry: 1x\nretry: \xd9\xa3\ndata: d\n\n")[0]
    assert (event.id, event.retry) == (None, None)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    (event,) = parse_all(b"data: \xff\xfe ok\n\n")[0]
    assert event.data == "\ufffd\ufffd ok"


def test_bom_is_only_stripped_at_the_start_of_the_stream() -> None:
    events, _ = parse_all(b"\xef\xbb\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n")
    assert [e.data for e in events] == ["a", ""]  # the second line's field is "\ufeffdata"


def test_an_event_that_never_ends_is_refused() -> None:
    parser = SseParser(max_event_bytes=64)
    parser.feed(b"data: " + b"x" * 50)
    with pytest.raises(SseTooLarge):
        parser.feed(b"x" * 50 + b"\n")


@pytest.mark.parametrize(
    "event",
    [
        SseEvent(None, "plain"),
        SseEvent("content_block_delta", '{"type":"x"}', "7", retry=2000),
        SseEvent(None, "multi\nline\n\ndata"),
        SseEvent(None, " leading space and trailing \n"),
        SseEvent(None, ""),
        SseEvent("name", "", has_data=False),
        SseEvent(None, "", has_data=False),
        SseEvent(None, "ünï 🙂"),
    ],
)
def test_serialize_round_trips(event: SseEvent) -> None:
    (parsed,) = parse_all(serialize(event))[0]
    assert fields(parsed) == fields(event)
    assert parsed.raw == serialize(event)


def test_serialize_turns_carriage_returns_in_data_into_line_breaks() -> None:
    (parsed,) = parse_all(serialize(SseEvent(None, "a\r\nb\rc")))[0]
    assert parsed.data == "a\nb\nc"


@pytest.mark.parametrize(
    "bad", [SseEvent("a\nb", "d"), SseEvent(None, "d", "1\r"), SseEvent(None, "d", "\x00")]
)
def test_serialize_refuses_fields_that_would_break_framing(bad: SseEvent) -> None:
    with pytest.raises(ValueError):
        serialize(bad)


def test_make_event_carries_its_serialisation() -> None:
    event = make_event('{"x":1}', event="delta", id="3")
    assert event.raw == b'event: delta\nid: 3\ndata: {"x":1}\n\n'
    assert parse_all(event.raw)[0] == [event]


LF_STREAMS = [
    b'data: {"a": 1}\n\ndata: {"b": "\xc3\xa9"}\n\ndata: [DONE]\n\n',
    b"data: one\n\n\ndata: after a stray blank line\n\n",
    b"event: delta\ndata: x\n\n: comment\n\ndata:no space\n\ndata: a\ndata: b\n\n",
    b"data: x\n\nid: 7\ndata: y\n\nretry: 10\ndata: z\n\ndata: \xff\n\n",
    b"data: \n\ndata\n\n",
]


@pytest.mark.parametrize("stream", LF_STREAMS)
def test_whole_events_in_a_chunk_parse_as_when_split_anywhere(stream: bytes) -> None:
    warm = b"data: first\n\n"  # past the first line, where a BOM may be
    reference, _ = parse_all(warm + stream, list(range(1, len(warm + stream))))
    at_once, _ = parse_all(warm + stream, [len(warm)])
    assert at_once == reference
    by_event = SseParser()
    events = by_event.feed(warm)
    for block in stream.split(b"\n\n")[:-1]:
        events += by_event.feed(block + b"\n\n")
    if stream.count(b"\n\n\n") == 0:
        assert events == reference
    assert b"".join(e.raw for e in at_once) == warm + stream
