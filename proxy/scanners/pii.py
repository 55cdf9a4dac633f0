"""PII scanner: e-mail, phone, payment card, US SSN, IBAN and IP addresses, each validated."""

from __future__ import annotations

import re
from typing import Final

import phonenumbers
import re2

from proxy.scanners.base import Finding
from proxy.scanners.pii_checks import (
    IBAN_LENGTHS,
    card_brand_ok,
    card_grouping_ok,
    iban_ok,
    ipv4_ok,
    ipv6_ok,
    luhn_ok,
    ssn_parts_ok,
)

EMAIL, PHONE, CARD, SSN, IBAN, IP = (
    "pii.email",
    "pii.phone",
    "pii.credit_card",
    "pii.us_ssn",
    "pii.iban",
    "pii.ip_address",
)

# One RE2 pass finds every candidate shape; RE2 scans a prompt with no candidates in a few µs,
# where the stdlib engine spends ~100 µs per character-class-led pattern. Python then validates
# the few candidates (RE2 has no look-arounds, so boundaries are checked there too).
_CANDIDATES: Final = re2.compile(
    r"([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)"
    r"|([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})"
    r"|([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)"
    r"|(\+?\(?[0-9][0-9(). \-]{5,}[0-9](?: ?(?:x|ext\.?) ?[0-9]{1,5})?)"
)

# File extensions that show up after "@" in asset names (icon@2x.png) and are never TLDs here.
_NOT_TLDS: Final = frozenset(
    "png jpg jpeg gif webp svg ico bmp tif tiff avif heic js mjs ts tsx jsx css scss map html "
    "json yaml yml xml txt md pdf zip gz tgz tar lock wasm vue".split()
)
_TLD_RE: Final = re.compile(r"[A-Za-z]{2,24}")
_SSN_RE: Final = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_NANP_RE: Final = re.compile(
    r"(?:\+?1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}(?: ?(?:x|ext\.?) ?\d{1,5})?"
)
_INTERNATIONAL_RE: Final = re.compile(r"\+\d{1,3}(?:[ .\-]?(?:\(\d{1,5}\)|\d{1,5})){1,7}")
_NATIONAL_RE: Final = re.compile(r"(?:\(?0\d{1,5}\)?[ .\-/]?)(?:\d{2,8}[ .\-]?){1,4}")
_CARD_RE: Final = re.compile(r"\d{4}(?:([ \-])\d{2,6})(?:\1\d{2,6}){0,3}|\d{12,19}")
_NUMBER_BOUNDARY: Final = frozenset("_-.$€£,/#")
_PHONE_CONTEXT: Final = (
    "phone", "tel", "call", "mobile", "cell", "fax", "text", "whatsapp", "contact", "sms",
    "handy", "telefon", "rufnummer", "téléphone", "portable", "appel", "mobiel", "bel ",
)  # fmt: skip
_SSN_CONTEXT: Final = ("ssn", "social security", "soc. sec", "soc sec")
_PHONE_REGIONS: Final = ("US", "GB", "DE", "FR", "NL")
_KEEP_DIGITS: Final = str.maketrans("", "", "()+.- /xet")
MAX_MATCH_LEN: Final = 64
_MAX_TOKENS_PER_CANDIDATE: Final = 8


def _context_before(text: str, start: int, words: tuple[str, ...], width: int = 48) -> bool:
    window = text[max(0, start - width) : start].lower()
    return any(word in window for word in words)


def _bounded(text: str, start: int, end: int) -> bool:
    """A number must not be glued to a word, a price or a dotted/dashed identifier."""
    if start > 0:
        before = text[start - 1]
        if before.isalnum() or before in _NUMBER_BOUNDARY:
            return False
    if end < len(text):
        after = text[end]
        if after.isalnum() or after == "_":
            return False
        if after in ".-" and end + 1 < len(text) and text[end + 1].isalnum():
            return False
    return True


def _phone_valid(candidate: str, regions: tuple[str, ...]) -> bool:
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _classify_number(text: str, start: int, end: int, digit_count: int) -> Finding | None:
    if digit_count < 4 or not _bounded(text, start, end):
        return None  # the shortest value we validate, an IPv4 address, has 4 digits
    candidate = text[start:end]
    if ipv4_ok(candidate):
        return Finding(IP, start, end, 0.7)
    ssn = _SSN_RE.fullmatch(candidate)
    if ssn is not None:
        return Finding(SSN, start, end, 0.9) if ssn_parts_ok(*ssn.groups()) else None
    if _CARD_RE.fullmatch(candidate) is not None:
        groups = re.split(r"[ \-]", candidate)
        digits = "".join(groups)
        if card_grouping_ok(groups) and card_brand_ok(digits) and luhn_ok(digits):
            return Finding(CARD, start, end, 0.95)
    if candidate.isdigit() and len(candidate) == 9:
        if _context_before(text, start, _SSN_CONTEXT) and ssn_parts_ok(
            candidate[:3], candidate[3:5], candidate[5:]
        ):
            return Finding(SSN, start, end, 0.8)
        return None
    if not 7 <= digit_count <= 15:
        return None
    return _classify_phone(text, start, end, candidate)


def _classify_phone(text: str, start: int, end: int, candidate: str) -> Finding | None:
    if candidate[0] == "+":
        if _INTERNATIONAL_RE.fullmatch(candidate) and _phone_valid(candidate, ("US",)):
            return Finding(PHONE, start, end, 0.85)
        return None
    if _NANP_RE.fullmatch(candidate):
        return Finding(PHONE, start, end, 0.85) if _phone_valid(candidate, ("US",)) else None
    # Bare digit runs and national formats look like ids, timestamps and amounts; only a phone
    # word nearby makes them phones.
    if (candidate.isdigit() or _NATIONAL_RE.fullmatch(candidate)) and _context_before(
        text, start, _PHONE_CONTEXT, 32
    ):
        if _phone_valid(candidate, _PHONE_REGIONS):
            return Finding(PHONE, start, end, 0.7)
    return None


def _scan_number_cluster(text: str, start: int, end: int, out: list[Finding]) -> None:
    """Split a run of digits and separators into the entities it holds.

    A run can join several values ("10.0.0.1 - 10.0.0.9", a phone followed by a year), so try
    the longest space-separated sub-run first at each position.
    """
    tokens = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    run = text[start:end]
    digits = [len(run[a - start : b - start].translate(_KEEP_DIGITS)) for a, b in tokens]
    index = 0
    while index < len(tokens):
        # Multi-token values (grouped cards, spaced phones) have 7-19 digits; bounding the
        # sub-runs by digit count keeps a long run of "1 1 1 …" linear and cheap.
        stops, total = [], 0
        for stop in range(index, min(len(tokens), index + _MAX_TOKENS_PER_CANDIDATE)):
            total += digits[stop]
            if total > 19:
                break
            if stop == index or total >= 7:
                stops.append(stop + 1)
        for stop in reversed(stops):
            token_start, token_end = tokens[index][0], tokens[stop - 1][1]
            count = sum(digits[index:stop])
            finding = _classify_number(text, token_start, token_end, count)
            if finding is not None:
                out.append(finding)
                index = stop
                break
        else:
            index += 1


def _scan_email(text: str, start: int, end: int, out: list[Finding]) -> None:
    candidate = text[start:end].rstrip(".-")
    end = start + len(candidate)
    local, _, domain = candidate.partition("@")
    if ipv4_ok(domain):
        ip_start = end - len(domain)
        if _bounded(text, ip_start - 1, end) or text[ip_start - 1] == "@":
            out.append(Finding(IP, ip_start, end, 0.7))
        return
    tld = domain.rsplit(".", 1)[-1]
    if not _TLD_RE.fullmatch(tld) or tld.lower() in _NOT_TLDS:
        return
    if not local or local[0] in ".-" or ".." in candidate:
        return
    if any(label.startswith("-") or label.endswith("-") for label in domain.split(".")):
        return
    out.append(Finding(EMAIL, start, end, 0.95))


def _scan_iban(text: str, start: int, end: int, out: list[Finding]) -> None:
    # The candidate may run into the next upper-case word; cut at the country's length.
    compact, positions = [], []
    for offset in range(start, end):
        if text[offset] != " ":
            compact.append(text[offset])
            positions.append(offset)
    country_code = "".join(compact[:2])
    length = IBAN_LENGTHS.get(country_code)
    if length is None or len(compact) < length:
        return
    cut = positions[length - 1] + 1
    if not _bounded(text, start, cut) and not (start == 0 or not text[start - 1].isalnum()):
        return
    if cut < len(text) and text[cut].isalnum():
        return
    if iban_ok("".join(compact[:length])):
        out.append(Finding(IBAN, start, cut, 0.95))


class PIIScanner:
    """Validated PII: every candidate must pass its checksum, range or number-plan check."""

    name = "pii"
    kinds: frozenset[str] = frozenset({EMAIL, PHONE, CARD, SSN, IBAN, IP})
    max_match_len = MAX_MATCH_LEN

    def scan(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        for match in _CANDIDATES.finditer(text):
            start, end = match.span()
            if match.start(1) >= 0:
                _scan_email(text, start, end, findings)
            elif match.start(2) >= 0:
                if ipv6_ok(text[start:end]) and _bounded_hex(text, start, end):
                    findings.append(Finding(IP, start, end, 0.7))
            elif match.start(3) >= 0:
                _scan_iban(text, start, end, findings)
            else:
                _scan_number_cluster(text, start, end, findings)
        return findings


def _bounded_hex(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or before in "_.:") and not (after.isalnum() or after == "_")
