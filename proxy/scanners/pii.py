"""PII scanner: e-mail, phone, payment card, US SSN, IBAN and IP addresses, each validated."""

from __future__ import annotations

import re
from typing import Final

import re2

from proxy.scanners.base import Finding
from proxy.scanners.fields import Tables
from proxy.scanners.pii_checks import IBAN_LENGTHS, bounded, iban_ok, ipv4_ok, ipv6_ok
from proxy.scanners.pii_numbers import scan_number_cluster
from proxy.scanners.pii_phone import PhoneBudget, context_before
from proxy.scanners.re2_spans import match_spans

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
# No capture groups: with them RE2 re-runs a slower engine over every match. The shapes are
# told apart by their characters instead: only an e-mail has "@", only an IPv6 shape has ":",
# only an IBAN starts with a letter. Colon runs are matched whole, so "a:a:a:…" is one
# candidate rather than one per eight groups.
_CANDIDATES: Final = re2.compile(
    r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"
    r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,}"
    r"|[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?"
    r"|(?:\(\+|\+?\(?)[0-9][0-9(). \-]{5,}[0-9](?: ?(?:x|ext\.?) ?[0-9]{1,5})?"
)
_IPV6_MAX_COLONS: Final = 7
_IPV4_TAIL: Final = re.compile(r"(?:\.[0-9]{1,3}){3}")
# Every candidate shape above holds an ASCII digit, "@" or ":" (checked against the pattern in
# tests/unit/test_scanner_prefilters.py): this table maps those bytes to 1, all others to 0.
# In UTF-8, ASCII bytes only ever stand for ASCII characters.
_CANDIDATE_BYTES: Final = bytes(int(byte in b"0123456789@:") for byte in range(256))

# File extensions that show up after "@" in asset names (icon@2x.png) and are never TLDs here.
_NOT_TLDS: Final = frozenset(
    "png jpg jpeg gif webp svg ico bmp tif tiff avif heic js mjs ts tsx jsx css scss map html "
    "json yaml yml xml txt md pdf zip gz tgz tar lock wasm vue".split()
)
MAX_MATCH_LEN: Final = 64


def _scan_email(text: str, start: int, end: int, out: list[Finding]) -> None:
    # An apostrophe belongs to the address inside a name (o'brien@…), not as a quote mark.
    quoted = text[start:end].lstrip("'")
    start = end - len(quoted)
    candidate = quoted.rstrip(".-")
    end = start + len(candidate)
    local, _, domain = candidate.partition("@")
    # A domain that ends in a digit has no TLD: it is a dotted quad or nothing.
    if domain[-1:].isdigit():
        if ipv4_ok(domain):
            ip_start = end - len(domain)
            if bounded(text, ip_start - 1, end) or text[ip_start - 1] == "@":
                out.append(Finding(IP, ip_start, end, 0.7))
        return
    tld = domain.rsplit(".", 1)[-1]
    if not (2 <= len(tld) <= 24 and tld.isascii() and tld.isalpha()):
        return
    if tld.lower() in _NOT_TLDS or not local or local[0] in ".-" or ".." in candidate:
        return
    # No label may start or end with "-".
    if domain[0] == "-" or domain[-1] == "-" or ".-" in domain or "-." in domain:
        return
    out.append(Finding(EMAIL, start, end, 0.95))


# Words that say a lower-case IBAN is one ("wire it to gb82 west …"); upper case needs none.
_IBAN_CONTEXT: Final = (
    "iban", "account", "acct", "bank", "transfer", "wire", "pay", "sepa", "konto", "compte",
    "cuenta", "conto", "rekening", "überweis", "virement",
)  # fmt: skip


def _scan_iban(text: str, start: int, end: int, out: list[Finding]) -> None:
    # The candidate may run into the next upper-case word; cut at the country's length.
    compact, positions = [], []
    for offset in range(start, end):
        if text[offset] != " ":
            compact.append(text[offset])
            positions.append(offset)
    country_code = "".join(compact[:2])
    length = IBAN_LENGTHS.get(country_code.upper())
    if length is None or len(compact) < length:
        return
    cut = positions[length - 1] + 1
    if not bounded(text, start, cut) and not (start == 0 or not text[start - 1].isalnum()):
        return
    if cut < len(text) and text[cut].isalnum():
        return
    iban = "".join(compact[:length])
    if not iban.isupper():
        # Written in lower case, the shape is as common in identifiers and hex digests as
        # in bank details: only the text saying it is an account number makes it one.
        if not context_before(text, start, _IBAN_CONTEXT):
            return
        iban = iban.upper()
    if iban_ok(iban):
        out.append(Finding(IBAN, start, cut, 0.95))


class PIIScanner:
    """Validated PII: every candidate must pass its checksum, range or number-plan check."""

    name = "pii"
    kinds: frozenset[str] = frozenset({EMAIL, PHONE, CARD, SSN, IBAN, IP})
    max_match_len = MAX_MATCH_LEN

    def scan(self, text: str) -> list[Finding]:
        # Most prose has no digit, "@" or ":": one C pass over its bytes settles it.
        if 1 not in text.encode().translate(_CANDIDATE_BYTES):
            return []
        findings: list[Finding] = []
        budget: PhoneBudget | None = None
        tables: Tables | None = None
        for start, end in match_spans(_CANDIDATES, text):
            candidate = text[start:end]
            if "@" in candidate:
                _scan_email(text, start, end, findings)
            elif ":" in candidate:
                _scan_ipv6(text, start, end, candidate, findings)
            elif candidate[0].isalpha():
                _scan_iban(text, start, end, findings)
            else:
                if budget is None or tables is None:
                    budget, tables = PhoneBudget(len(text)), Tables(text)
                scan_number_cluster(text, start, end, findings, budget, tables)
        return findings


def _scan_ipv6(text: str, start: int, end: int, candidate: str, out: list[Finding]) -> None:
    if candidate.count(":") > _IPV6_MAX_COLONS:
        # Too long for one address: only an address followed by ":port" or the like is left.
        cut = -1
        for _ in range(_IPV6_MAX_COLONS + 1):
            cut = candidate.index(":", cut + 1)
        candidate, end = candidate[:cut], start + cut
    if text[end : end + 1] == "." and text[end + 1 : end + 2].isdigit():
        # "::ffff:192.0.2.1": an IPv4 address written as the last 32 bits; the candidate
        # stopped at its first dot. Other digits dotted after the groups are no address; a
        # full stop after it ends a sentence.
        tail = _IPV4_TAIL.match(text, end)
        if tail is None:
            return
        candidate, end = candidate + tail.group(), tail.end()
    if ipv6_ok(candidate) and _bounded_hex(text, start, end):
        out.append(Finding(IP, start, end, 0.7))


def _bounded_hex(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or before in "_.:") and not (after.isalnum() or after == "_")
