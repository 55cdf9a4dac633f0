"""Phone numbers: shape rules per numbering plan and libphonenumber's verdict, with a fast path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from re import Pattern
from typing import Final

import phonenumbers

from proxy.scanners.base import Finding

PHONE: Final = "pii.phone"
PHONE_CONTEXT: Final = (
    "phone", "tel", "call", "mobile", "cell", "fax", "text", "whatsapp", "contact", "sms",
    "handy", "telefon", "rufnummer", "téléphone", "portable", "appel", "mobiel", "bel ",
)  # fmt: skip
PHONE_CONTEXT_WIDTH: Final = 32
# Short words that also end other words ("context", "recall", "hotel", "excel"): these count
# only where a word starts. The others count inside a word too ("cellphone", "Mobiltelefon").
_WORD_START_ONLY: Final = frozenset({"tel", "call", "cell", "fax", "text", "sms", "bel "})


def _phone_word_pattern(word: str) -> str:
    return ("(?<![^\\W\\d_])" if word in _WORD_START_ONLY else "") + re.escape(word)


# Matches up to the start of the last phone word: the greedy ".*" backs off from the end until
# a word starts there, in one match call (a search would set up a match at every position).
_LAST_PHONE_WORD: Final = re.compile(
    "(?s:.*)(?=" + "|".join(map(_phone_word_pattern, PHONE_CONTEXT)) + ")"
)
_NANP_RE: Final = re.compile(
    r"(?:\+?1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?: ?(?:x|ext\.?) ?\d{1,5})?"
)
# "+44 20 7946 0958", "+14155552671x12".
_INTERNATIONAL_RE: Final = re.compile(
    r"\+\d{1,3}(?:[ .\-]?(?:\(\d{1,5}\)|\d{1,5})){1,7}(?: ?(?:x|ext\.?) ?\d{1,5})?"
)
# "0044 20 7946 0958": most of the world dials "00" where "+" is written. Only a first group of
# exactly "00" and a country code, set apart, reads as one; "0044207946095" is an order number
# as likely as a phone and keeps needing a phone word.
_DIALLED_ABROAD: Final = re.compile(r"(00\d{1,3})[ .\-]")
# Digits of an international number: at most 15 after the "+", or after "00".
MAX_PHONE_DIGITS: Final = 15
_NATIONAL_RE: Final = re.compile(r"(?:\(?0\d{1,5}\)?[ .\-/]?)(?:\d{2,8}[ .\-]?){1,4}")
_REGIONS: Final = ("US", "GB", "DE", "FR", "NL")
_NON_DIGITS: Final = re.compile(r"\D+")
_BUDGET_BASE: Final = 16
_CHARS_PER_PARSE: Final = 256


@dataclass(frozen=True, slots=True)
class _RegionPlan:
    """What a national significant number must look like in a region, for a cheap pre-check.

    `lengths` and `shape` cover every region sharing the country code: libphonenumber checks a
    parsed +1 number against the whole NANP (a 7-digit Canadian number is valid parsed as
    "US"). `shape` is the union of their general number patterns.
    """

    lengths: frozenset[int]
    shape: Pattern[str]
    idd: str
    # Leading digits parse() may strip before the national significant number: the country
    # code, the national prefix (once or twice), the country code and then the prefix.
    strippable: tuple[str, ...]


def _region_plan(region: str) -> _RegionPlan:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None and metadata.country_code is not None
    lengths: set[int] = set()
    shapes: list[str] = []
    for sibling in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[metadata.country_code]:
        sibling_metadata = phonenumbers.PhoneMetadata.metadata_for_region(sibling)
        if sibling_metadata is None or sibling_metadata.general_desc is None:
            continue
        lengths.update(sibling_metadata.general_desc.possible_length)
        if sibling_metadata.general_desc.national_number_pattern:
            shapes.append(sibling_metadata.general_desc.national_number_pattern)
    # Simple alternatives of digits for the regions we use ("0", "1", "0|180020").
    prefixes = tuple(p for p in (metadata.national_prefix_for_parsing or "").split("|") if p)
    assert all(p.isdigit() for p in prefixes), region
    country_code = str(metadata.country_code)
    once = (country_code, *prefixes)
    twice = [a + b for a in once for b in prefixes] + [
        a + b + c for a in once for b in prefixes for c in prefixes
    ]
    return _RegionPlan(
        lengths=frozenset(lengths),
        shape=re.compile("|".join(f"(?:{shape})" for shape in shapes)),
        idd=metadata.international_prefix or "",
        strippable=tuple(dict.fromkeys((*once, *twice))),
    )


_REGION_PLANS: Final = {region: _region_plan(region) for region in _REGIONS}


def _may_be_valid(digits: str, region: str) -> bool:
    """A necessary condition for validity in `region`, checked before the costly parse.

    libphonenumber accepts a number only if its national significant part, what is left after
    an optional country code and national prefix (stripped at most twice), has one of the
    region's possible lengths and its general shape; after the IDD prefix anything may follow.
    """
    plan = _REGION_PLANS[region]
    if plan.idd and digits.startswith(plan.idd):
        return True
    lengths, shape = plan.lengths, plan.shape
    if len(digits) in lengths and shape.fullmatch(digits) is not None:
        return True
    # What parse() may strip: the country code, then the national prefix, at most twice.
    for prefix in plan.strippable:
        if digits.startswith(prefix):
            option = digits[len(prefix) :]
            if len(option) in lengths and shape.fullmatch(option) is not None:
                return True
    return False


class PhoneBudget:
    """How many more libphonenumber parses one scan may spend.

    A parse costs 50-100 µs, so a text packed with phone-like numbers next to phone words
    ("tel 030 12 34 56 78 …") would otherwise cost a hundred times a plain text of the same
    size. Past the budget a candidate is judged by the cheap check alone (possible length and
    general shape in one of the regions): the scan stays linear and fast, and in such a list
    it may over-report a look-alike but does not miss a phone.
    """

    __slots__ = ("remaining", "_verdicts")

    def __init__(self, text_length: int) -> None:
        self.remaining = _BUDGET_BASE + text_length // _CHARS_PER_PARSE
        self._verdicts: dict[tuple[str, tuple[str, ...]], bool] = {}

    def valid(self, candidate: str, regions: tuple[str, ...]) -> bool:
        """libphonenumber's verdict in any of `regions`, while the budget lasts."""
        key = (candidate, regions)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = self._judge(candidate, regions)
        return verdict

    def _judge(self, candidate: str, regions: tuple[str, ...]) -> bool:
        if "x" in candidate or candidate[0] == "+":
            # Extensions and international numbers: no cheap pre-check, one parse.
            if self.remaining <= 0:
                return True
            self.remaining -= 1
            return any(_parse_valid(candidate, region) for region in regions)
        digits = _NON_DIGITS.sub("", candidate)
        for region in regions:
            if not _may_be_valid(digits, region):
                continue
            if self.remaining <= 0:
                return True
            self.remaining -= 1
            if _parse_valid(candidate, region):
                return True
        return False


@lru_cache(maxsize=4096)
def _parse_valid(candidate: str, region: str) -> bool:
    """libphonenumber's verdict for one region; cached, as lists repeat numbers."""
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def phone_valid(candidate: str, regions: tuple[str, ...]) -> bool:
    """libphonenumber's verdict in any of `regions`, skipping the regions the cheap check
    rules out; no budget."""
    budget = PhoneBudget(0)
    budget.remaining = len(regions)
    return budget.valid(candidate, regions)


_COUNTRY_CODES: Final = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def dials_abroad(token: str) -> bool:
    """Whether a number's first group is "00" and then a country code ("0044", "001")."""
    code = token[2:]
    if token[:2] != "00" or not 1 <= len(code) <= 3 or not code.isdigit() or code[0] == "0":
        return False  # "00.1", "00(1)": no country code to read
    return int(code) in _COUNTRY_CODES


def most_phone_digits(number: str) -> int:
    """Digits a phone number may hold: "0044…" spends two on the "00" that "+44…" writes "+"."""
    return MAX_PHONE_DIGITS + 2 * (number[:2] == "00")


def _as_international(candidate: str) -> str | None:
    """ "0044 20 7946 0958" written as "+44 20 7946 0958", or None if it is no such number."""
    found = _DIALLED_ABROAD.match(candidate)
    if found is None or not dials_abroad(found.group(1)):
        return None
    return "+" + candidate[2:]


def context_before(text: str, start: int, words: tuple[str, ...], width: int = 48) -> bool:
    window = text[max(0, start - width) : start].lower()
    return any(word in window for word in words)


def phone_word_before(text: str, start: int) -> bool:
    """A phone word within `PHONE_CONTEXT_WIDTH` characters before `start`."""
    return latest_phone_word(text, start) >= 0


def latest_phone_word(text: str, start: int) -> int:
    """Start of the last phone word that ends by `start` and begins at most one context width
    before it, or -1: whether it is in context for a position p is `latest >= p - width`."""
    offset = max(0, start - PHONE_CONTEXT_WIDTH)
    # One character more on the left, so that a word cut by the window ("re|call") is seen
    # as the word's end it is, not as a word start.
    lead = 1 if offset else 0
    found = _LAST_PHONE_WORD.match(text[offset - lead : start].lower(), lead)
    return -1 if found is None else offset - lead + found.end()


def classify_phone(
    text: str,
    start: int,
    end: int,
    candidate: str,
    digit_count: int,
    phone_word: bool | None,
    budget: PhoneBudget,
) -> Finding | None:
    """`phone_word`: whether a phone word precedes the candidate, None if not yet checked."""
    # "(+44) 20 7946 0958": the country code in brackets, dialled as "+44 20 7946 0958".
    dialled = "+" + candidate[2:].replace(")", "", 1) if candidate[:2] == "(+" else candidate
    if dialled[0] == "+":
        if _INTERNATIONAL_RE.fullmatch(dialled) and budget.valid(dialled, ("US",)):
            return Finding(PHONE, start, end, 0.85)
        return None
    if candidate[:2] == "00":
        international = _as_international(candidate)
        if international is not None:
            if _INTERNATIONAL_RE.fullmatch(international) and budget.valid(international, ("US",)):
                return Finding(PHONE, start, end, 0.8)
            return None
    # A NANP number has 10 digits, 11 with the leading 1, more only with an extension.
    if (digit_count <= 11 or "x" in candidate) and _NANP_RE.fullmatch(candidate):
        return Finding(PHONE, start, end, 0.85) if budget.valid(candidate, ("US",)) else None
    # Bare digit runs and national formats look like ids, timestamps and amounts; only a phone
    # word nearby makes them phones.
    if phone_word is None:
        phone_word = phone_word_before(text, start)
    if phone_word and (candidate.isdigit() or _NATIONAL_RE.fullmatch(candidate)):
        if budget.valid(candidate, _REGIONS):
            return Finding(PHONE, start, end, 0.7)
    return None
