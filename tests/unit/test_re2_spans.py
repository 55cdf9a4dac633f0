"""The direct RE2 span iteration gives `re2.finditer`'s answers, in character offsets."""

from __future__ import annotations

import random
import re

import pytest
import re2

from proxy.scanners.pii import _CANDIDATES
from proxy.scanners.re2_spans import alternation_groups, has_match, match_groups, match_spans
from proxy.scanners.secret_rules import RULES

PIECES = [
    "tel ", "030 12 34 56 78", " ", "jane@example.com", "é", "€", "日本", "😀", "\n",
    "2001:db8::1", "DE89 3704 0044 0532 0130 00", "ghp_" + "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC1234",
    "password = 'Zq8Lm2Xv9Tn4Rb7Wk1Hs'", "(415) 555-2671", "a:", "@", "x", "token=",
    "sk-" + "ant-api03-" + "aB3dE5gH7jK9" * 8, "Bearer ", "xoxb-" + "1234-" * 3 + "aB3dE5gH7jK9",
]  # fmt: skip


def _texts(count: int) -> list[str]:
    rng = random.Random(7)
    texts = ["", "plain", "é", "€1 234 567 8901 €", "😀 call 415-555-2671 😀 a@b.io"]
    texts += ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30))) for _ in range(count)]
    return texts


def _secret_alternation() -> re2._Regexp:
    options = re2.Options()
    options.log_errors = False
    alternatives = (f"(?P<r{i}>{rule.pattern})" for i, rule in enumerate(RULES))
    return re2.compile("|".join(alternatives), options)


def test_spans_and_groups_equal_finditer() -> None:
    for pattern in (_CANDIDATES, _secret_alternation()):
        for text in _texts(150):
            expected = [
                [match.span(group) for group in range(pattern.groups + 1)]
                for match in pattern.finditer(text)
            ]
            assert [list(spans) for spans in match_groups(pattern, text)] == expected, text
            assert match_spans(pattern, text) == [spans[0] for spans in expected]
            assert has_match(pattern, text) == bool(expected)


def test_an_empty_match_steps_over_one_character() -> None:
    pattern = re2.compile("x*")
    assert match_spans(pattern, "aéx") == [(0, 0), (1, 1), (2, 3), (3, 3)]


def test_alternation_groups_equal_the_secret_rules_as_one_alternation() -> None:
    combined = _secret_alternation()
    rule_groups = [combined.groupindex[f"r{i}"] for i in range(len(RULES))]
    patterns = [re2.compile(rule.pattern) for rule in RULES]
    for text in _texts(150):
        expected = []
        for match in combined.finditer(text):
            index = next(i for i, group in enumerate(rule_groups) if match.start(group) >= 0)
            expected.append((index, [match.span(), match.span(rule_groups[index] + 1)]))
        found = [(index, list(spans)) for index, spans in alternation_groups(patterns, text)]
        assert found == expected, text


@pytest.mark.parametrize("seed", range(4))
def test_alternation_groups_are_leftmost_first(seed: int) -> None:
    """Against Python's own alternation, on small patterns over a small alphabet."""
    rng = random.Random(seed)
    atoms = ["a", "b", "c", "é", "[ab]", "[^a]", "(?:ab|c)", "a+", "b?c", "(c)", "(a|bc)"]
    for _ in range(200):
        patterns = ["".join(rng.choice(atoms) for _ in range(rng.randint(1, 3))) for _ in range(3)]
        if any(re.fullmatch(p, "") for p in patterns):
            continue
        compiled = [re2.compile(p) for p in patterns]
        wrapped = [re.compile(p) for p in patterns]
        python = re.compile("|".join(f"(?P<r{i}>{p})" for i, p in enumerate(patterns)))
        for _ in range(10):
            text = "".join(rng.choice("abcé ") for _ in range(rng.randint(0, 20)))
            expected = []
            for match in python.finditer(text):
                index = next(i for i in range(3) if match.start(f"r{i}") >= 0)
                offset = python.groupindex[f"r{index}"]
                groups = range(offset, offset + wrapped[index].groups + 1)
                expected.append((index, [match.span(g) for g in groups]))
            found = [(i, list(spans)) for i, spans in alternation_groups(compiled, text)]
            assert found == expected, (patterns, text)
