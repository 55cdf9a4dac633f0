"""The direct RE2 span iteration gives `re2.finditer`'s answers, in character offsets."""

from __future__ import annotations

import random

import pytest
import re2

from proxy.scanners.pii import _CANDIDATES
from proxy.scanners.re2_spans import match_groups, match_spans
from proxy.scanners.secrets import _COMBINED

PIECES = [
    "tel ", "030 12 34 56 78", " ", "jane@example.com", "é", "€", "日本", "😀", "\n",
    "2001:db8::1", "DE89 3704 0044 0532 0130 00", "ghp_" + "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC1234",
    "password = 'Zq8Lm2Xv9Tn4Rb7Wk1Hs'", "(415) 555-2671", "a:", "@", "x",
]  # fmt: skip


def _texts() -> list[str]:
    rng = random.Random(7)
    texts = ["", "plain", "é", "€1 234 567 8901 €", "😀 call 415-555-2671 😀 a@b.io"]
    texts += ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    return texts


@pytest.mark.parametrize("pattern", [_CANDIDATES, _COMBINED], ids=["pii", "secrets"])
def test_spans_and_groups_equal_finditer(pattern: re2._Regexp) -> None:
    for text in _texts():
        expected = [
            [match.span(group) for group in range(pattern.groups + 1)]
            for match in pattern.finditer(text)
        ]
        assert [list(spans) for spans in match_groups(pattern, text)] == expected, text
        assert match_spans(pattern, text) == [spans[0] for spans in expected]


def test_an_empty_match_steps_over_one_character() -> None:
    pattern = re2.compile("x*")
    assert match_spans(pattern, "aéx") == [(0, 0), (1, 1), (2, 3), (3, 3)]
