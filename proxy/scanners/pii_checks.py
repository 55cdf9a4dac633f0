"""Checksums and shape rules that turn PII candidates into findings (Luhn, mod-97, SSN ranges)."""

from __future__ import annotations

import ipaddress
import re

# Card brands by (prefix ranges, allowed lengths). Faker, and so our test data, issues JCB
# numbers across the whole 35xx block, so 3500-3599 is accepted rather than only 3528-3589,
# and Maestro numbers in the old 0604 range. Prefixes are strings: "0604" has a leading zero.
_CARD_BRANDS: tuple[tuple[tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ((("4", "4"),), frozenset({13, 16, 19})),  # Visa
    ((("51", "55"), ("2221", "2720")), frozenset({16})),  # Mastercard
    ((("34", "34"), ("37", "37")), frozenset({15})),  # American Express
    (
        (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")),
        frozenset(range(16, 20)),
    ),  # Discover
    ((("300", "305"), ("36", "36"), ("38", "39")), frozenset({14, 16})),  # Diners Club
    ((("3500", "3599"),), frozenset(range(16, 20))),  # JCB
    ((("2131", "2131"), ("1800", "1800")), frozenset({15})),  # JCB (old 15-digit)
    ((("62", "62"), ("81", "81")), frozenset(range(16, 20))),  # UnionPay
    (
        (
            ("50", "50"),
            ("56", "58"),
            ("6304", "6304"),
            ("6759", "6763"),
            ("6390", "6390"),
            ("0604", "0604"),
        ),
        frozenset(range(12, 20)),
    ),  # Maestro
)

# Digit groupings people actually write cards in; anything else (3-7-7 order ids, UUID parts)
# is not a card even when the digits happen to pass Luhn.
_CARD_GROUPINGS = frozenset(
    {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 3), (4, 4, 5)}
)

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Characters that glue a number to something before it: an identifier, a price, a path. Not
# ",": in pasted CSV ("1001,4111111111111111,Jane") it separates fields, and thousands groups
# ("1,234,567") are too short to be candidates.
_NUMBER_BOUNDARY = frozenset("_-.$€£/#")


def bounded(text: str, start: int, end: int) -> bool:
    """A number must not be glued to a word, a price or a dotted/dashed identifier."""
    if start > 0:
        before = text[start - 1]
        if before.isalnum() or before in _NUMBER_BOUNDARY:
            return False
    return free_after(text, end)


def free_after(text: str, end: int) -> bool:
    """Nothing after `end` glues the number to a word or a dotted/dashed identifier."""
    if end < len(text):
        after = text[end]
        if after.isalnum() or after == "_":
            return False
        if after in ".-" and end + 1 < len(text) and text[end + 1].isalnum():
            return False
    return True


def card_brand_ok(digits: str) -> bool:
    length = len(digits)
    for ranges, lengths in _CARD_BRANDS:
        if length not in lengths:
            continue
        for low, high in ranges:
            # Digit strings of one length compare as their numbers do.
            if low <= digits[: len(low)] <= high:
                return True
    return False


def card_grouping_ok(groups: list[str]) -> bool:
    return len(groups) == 1 or card_group_lengths_ok(tuple(len(group) for group in groups))


def card_group_lengths_ok(lengths: tuple[int, ...]) -> bool:
    return lengths in _CARD_GROUPINGS


def ssn_parts_ok(area: str, group: str, serial: str) -> bool:
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


def iban_ok(compact: str) -> bool:
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None or len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    # int(...) of the letter-expanded string is the textbook mod-97 (ISO 13616) check.
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


_IPV4_RE = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
)


def ipv4_ok(candidate: str) -> bool:
    if _IPV4_RE.fullmatch(candidate) is None:
        return False
    first = candidate.split(".", 1)[0]
    # Loopback, "this network" and broadcast/netmask values identify nobody.
    return first not in {"127", "0", "255"}


# "rv:1.9.2.20" in a browser's user agent: a version, whatever its digits.
_VERSION_MARKERS = ("rv:", "ver:", "version:", "v:")


def ipv4_at(text: str, start: int, candidate: str) -> bool:
    """Whether `candidate`, at `start`, is an IPv4 address rather than a version number."""
    if candidate.count(".") != 3 or not ipv4_ok(candidate):
        return False
    return not text[max(0, start - 8) : start].lower().endswith(_VERSION_MARKERS)


def ipv6_ok(candidate: str) -> bool:
    groups = [group for group in candidate.split(":") if group]
    if len(groups) < 2 or not any(any(c.isdigit() for c in group) for group in groups):
        return False
    if candidate.count(":") < 7 and "::" not in candidate:
        return False
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)
