"""Custom rules from policy YAML: RE2 regexes and keyword lists, linear-time by construction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import re2

from proxy.scanners.base import Finding

# RE2 cannot bound a regex's match length, so custom findings are assumed to fit in this many
# characters for the streaming window; longer matches are still reported, just not held back.
DEFAULT_MAX_MATCH_LEN: Final = 256
_RULE_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _options(case_sensitive: bool) -> re2.Options:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # errors are raised, not written to stderr by the C++ library
    options.max_mem = 8 << 20
    return options


def _keyword_pattern(keyword: str) -> str:
    # Word boundaries only where the keyword itself starts/ends with a word character, so
    # "acme" does not fire inside "acmeville" but "C++" still matches.
    escaped = re2.escape(keyword)
    prefix = r"\b" if keyword[:1].isalnum() or keyword[:1] == "_" else ""
    suffix = r"\b" if keyword[-1:].isalnum() or keyword[-1:] == "_" else ""
    return f"{prefix}{escaped}{suffix}"


class CustomScanner:
    """One policy rule: any of its regexes or keywords matching yields `custom.<rule_id>`."""

    def __init__(self, rule_id: str, pattern: re2._Regexp, max_match_len: int) -> None:
        self.name = f"custom.{rule_id}"
        self.kind = f"custom.{rule_id}"
        self.kinds: frozenset[str] = frozenset({self.kind})
        self.max_match_len = max_match_len
        self._pattern = pattern

    def __repr__(self) -> str:
        return f"<CustomScanner {self.kind}>"

    def scan(self, text: str) -> list[Finding]:
        kind = self.kind
        return [
            Finding(kind, start, end, 1.0)
            for start, end in (match.span() for match in self._pattern.finditer(text))
            if end > start
        ]


def compile_custom_rule(
    rule_id: str,
    *,
    regexes: Sequence[str] = (),
    keywords: Sequence[str] = (),
    case_sensitive: bool = False,
) -> CustomScanner:
    """Compile a policy's custom rule; `ValueError` names the offending pattern or keyword."""
    if not _RULE_ID_RE.fullmatch(rule_id):
        raise ValueError(f"custom rule id {rule_id!r} must match {_RULE_ID_RE.pattern}")
    if not regexes and not keywords:
        raise ValueError(f"custom rule {rule_id!r} needs at least one regex or keyword")
    options = _options(case_sensitive)
    alternatives: list[str] = []
    for regex in regexes:
        try:
            compiled = re2.compile(regex, options)
        except re2.error as exc:
            message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ValueError(
                f"custom rule {rule_id!r}: invalid regex {regex!r}: {message}"
            ) from exc
        if compiled.fullmatch("") is not None:
            raise ValueError(f"custom rule {rule_id!r}: regex {regex!r} matches the empty string")
        alternatives.append(f"(?:{regex})")
    for keyword in keywords:
        if not keyword.strip():
            raise ValueError(f"custom rule {rule_id!r}: empty keyword")
        alternatives.append(_keyword_pattern(keyword))
    try:
        combined = re2.compile("|".join(alternatives), options)
    except re2.error as exc:  # e.g. the union exceeds RE2's memory budget
        raise ValueError(f"custom rule {rule_id!r}: patterns too large to compile") from exc
    longest_keyword = max((len(k) for k in keywords), default=0)
    max_len = DEFAULT_MAX_MATCH_LEN if regexes else longest_keyword
    return CustomScanner(rule_id, combined, max_len)
