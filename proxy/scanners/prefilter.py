"""Pre-checks: text in which a default detector cannot report anything, told without running it.

A streaming window scans a few words at a time; most of them are prose that no detector
matches, and a scan costs far more than looking for the few characters every match needs.
Each rule here names what every finding of its scanner contains, in the part of the text from
the finding's start to the end of what the detector matched (its right context included):

- PII: a digit (phones, cards, SSNs, IBANs, IPv4), "@" (e-mail) or ":" (IPv6).
- Secrets: a run of at least 12 characters without white space (every provider key, token
  and keyword-anchored value is one: the shortest, `secret.generic`, is a 12-character
  value), "@" (URL credentials: the password may be 3 characters, then "@host"), or
  "-----" (a private key block, whose header has spaces in it).

White space here is RE2's `\\s` (space, tab, LF, CR, FF): what the secret patterns use to
end a value. A scanner with no rule here is always run. The tests check every finding of the
scanners' test tables and of the streaming corpus against these rules, at every prefix of
the text, which is how the window uses them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Final

from proxy.scanners.base import Scanner

SECRET_RUN: Final = 12

# By scanner name, for the default scanners whose shapes are known: a search for what every
# finding contains.
PREFILTERS: Final[dict[str, re.Pattern[str]]] = {
    "pii": re.compile(r"[0-9@:]"),
    "secrets": re.compile(rf"@|-----|[^ \t\n\r\f]{{{SECRET_RUN}}}"),
}


def prefilter(scanners: Iterable[Scanner]) -> Callable[[str], object] | None:
    """One check for a set of scanners: it finds nothing (None) only in a text where none of
    them could report anything. None when some scanner has no rule here."""
    return _combined(frozenset(scanner.name for scanner in scanners))


@functools.lru_cache(maxsize=64)
def _combined(names: frozenset[str]) -> Callable[[str], object] | None:
    if not names or not names <= PREFILTERS.keys():
        return None
    return re.compile("|".join(PREFILTERS[name].pattern for name in sorted(names))).search
