"""Prefix-aware hold-back: where, in a stream's unsent tail, a match could still be growing.

A streaming window must not send the start of a match before the match is whole. Holding the
last `max_match_len` characters is always safe, and delays every token by that much text.
These rules hold only what could still become a match, from the shapes the default detectors
match:

- Emails, IPs, provider keys, tokens, JWTs, URLs with credentials: one run of ASCII non-space
  characters. Only the trailing run can still grow; a finished word goes at once.
- Phone numbers, card numbers, SSNs, IBANs: digit and capital groups separated by single
  spaces (`+1 415 555 0132`, `GB82 WEST 1234 …`). While the tail is such a run, it is held
  from the run's start; an extension (`x`, `ext`) keeps it open.
  An IBAN written in lower case (`gb82 west 1234 …`) is held from its first group too.
- Private key blocks: from an unterminated `-----BEGIN`.
- Keyword-anchored secrets (`password = …`, `Bearer …`): the span reported is the value, one
  run, found with the keyword in the window's left context.

A scanner with no rule here (injection cues, custom patterns) holds its `max_match_len`.
The window caps every hold at its `hold_back`. The chunk-boundary tests split every finding
of every kind at every offset, which is what keeps these rules honest when a detector changes.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from typing import Final

from proxy.scanners.base import Scanner

# text -> the index from which a match could still be in progress (len(text): none).
HoldFrom = Callable[[str], int]

_RUN: Final = "".join(chr(c) for c in range(0x21, 0x7F))  # ASCII without space and controls
# Characters of number and IBAN groups, the single space between groups included.
_GROUP: Final = string.digits + string.ascii_uppercase + "+()-./ "
_GROUP_TOKEN: Final = _GROUP.replace(" ", "")
# A phone extension being written after the number: "x", "e", "ex", "ext", "ext.", then digits.
_EXTENSION: Final = re.compile(r"(?:x|e|ex|ext\.?)[0-9]*")
# An extension word, then a space, before the trailing group ("555-0132 ext 1"): the number
# it extends is still being written.
_EXTENSION_WORD: Final = re.compile(r"(?<![A-Za-z])(?:x|ext\.?) \Z")
# An IBAN in lower case, still being written at the end: country and check digits, groups of
# four (fixed widths, so a tail that is no IBAN fails fast), a shorter last one. At most 34
# characters and the spaces between its groups.
_LOWER_IBAN_TAIL: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4})*(?: ?[A-Za-z0-9]{1,3})? ?\Z"
)
_IBAN_SPAN: Final = 34 + 8
_NOT_DIGIT_BYTES: Final = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
_KEY_BEGIN: Final = "-----BEGIN"
_KEY_END: Final = "-----END"


def run_start(text: str) -> int:
    """Start of the trailing run of ASCII non-space characters (len(text) if none)."""
    return len(text.rstrip(_RUN))


def _groups_start(text: str) -> int:
    """Where a number or IBAN still being written starts, else the trailing run's start."""
    start = len(text.rstrip(_RUN))  # run_start(text)
    token = text[start:]
    if token.lstrip(_GROUP_TOKEN) and not (token[0] in "ex" and _EXTENSION.fullmatch(token)):
        # not a group, nor an extension (which starts with "e" or "x")
        return _lower_iban_start(text, start)
    # Extend over the groups before it; a match never begins with the space between them.
    begin = len(text[:start].rstrip(_GROUP))
    extension = _EXTENSION_WORD.search(text, max(0, begin - 4), start)
    if extension is not None:
        begin = len(text[: extension.start()].rstrip(_GROUP))
    while begin < len(text) and text[begin] == " ":
        begin += 1
    return _lower_iban_start(text, begin)


def _lower_iban_start(text: str, begin: int) -> int:
    """`begin`, or earlier where a lower-case IBAN being written starts. Its check digits
    are in the last `_IBAN_SPAN` characters: prose without digits there is done at once."""
    offset = max(0, len(text) - _IBAN_SPAN)
    if offset >= begin or not text[offset:].encode().translate(None, _NOT_DIGIT_BYTES):
        return begin
    found = _LOWER_IBAN_TAIL.search(text, offset)
    return found.start() if found is not None and found.start() < begin else begin


def _private_key_start(text: str) -> int:
    begin = text.rfind(_KEY_BEGIN)
    if begin < 0:
        return len(text)
    end = text.find(_KEY_END, begin)
    if end < 0 or text.find("-----", end + len(_KEY_END)) < 0:
        return begin  # the block (or its last line) is still being written
    return len(text)


def pii_hold(text: str) -> int:
    return _groups_start(text)


def secrets_hold(text: str) -> int:
    return min(run_start(text), _private_key_start(text))


# By scanner name, for the default scanners whose shapes are known.
HOLD_RULES: Final[dict[str, HoldFrom]] = {"pii": pii_hold, "secrets": secrets_hold}


def hold_rule(scanner: Scanner) -> HoldFrom:
    """The scanner's own rule, or holding its longest match."""
    rule = HOLD_RULES.get(scanner.name)
    if rule is not None:
        return rule
    longest = scanner.max_match_len
    return lambda text: max(0, len(text) - longest)


def _pii_and_secrets_hold(text: str) -> int:
    # The groups' start is never after the trailing run's, so of the secrets' rule only the
    # private key part can hold more.
    start = _groups_start(text)
    if _KEY_BEGIN in text:
        return min(start, _private_key_start(text))
    return start


def window_hold_rule(scanners: Iterable[Scanner]) -> HoldFrom:
    """The rule of a window that runs `scanners`: the earliest of their rules."""
    rules = tuple(dict.fromkeys(hold_rule(s) for s in scanners))
    if set(rules) == {pii_hold, secrets_hold}:
        return _pii_and_secrets_hold  # the default scanners: one pass over the tail
    if len(rules) == 1:
        return rules[0]
    return lambda text: min((rule(text) for rule in rules), default=len(text))
