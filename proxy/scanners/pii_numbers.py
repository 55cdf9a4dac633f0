"""Number-shaped PII: split a run of digits and separators into cards, SSNs, phones and IPv4s."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from itertools import accumulate, compress, repeat
from typing import Final, NamedTuple

from proxy.scanners.base import Finding
from proxy.scanners.fields import Tables, says_ssn
from proxy.scanners.pii_checks import (
    bounded,
    card_brand_ok,
    card_group_lengths_ok,
    card_grouping_ok,
    free_after,
    ipv4_at,
    luhn_ok,
    ssn_parts_ok,
)
from proxy.scanners.pii_phone import (
    MAX_PHONE_DIGITS,
    PHONE_CONTEXT_WIDTH,
    PhoneBudget,
    classify_phone,
    dials_abroad,
    latest_phone_word,
    most_phone_digits,
    phone_word_before,
)

CARD, SSN, IP = "pii.credit_card", "pii.us_ssn", "pii.ip_address"

_SSN_RE: Final = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_SSN_WRITTEN_RE: Final = re.compile(r"(\d{3})([-. ])(\d{2})\2(\d{4})")
_CARD_RE: Final = re.compile(r"\d{4}(?:([ \-])\d{2,6})(?:\1\d{2,6}){0,3}|\d{12,19}")
_CARD_SEPARATORS: Final = re.compile(r"[ \-]")
# Every character a number run may hold but digits and the space (see pii._CANDIDATES).
_SEPARATORS: Final = b"()+.-/xet"
_MAX_TOKENS_PER_CANDIDATE: Final = 8
_MAX_DIGITS: Final = 19  # the longest card number
_SSN_GROUPS: Final = [3, 2, 4]  # digits per token of "123 45 6789"


def _classify_single(
    text: str,
    start: int,
    end: int,
    digit_count: int,
    phone_word: bool | None,
    budget: PhoneBudget,
    tables: Tables,
) -> Finding | None:
    """One whitespace-free token: an IPv4 address, an SSN, a card or a phone number.

    `phone_word`: whether a phone word precedes the token, None if not yet looked up."""
    if digit_count < 4:
        return None  # the shortest value we validate, an IPv4 address, has 4 digits
    candidate = text[start:end]
    if not bounded(text, start, end):
        # "SSN#123-45-6789": a "#" usually makes an id of the number, but not after "SSN".
        if start > 0 and text[start - 1] == "#" and len(candidate) == 11 and free_after(text, end):
            return _written_ssn(text, start, end, candidate, 0.9, tables)
        # "http://10.0.0.1:8080/": the host of a URL, where a "/" before a number is no path.
        if (
            text[start - 2 : start] == "//"
            and free_after(text, end)
            and ipv4_at(text, start, candidate)
        ):
            return Finding(IP, start, end, 0.7)
        return None
    if ipv4_at(text, start, candidate):
        return Finding(IP, start, end, 0.7)
    if len(candidate) == 11:
        ssn = _SSN_RE.fullmatch(candidate)
        if ssn is not None:
            return Finding(SSN, start, end, 0.9) if ssn_parts_ok(*ssn.groups()) else None
        if digit_count == 9:
            return _written_ssn(text, start, end, candidate, 0.8, tables)
    if 12 <= digit_count <= _MAX_DIGITS:
        card = _card(text, start, end, candidate)
        if card is not None:
            return card
    if digit_count == 9 and candidate.isdigit():
        parts = candidate[:3], candidate[3:5], candidate[5:]
        if says_ssn(text, start, tables) and ssn_parts_ok(*parts):
            return Finding(SSN, start, end, 0.8)
        return None
    if not 7 <= digit_count <= most_phone_digits(candidate):
        return None
    return classify_phone(text, start, end, candidate, digit_count, phone_word, budget)


def _written_ssn(
    text: str, start: int, end: int, candidate: str, score: float, tables: Tables
) -> Finding | None:
    """ "123-45-6789", "123.45.6789" or "123 45 6789" where the text says it is an SSN: the
    dashed form counts anywhere it is bounded, the others (and "#123-45-6789") only here."""
    found = _SSN_WRITTEN_RE.fullmatch(candidate)
    if found is None or not says_ssn(text, start, tables):
        return None
    return Finding(SSN, start, end, score) if ssn_parts_ok(*found.group(1, 3, 4)) else None


def _card(text: str, start: int, end: int, candidate: str) -> Finding | None:
    if _CARD_RE.fullmatch(candidate) is None:
        return None
    groups = _CARD_SEPARATORS.split(candidate)
    digits = "".join(groups)
    if card_grouping_ok(groups) and card_brand_ok(digits) and luhn_ok(digits):
        return Finding(CARD, start, end, 0.95)
    return None


class _Tokens(NamedTuple):
    """The space-separated tokens of one run: text, absolute start, digit count."""

    pieces: list[str]
    starts: list[int]
    digits: list[int]
    has_x: bool  # an extension ("x12", "ext. 12") may be among them


def _tokens(run: str, start: int) -> _Tokens:
    # A run holds no whitespace but spaces, so str.split(" ") finds every token at C speed.
    pieces = run.split(" ")
    # Runs are ASCII: bytes.translate drops the separators in one C pass and keeps the
    # spaces, so the digit groups line up with the pieces.
    digits = list(map(len, run.encode().translate(None, _SEPARATORS).split(b" ")))
    if "" in pieces:  # two spaces in a row: drop the empty pieces
        offsets = list(accumulate(map((1).__add__, map(len, pieces)), initial=start))
        return _Tokens(
            list(filter(None, pieces)),
            list(compress(offsets, pieces)),
            list(compress(digits, pieces)),
            "x" in run,
        )
    starts = [start]
    position = start
    for piece in pieces[:-1]:
        position += len(piece) + 1
        starts.append(position)
    return _Tokens(pieces, starts, digits, "x" in run)


# Every value but a national phone number has a token with 3+ digits, or a "+", "(" or ".".
_MAY_HOLD_VALUE: Final = re.compile(r"[0-9](?:[^ 0-9]*[0-9]){2}|[+(.]")


def scan_number_cluster(
    text: str, start: int, end: int, out: list[Finding], budget: PhoneBudget, tables: Tables
) -> None:
    """Split a run of digits and separators into the entities it holds.

    A run can join several values ("10.0.0.1 - 10.0.0.9", a phone followed by a year), so try
    the longest space-separated sub-run first at each position. Only tokens where a value can
    begin are visited, found at C speed by `_candidate_starts`, and integer checks rule out
    most sub-runs before any string work: long runs of digit groups stay cheap.
    """
    run = text[start:end]
    if " " not in run:  # one token, the common case: no splitting to do
        digits = len(run.encode().translate(None, _SEPARATORS))
        if digits <= _MAX_DIGITS and (digits >= 7 or "." in run):
            # Only a national phone number needs the phone word: looked up if it comes to that.
            single = _classify_single(text, start, end, digits, None, budget, tables)
            if single is not None:
                out.append(single)
        return
    # Inside a run there are no letters, so a phone word can only precede its first tokens.
    window = text[max(0, start - PHONE_CONTEXT_WIDTH) : start]
    latest_word = latest_phone_word(text, start) if window.isascii() else None
    if latest_word == -1 and _MAY_HOLD_VALUE.search(run) is None:
        return
    tokens = _tokens(run, start)
    near_start = bisect_left(tokens.starts, start + PHONE_CONTEXT_WIDTH)
    resume = 0
    for index in _candidate_starts(text, start, end, tokens, near_start):
        if index < resume:
            continue
        position = tokens.starts[index]
        if index >= near_start:
            phone_word = False
        elif latest_word is None:
            phone_word = phone_word_before(text, position)
        else:
            phone_word = latest_word >= 0 and latest_word >= position - PHONE_CONTEXT_WIDTH
        found = _longest_at(text, tokens, index, phone_word, budget, tables)
        if found is not None:
            out.append(found[0])
            resume = found[1]


def _shape_starts_pattern() -> re.Pattern[bytes]:
    """Token sequences, as digit counts, where a value can begin without a phone word.

    Each token is one byte, 48 + its digit count ("4111 1111 1111 1111" is b"4444"). Cards:
    the groupings people write. NANP numbers: tokens cut at 3, 6 (and 10) digits, or at 1, 4,
    7 with the country code; tokens without digits ("-") may sit between. Single tokens: 7+
    digits. Everything else needs a "+", "(", "." or an extension, handled apart.
    """
    cards = ["4444", "465", "464", "4443", "445"]
    nanp = [(3, 3, 4), (3, 7), (6, 4), (1, 3, 3, 4), (1, 3, 7), (1, 6, 4), (1, 10)]
    nanp += [(4, 3, 4), (4, 7), (7, 4)]
    shapes = cards + ["0*".join(re.escape(chr(48 + n)) for n in parts) for parts in nanp]
    return re.compile(("(?=" + "|".join(shapes) + "|[7-~])").encode())


_SHAPE_STARTS: Final = _shape_starts_pattern()
# Tokens that start with "+", "(" or "00", or hold a ".": international numbers, "(415) …",
# IPv4.
_MARKED_TOKENS: Final = re.compile(r"(?:^|(?<= ))(?:[+(][^ ]*|00[1-9][^ ]*|[^ .]*\.[^ ]*)")


def _candidate_starts(
    text: str, start: int, end: int, tokens: _Tokens, near_start: int
) -> list[int]:
    """Indices of the tokens where a card, SSN, IP or phone number can begin, ascending."""
    if tokens.has_x or near_start == len(tokens.pieces):
        # Extensions are rare, and a short run next to its start is checked whole.
        return list(range(len(tokens.pieces)))
    shape = bytes(map(min, map((48).__add__, tokens.digits), repeat(126)))
    found = set(range(near_start))
    found.update(match.start() for match in _SHAPE_STARTS.finditer(shape))
    run = text[start:end]
    if "+" in run or "(" in run or "." in run or " 00" in run or run[:2] == "00":
        found.update(
            bisect_right(tokens.starts, start + match.start()) - 1
            for match in _MARKED_TOKENS.finditer(run)
        )
    return sorted(found)


_NO_LENGTHS: Final[frozenset[int]] = frozenset()


@lru_cache(maxsize=1024)
def _card_lengths(first_group: str) -> frozenset[int]:
    """Card number lengths a brand allows after these first four digits (none if not digits)."""
    if not first_group.isdigit():
        return frozenset()
    # Six-digit brand ranges (622126-622925) match with one of the two paddings; the whole
    # number is checked again later.
    return frozenset(
        n
        for n in range(12, 20)
        for pad in ("00", "99")
        if card_brand_ok(first_group + pad + "0" * (n - 6))
    )


def _longest_at(
    text: str,
    tokens: _Tokens,
    index: int,
    phone_word: bool,
    budget: PhoneBudget,
    tables: Tables,
) -> tuple[Finding, int] | None:
    """The longest value starting at token `index`, and the index of the token after it."""
    window = tokens.digits[index : index + _MAX_TOKENS_PER_CANDIDATE]
    # Digit totals of the sub-runs index..index+k; a value has at most 19 digits, 8 tokens.
    totals = list(accumulate(window))
    usable = bisect_right(totals, _MAX_DIGITS)
    first = tokens.pieces[index]
    card_lengths = _card_lengths(first) if window[0] == 4 else _NO_LENGTHS
    # Multi-token sub-runs hold 7+ digits; integer checks rule most out before any string
    # work: a card is 3-5 groups in a grouping people write with a brand's length. A spaced
    # phone is international ("+…"), has an extension, is NANP (10-11 digits; without a phone
    # word only in NANP grouping) or, next to a phone word, national: starting "0" or "(0".
    abroad = dials_abroad(first)
    international = first[0] == "+" or first[:2] == "(+"  # "(+44) 20 7946 0958"
    open_phone = international or abroad or tokens.has_x or (phone_word and first[0] in "0(")
    phone_digits = MAX_PHONE_DIGITS + 2 * abroad  # "0044": two digits for the "+"
    for k in range(usable - 1, max(bisect_left(totals, 7), 1) - 1, -1):
        total = totals[k]
        if k == 2 and window[:3] == _SSN_GROUPS:
            start = tokens.starts[index]
            end = tokens.starts[index + 2] + len(tokens.pieces[index + 2])
            ssn = _written_ssn(text, start, end, text[start:end], 0.8, tables)
            if ssn is not None and bounded(text, start, end):
                return ssn, index + 3
        card = total in card_lengths and card_group_lengths_ok(tuple(window[: k + 1]))
        phone = total <= phone_digits and (
            open_phone or (total in (10, 11) and (phone_word or _nanp_groups_ok(totals[: k + 1])))
        )
        if card or phone:
            stop = index + k + 1
            finding = _classify_multi(text, tokens, index, stop, total, card, phone_word, budget)
            if finding is not None:
                return finding, stop
    # Below 7 digits only an IPv4 address is left.
    if usable and (totals[0] >= 7 or "." in first):
        start = tokens.starts[index]
        finding = _classify_single(
            text, start, start + len(first), totals[0], phone_word, budget, tables
        )
        if finding is not None:
            return finding, index + 1
    return None


# Where spaces may fall in a NANP number, counted in digits: 415 555 2671, 1 415 555 2671.
_NANP_CUTS: Final = (frozenset({3, 6, 10}), frozenset({1, 4, 7, 11}))


def _nanp_groups_ok(totals: list[int]) -> bool:
    """Whether tokens with these running digit totals can be a NANP number without extension."""
    return totals[-1] in (10, 11) and any(cuts.issuperset(totals) for cuts in _NANP_CUTS)


def _classify_multi(
    text: str,
    tokens: _Tokens,
    index: int,
    stop: int,
    total: int,
    card: bool,
    phone_word: bool,
    budget: PhoneBudget,
) -> Finding | None:
    """Tokens index..stop-1 joined by spaces: a grouped card or a spaced phone number."""
    pieces = tokens.pieces[index:stop]
    start = tokens.starts[index]
    end = tokens.starts[stop - 1] + len(pieces[-1])
    if not bounded(text, start, end):
        return None
    candidate = text[start:end]
    # Card groups: digits only, one space between them.
    if card and len(candidate) == total + len(pieces) - 1 and all(map(str.isdigit, pieces)):
        number = "".join(pieces)
        if card_brand_ok(number) and luhn_ok(number):
            return Finding(CARD, start, end, 0.95)
    if 7 <= total <= most_phone_digits(candidate):
        return classify_phone(text, start, end, candidate, total, phone_word, budget)
    return None
