"""Phone numbers: shape rules per numbering plan and libphonenumber's verdict, with a fast path."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers

from proxy.scanners.base import Finding

PHONE: Final = "pii.phone"
PHONE_CONTEXT: Final = (
    "phone", "tel", "call", "mobile", "cell", "fax", "text", "whatsapp", "contact", "sms",
    "handy", "telefon", "rufnummer", "téléphone", "portable", "appel", "mobiel", "bel ",
)  # fmt: skip
PHONE_CONTEXT_WIDTH: Final = 32
_NANP_RE: Final = re.compile(
    r"(?:\+?1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?: ?(?:x|ext\.?) ?\d{1,5})?"
)
_INTERNATIONAL_RE: Final = re.compile(r"\+\d{1,3}(?:[ .\-]?(?:\(\d{1,5}\)|\d{1,5})){1,7}")
_NATIONAL_RE: Final = re.compile(r"(?:\(?0\d{1,5}\)?[ .\-/]?)(?:\d{2,8}[ .\-]?){1,4}")
_REGIONS: Final = ("US", "GB", "DE", "FR", "NL")
_NON_DIGITS: Final = re.compile(r"\D+")


def _region_plan(region: str) -> tuple[frozenset[int], str, tuple[str, ...], str]:
    """National number lengths, country code, national prefixes and IDD prefix of a region.

    The lengths are those of every region sharing the country code: libphonenumber validates a
    parsed +1 number against the whole NANP (a 7-digit Canadian number is valid when parsed
    as "US").
    """
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None and metadata.country_code is not None
    lengths: set[int] = set()
    for sibling in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[metadata.country_code]:
        sibling_metadata = phonenumbers.PhoneMetadata.metadata_for_region(sibling)
        if sibling_metadata is not None and sibling_metadata.general_desc is not None:
            lengths.update(sibling_metadata.general_desc.possible_length)
    # Simple alternatives of digits for the regions we use ("0", "1", "0|180020").
    prefixes = tuple(p for p in (metadata.national_prefix_for_parsing or "").split("|") if p)
    assert all(p.isdigit() for p in prefixes), region
    return (
        frozenset(lengths),
        str(metadata.country_code),
        prefixes,
        metadata.international_prefix or "",
    )


_REGION_PLANS: Final = {region: _region_plan(region) for region in _REGIONS}


def _length_possible(digits: str, region: str) -> bool:
    """A necessary condition for validity in `region`, checked before the costly parse.

    libphonenumber accepts a number only if its national significant part, what is left after
    an optional country code and national prefix, has one of the region's possible lengths;
    dialled with the IDD prefix, anything may follow.
    """
    lengths, country_code, prefixes, idd = _REGION_PLANS[region]
    if idd and digits.startswith(idd):
        return True
    options = [digits]
    if digits.startswith(country_code):
        options.append(digits[len(country_code) :])
    for option in tuple(options):
        options.extend(option[len(p) :] for p in prefixes if option.startswith(p))
    return any(len(option) in lengths for option in options)


@lru_cache(maxsize=2048)
def phone_valid(candidate: str, regions: tuple[str, ...]) -> bool:
    """libphonenumber's verdict in any of `regions`; cached, as lists repeat numbers."""
    digits = None if "x" in candidate else _NON_DIGITS.sub("", candidate)
    for region in regions:
        if digits is not None and candidate[0] != "+" and not _length_possible(digits, region):
            continue
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def context_before(text: str, start: int, words: tuple[str, ...], width: int = 48) -> bool:
    window = text[max(0, start - width) : start].lower()
    return any(word in window for word in words)


def latest_phone_word(text: str, start: int) -> int:
    """Start of the last phone word that ends by `start` and begins at most one context width
    before it, or -1: whether it is in context for a position p is `latest >= p - width`."""
    offset = max(0, start - PHONE_CONTEXT_WIDTH)
    window = text[offset:start].lower()
    return max((offset + window.rfind(w) for w in PHONE_CONTEXT if w in window), default=-1)


def classify_phone(
    text: str, start: int, end: int, candidate: str, digit_count: int, phone_word: bool | None
) -> Finding | None:
    """`phone_word`: whether a phone word precedes the candidate, None if not yet checked."""
    if candidate[0] == "+":
        if _INTERNATIONAL_RE.fullmatch(candidate) and phone_valid(candidate, ("US",)):
            return Finding(PHONE, start, end, 0.85)
        return None
    # A NANP number has 10 digits, 11 with the leading 1, more only with an extension.
    if (digit_count <= 11 or "x" in candidate) and _NANP_RE.fullmatch(candidate):
        return Finding(PHONE, start, end, 0.85) if phone_valid(candidate, ("US",)) else None
    # Bare digit runs and national formats look like ids, timestamps and amounts; only a phone
    # word nearby makes them phones.
    if phone_word is None:
        phone_word = context_before(text, start, PHONE_CONTEXT, PHONE_CONTEXT_WIDTH)
    if phone_word and (candidate.isdigit() or _NATIONAL_RE.fullmatch(candidate)):
        if phone_valid(candidate, _REGIONS):
            return Finding(PHONE, start, end, 0.7)
    return None
