"""The cheap checks that let the PII and secrets scanners skip a text can never skip a finding."""

from __future__ import annotations

import random
import re._constants as sre
import re._parser as sre_parse
from typing import Any

import pytest

from proxy.scanners.pii import _CANDIDATE_BYTES, _CANDIDATES
from proxy.scanners.re2_spans import has_match
from proxy.scanners.secrets import _ANY_RULE, _COMBINED
from tests.unit import test_scanners_pii as pii_tables
from tests.unit import test_scanners_secrets as secret_tables

PII_TRIGGERS = frozenset("0123456789@:")


def _class_chars(items: list[tuple[Any, Any]]) -> set[str] | None:
    """The characters of a class made of literals and ranges (None for anything else)."""
    chars: set[str] = set()
    for op, value in items:
        if op is sre.LITERAL:
            chars.add(chr(value))
        elif op is sre.RANGE:
            chars.update(map(chr, range(value[0], value[1] + 1)))
        else:
            return None
    return chars


def _every_match_holds_one_of(items: Any, allowed: frozenset[str]) -> bool:
    """Whether every string the parsed sequence `items` matches has a character in `allowed`:
    some element that must match is such a character (or such a sequence, recursively)."""
    for op, value in items:
        if op is sre.LITERAL and chr(value) in allowed:
            return True
        if op is sre.IN:
            chars = _class_chars(value)
            if chars is not None and chars <= allowed:
                return True
        if op is sre.SUBPATTERN and _every_match_holds_one_of(value[-1], allowed):
            return True
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and value[0] >= 1:
            if _every_match_holds_one_of(value[2], allowed):
                return True
        if op is sre.BRANCH and all(_every_match_holds_one_of(b, allowed) for b in value[1]):
            return True
    return False


def pii_may_match(text: str) -> bool:
    return 1 in text.encode().translate(_CANDIDATE_BYTES)


def test_every_pii_candidate_holds_a_trigger_character() -> None:
    parsed = sre_parse.parse(_CANDIDATES.pattern)
    assert _every_match_holds_one_of(parsed, PII_TRIGGERS)
    # The check is not vacuous: without ":" the IPv6 shape escapes it.
    assert not _every_match_holds_one_of(parsed, PII_TRIGGERS - {":"})


def test_the_trigger_table_marks_exactly_the_trigger_bytes() -> None:
    assert {chr(b) for b in range(256) if _CANDIDATE_BYTES[b]} == set(PII_TRIGGERS)


def _pii_positive_texts() -> list[str]:
    texts = [text for text, _, _ in pii_tables.POSITIVES + pii_tables.RUNS]
    return texts + ["call 415-555-2671 é", "日本 jane@example.com", "peer ::1:2"]


@pytest.mark.parametrize("text", _pii_positive_texts())
def test_pii_positives_pass_the_prefilter(text: str) -> None:
    assert pii_may_match(text)
    assert pii_tables.PII.scan(text)


def test_text_without_triggers_has_no_pii_candidates() -> None:
    rng = random.Random(3)
    alphabet = "abcXYZ .,;-+()/_#$%&!?'\"\néü日😀"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert not pii_may_match(text)
        assert _CANDIDATES.search(text) is None


def _secret_texts() -> list[str]:
    texts = [template.format(secret) for template, secret, _ in secret_tables.POSITIVES]
    return texts + list(secret_tables.NEGATIVES)


def test_the_any_rule_check_has_no_captures() -> None:
    assert _ANY_RULE.groups == 0


@pytest.mark.parametrize("text", [tpl.format(s) for tpl, s, _ in secret_tables.POSITIVES])
def test_secret_positives_pass_the_prefilter(text: str) -> None:
    assert has_match(_ANY_RULE, text)
    assert secret_tables.SECRETS.scan(text)


def test_the_any_rule_check_agrees_with_the_rules() -> None:
    """Same language as the combined rules: a match exactly when the scanner's pattern has one."""
    pieces = _secret_texts() + ["token", "=", " ", "key: ", "Bearer ", "é", "\n", "sk-", "AKIA"]
    rng = random.Random(5)
    texts = pieces + [
        "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(500)
    ]
    hits = 0
    for text in texts:
        expected = _COMBINED.search(text) is not None
        assert has_match(_ANY_RULE, text) == expected, text
        hits += expected
    assert 0 < hits < len(texts)
