"""Match spans of a compiled RE2 pattern, without the `re2` module's per-match Python cost.

`re2`'s `finditer` builds an offset table, a closure and a match object for every match: about
ten times the cost of RE2's own search. Text packed with candidates (a list of phone numbers,
e-mail addresses or IPs) pays it per candidate, so the scanners call the compiled RE2 object
directly. That object sits below the module's documented API (`_Regexp._regexp`, the `Match`
of `re2._re2`); `tests/unit/test_re2_spans.py` holds these functions to `finditer`'s answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

import re2

Span = tuple[int, int]

_UNANCHORED: Final = re2._Anchor.UNANCHORED
_NO_MATCH: Final = -1


def match_groups(pattern: Any, text: str) -> Iterator[list[Span]]:
    """Like `pattern.finditer(text)`: for each match, the spans of group 0 and of every group
    ((-1, -1) for a group that did not take part), in character offsets."""
    data = text.encode()
    match = pattern._regexp.Match
    end = len(data)
    ascii_only = end == len(text)
    position = 0
    # Offsets come in bytes: count the characters up to each match start as we go.
    char_base, byte_base = 0, 0
    while position <= end:
        spans: list[Span] = match(_UNANCHORED, data, position, end)
        start, stop = spans[0]
        if start == _NO_MATCH:
            return
        if ascii_only:
            yield spans
        else:
            char_base += len(data[byte_base:start].decode())
            byte_base = start
            yield [_to_chars(span, data, start, char_base) for span in spans]
        position = _after(data, start, stop)


def alternation_groups(patterns: Sequence[Any], text: str) -> Iterator[tuple[int, list[Span]]]:
    """Like `match_groups` for the alternation `p0|p1|…` of `patterns` (leftmost-first: at
    the leftmost start, the first pattern matching there wins), each match with the index of
    that pattern, from one RE2 object per pattern.

    One alternation of many counted repetitions (`[A-Za-z0-9]{36,255}`, `{12,200}`, ...)
    makes a DFA whose states multiply: on text it has not seen, RE2 rebuilds states for every
    character and a 10 KB text can cost 100 ms. Each pattern alone keeps a small DFA. Every
    pattern's next match is kept; after a match only those starting before its end search
    again, so the patterns cost one pass each over the text, plus one call per match.
    """
    data = text.encode()
    end = len(data)
    ascii_only = end == len(text)
    heads: dict[int, list[Span]] = {}
    for index, pattern in enumerate(patterns):
        spans = pattern._regexp.Match(_UNANCHORED, data, 0, end)
        if spans[0][0] != _NO_MATCH:
            heads[index] = spans
    char_base, byte_base = 0, 0
    while heads:
        index = min(heads, key=lambda i: (heads[i][0][0], i))
        spans = heads[index]
        start, stop = spans[0]
        if ascii_only:
            yield index, spans
        else:
            char_base += len(data[byte_base:start].decode())
            byte_base = start
            yield index, [_to_chars(span, data, start, char_base) for span in spans]
        position = _after(data, start, stop)
        for other in [i for i, found in heads.items() if found[0][0] < position]:
            if position > end:
                del heads[other]
                continue
            spans = patterns[other]._regexp.Match(_UNANCHORED, data, position, end)
            if spans[0][0] == _NO_MATCH:
                del heads[other]
            else:
                heads[other] = spans


def _after(data: bytes, start: int, stop: int) -> int:
    """Where the search resumes after the match data[start:stop]: its end or, after an empty
    match, the next character, as `finditer` does."""
    if stop > start:
        return stop
    position = stop + 1
    while position < len(data) and data[position] & 0xC0 == 0x80:
        position += 1
    return position


def _to_chars(span: Span, data: bytes, byte_base: int, char_base: int) -> Span:
    start, stop = span
    if start == _NO_MATCH:
        return span
    # Every span of a match begins at or after the match's start.
    first = char_base + len(data[byte_base:start].decode())
    return first, first + len(data[start:stop].decode())


def has_match(pattern: Any, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text`: `pattern.search(text) is not None`, at
    the cost of one call into RE2. Compile `pattern` without captures (RE2's `never_capture`
    option) when it has any: RE2 then needs no submatch engine, a third of the cost."""
    data = text.encode()
    return bool(pattern._regexp.Match(_UNANCHORED, data, 0, len(data))[0][0] != _NO_MATCH)


def match_spans(pattern: Any, text: str) -> list[Span]:
    """The span of every match of `pattern` in `text`, like `[m.span() for m in finditer]`."""
    return [spans[0] for spans in match_groups(pattern, text)]
