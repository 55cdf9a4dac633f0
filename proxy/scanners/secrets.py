"""Secrets scanner: provider credentials, private key blocks, JWTs and keyword-anchored tokens."""

from __future__ import annotations

from typing import Final

import re2

from proxy.scanners.base import Finding
from proxy.scanners.re2_spans import has_match, match_groups
from proxy.scanners.secret_rules import (
    RULES,
    SecretRule,
    generic_value_ok,
    looks_like_digest,
    looks_like_placeholder,
)

# A 4096-bit RSA key in PEM is about 3.3 KB; the private-key rule allows 4 KB of body.
MAX_MATCH_LEN: Final = 4200


def _compile_rules(rules: tuple[SecretRule, ...]) -> re2._Regexp:
    # One alternation, one RE2 pass: a clean prompt costs a single linear scan. Each rule is
    # wrapped in a named group so the match says which rule fired.
    alternatives = [f"(?P<r{index}>{rule.pattern})" for index, rule in enumerate(rules)]
    options = re2.Options()
    options.log_errors = False
    return re2.compile("|".join(alternatives), options)


_COMBINED: Final = _compile_rules(RULES)


def _compile_any_rule(rules: tuple[SecretRule, ...]) -> re2._Regexp:
    # The same alternation without captures: whether any rule matches, in one DFA pass with
    # no submatch engine. Most texts stop there.
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    return re2.compile("|".join(rule.pattern for rule in rules), options)


_ANY_RULE: Final = _compile_any_rule(RULES)
# Rules anchored on a keyword ("token=", "Bearer") rather than on the value's own shape.
_KEYWORD_ANCHORED: Final = frozenset({"secret.generic", "secret.bearer_token"})
_SPECIFIC_RULES: Final = tuple(
    (rule, re2.compile(rule.pattern)) for rule in RULES if rule.kind not in _KEYWORD_ANCHORED
)
_RULE_GROUPS: Final = tuple(_COMBINED.groupindex[f"r{index}"] for index in range(len(RULES)))


def _refine_generic(rule: SecretRule, value: str) -> SecretRule:
    """A keyword-anchored value may itself be a provider key: report the precise rule."""
    for specific, pattern in _SPECIFIC_RULES:
        if pattern.search(value) is not None:
            return specific
    return rule


class SecretsScanner:
    """Credentials by provider shape; placeholders, digests and low-entropy values are skipped."""

    name = "secrets"
    kinds: frozenset[str] = frozenset(rule.kind for rule in RULES)
    max_match_len = MAX_MATCH_LEN

    def scan(self, text: str) -> list[Finding]:
        if not has_match(_ANY_RULE, text):
            return []
        findings: list[Finding] = []
        for spans in match_groups(_COMBINED, text):
            index = next(i for i, group in enumerate(_RULE_GROUPS) if spans[group][0] >= 0)
            rule = RULES[index]
            start, end = spans[_RULE_GROUPS[index] + 1]
            value = text[start:end]
            if rule.kind == "secret.private_key":
                if "..." in value or len(value) < 120:
                    continue
            elif looks_like_placeholder(value) or looks_like_digest(value):
                continue
            if rule.kind in _KEYWORD_ANCHORED:
                rule = _refine_generic(rule, value)
            if rule.min_entropy and not generic_value_ok(value, rule.min_entropy):
                continue
            findings.append(Finding(rule.kind, start, end, rule.score))
        return findings
