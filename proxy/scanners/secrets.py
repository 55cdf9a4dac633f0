"""Secrets scanner: provider credentials, private key blocks, JWTs and keyword-anchored tokens."""

from __future__ import annotations

import re
from typing import Final

import re2

from proxy.scanners.base import Finding
from proxy.scanners.fields import Tables
from proxy.scanners.re2_spans import alternation_groups, match_groups
from proxy.scanners.secret_rules import (
    AWS_SECRET_NAME,
    RULES,
    SecretRule,
    generic_value_ok,
    looks_like_digest,
    looks_like_placeholder,
)

# A 4096-bit RSA key in PEM is about 3.3 KB; the private-key rule allows 4 KB of body.
MAX_MATCH_LEN: Final = 4200


def _compile_rule(rule: SecretRule) -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(rule.pattern, options)


def _compile_triggers(rules: tuple[SecretRule, ...]) -> re2.Set:
    # Entry i holds rule i's trigger literals; the set reports every entry found in a text,
    # overlapping or not. Literal alternations keep its DFA small: RE2 gives up on a set only
    # when its DFA outgrows the memory budget, which these few hundred states cannot.
    triggers = re2.Set.SearchSet()
    for index, rule in enumerate(rules):
        alternatives = "|".join(map(re2.escape, rule.triggers))
        added = triggers.Add(f"(?i:{alternatives})")
        assert added == index
    triggers.Compile()
    return triggers


# One RE2 object per rule, not one alternation: see `alternation_groups`.
_PATTERNS: Final = tuple(map(_compile_rule, RULES))
_TRIGGERS: Final = _compile_triggers(RULES)
# Rules anchored on a keyword ("token=", "Bearer") rather than on the value's own shape.
_KEYWORD_ANCHORED: Final = frozenset({"secret.generic", "secret.bearer_token"})
# An AWS secret access key has no shape of its own: 40 characters of base64. Where no
# keyword stands before it, its field may still name it: a table column or an SQL INSERT's.
_AWS_SECRET: Final = next(i for i, r in enumerate(RULES) if r.kind == "secret.aws_secret_key")
_AWS_SECRET_FIELD: Final = re.compile(AWS_SECRET_NAME, re.IGNORECASE)
_BASE64_40: Final = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _triggered(text: str) -> list[int]:
    """Indices, ascending, of the rules whose triggers occur in `text`: no other can match."""
    return sorted(_TRIGGERS.Match(text) or ())


def _refine_generic(rule: SecretRule, start: int, value: str) -> tuple[SecretRule, int, int]:
    """A keyword-anchored value may itself be a provider key: report the precise rule, over
    the key's own span (the keyword's value can run on past it, as in a query string)."""
    for index in _triggered(value):
        specific = RULES[index]
        if specific.kind in _KEYWORD_ANCHORED:
            continue
        # One RE2 call: whether the key is there, and where.
        found = next(match_groups(_PATTERNS[index], value), None)
        if found is not None:
            inner_start, inner_end = found[1]
            return specific, start + inner_start, start + inner_end
    return rule, start, start + len(value)


class SecretsScanner:
    """Credentials by provider shape; placeholders, digests and low-entropy values are skipped."""

    name = "secrets"
    kinds: frozenset[str] = frozenset(rule.kind for rule in RULES)
    max_match_len = MAX_MATCH_LEN

    def scan(self, text: str) -> list[Finding]:
        # One pass finds which rules can match at all; most texts have none. The rest run
        # as the alternation of the rules in order, so RE2's leftmost-first pick still
        # favours the precise rule where shapes nest.
        indexes = _triggered(text)
        if not indexes:
            return []
        findings: list[Finding] = []
        patterns = [_PATTERNS[index] for index in indexes]
        for which, spans in alternation_groups(patterns, text):
            rule = RULES[indexes[which]]
            start, end = spans[1]
            value = text[start:end]
            if rule.kind == "secret.private_key":
                if "..." in value or len(value) < 120:
                    continue
            elif looks_like_placeholder(value) or looks_like_digest(value):
                continue
            if rule.kind in _KEYWORD_ANCHORED:
                rule, start, end = _refine_generic(rule, start, value)
            if rule.min_entropy and not generic_value_ok(value, rule.min_entropy):
                continue
            findings.append(Finding(rule.kind, start, end, rule.score))
        if _AWS_SECRET in indexes:
            findings.extend(_aws_keys_in_columns(text, findings))
        return findings


def _aws_keys_in_columns(text: str, found: list[Finding]) -> list[Finding]:
    """AWS secret keys in a column its header or an INSERT names, not found by a keyword."""
    rule = RULES[_AWS_SECRET]
    taken = {(f.start, f.end) for f in found}
    tables: Tables | None = None
    keys = []
    for candidate in _BASE64_40.finditer(text):
        start, end = candidate.span()
        if (start, end) in taken or not generic_value_ok(candidate[0], rule.min_entropy):
            continue
        tables = tables or Tables(text)
        column = tables.column_name(start)
        if column is not None and _AWS_SECRET_FIELD.search(column):
            keys.append(Finding(rule.kind, start, end, rule.score))
    return keys
