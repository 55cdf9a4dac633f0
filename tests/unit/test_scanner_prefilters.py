"""The cheap checks that let the PII and secrets scanners skip work can never skip a finding.

PII skips text without a digit, "@" or ":"; secrets runs only the rules whose trigger literals
occur. Both claims are proved here from the patterns themselves (parsed with Python's regex
parser: the patterns use the syntax RE2 and Python share), then checked on the positives.
"""

from __future__ import annotations

import random
import re._constants as sre
import re._parser as sre_parse
from typing import Any

import pytest

from proxy.scanners.pii import _CANDIDATE_BYTES, _CANDIDATES
from proxy.scanners.secret_rules import RULES
from proxy.scanners.secrets import _triggered
from tests.unit import test_scanners_pii as pii_tables
from tests.unit import test_scanners_secrets as secret_tables

PII_TRIGGERS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "@", ":")
_MAX_STRINGS = 4096  # past this many, a finite language is treated as unbounded
_MAX_CLASS = 64


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


def _product(left: set[str], right: set[str]) -> set[str] | None:
    if len(left) * len(right) > _MAX_STRINGS:
        return None
    return {a + b for a in left for b in right}


def _sequence_language(items: Any) -> set[str] | None:
    """Every string the parsed sequence matches, lower-cased, if there are few of them."""
    strings: set[str] | None = {""}
    for op, value in items:
        part = _language(op, value)
        if part is None or strings is None:
            return None
        strings = _product(strings, part)
    return strings


def _language(op: Any, value: Any) -> set[str] | None:
    if op is sre.LITERAL:
        return {chr(value).lower()}
    if op is sre.IN:
        chars = _class_chars(value)
        return None if chars is None or len(chars) > _MAX_CLASS else {c.lower() for c in chars}
    if op is sre.AT:  # an assertion consumes nothing
        return {""}
    if op is sre.SUBPATTERN:
        return _sequence_language(value[-1])
    if op is sre.BRANCH:
        languages = [_sequence_language(branch) for branch in value[1]]
        if any(language is None for language in languages):
            return None
        return set().union(*languages)  # type: ignore[arg-type]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and value[1] <= 4:
        item = _sequence_language(value[2])
        if item is None:
            return None
        strings: set[str] = set()
        repeated: set[str] | None = {""}
        for count in range(value[1] + 1):
            if repeated is None:
                return None
            if count >= value[0]:
                strings |= repeated
            repeated = _product(repeated, item)
        return strings
    return None


def _every_string_holds(strings: set[str], triggers: tuple[str, ...]) -> bool:
    return all(any(trigger in string for trigger in triggers) for string in strings)


def _every_match_holds(items: Any, triggers: tuple[str, ...]) -> bool:
    """Whether every string the parsed sequence matches contains one of `triggers`
    (case-insensitively): some run of consecutive elements with a small language, each of
    whose strings contains one, or an element that must match and holds one itself."""
    run: set[str] = {""}
    for op, value in items:
        part = _language(op, value)
        joined = None if part is None else _product(run, part)
        if joined is not None:
            run = joined
            continue
        # The run ends here: it is a substring of every match, as is this element's match.
        if _every_string_holds(run, triggers) or _element_holds(op, value, triggers):
            return True
        run = part if part is not None else {""}
    return _every_string_holds(run, triggers)


def _element_holds(op: Any, value: Any, triggers: tuple[str, ...]) -> bool:
    if op is sre.SUBPATTERN:
        return _every_match_holds(value[-1], triggers)
    if op is sre.BRANCH:
        return all(_every_match_holds(branch, triggers) for branch in value[1])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and value[0] >= 1:
        return _every_match_holds(value[2], triggers)
    return False


def pii_may_match(text: str) -> bool:
    return 1 in text.encode().translate(_CANDIDATE_BYTES)


def test_every_pii_candidate_holds_a_trigger_character() -> None:
    parsed = sre_parse.parse(_CANDIDATES.pattern)
    assert _every_match_holds(parsed, PII_TRIGGERS)
    # Not vacuous: without ":" the IPv6 shape escapes the proof.
    assert not _every_match_holds(parsed, tuple(t for t in PII_TRIGGERS if t != ":"))


def test_the_trigger_table_marks_exactly_the_trigger_bytes() -> None:
    assert {chr(b) for b in range(256) if _CANDIDATE_BYTES[b]} == set(PII_TRIGGERS)


@pytest.mark.parametrize("rule", RULES, ids=[rule.kind for rule in RULES])
def test_every_secret_match_holds_one_of_its_rules_triggers(rule: Any) -> None:
    assert rule.triggers and all(t.isascii() and t == t.lower() for t in rule.triggers)
    assert _every_match_holds(sre_parse.parse(rule.pattern), rule.triggers)


def test_the_proof_rejects_a_wrong_trigger() -> None:
    aws = sre_parse.parse(RULES[1].pattern)
    assert not _every_match_holds(aws, ("akia", "asia"))  # A3T…, ABIA and ACCA escape
    generic = sre_parse.parse(RULES[-1].pattern)
    assert not _every_match_holds(generic, ("key", "secret", "token", "passw"))  # pwd, credential


@pytest.mark.parametrize(
    "text", [text for text, _, _ in pii_tables.POSITIVES + pii_tables.RUNS] + ["日本 a@b.io"]
)
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


@pytest.mark.parametrize(
    ("template", "secret", "kind"),
    secret_tables.POSITIVES,
    ids=[p[2] for p in secret_tables.POSITIVES],
)
def test_secret_positives_trigger_their_rule(template: str, secret: str, kind: str) -> None:
    text = template.format(secret)
    assert kind in {RULES[index].kind for index in _triggered(text)}
    assert kind in {f.kind for f in secret_tables.SECRETS.scan(text)}


def test_triggers_fold_case_as_the_rules_do() -> None:
    # RE2's case folding: the Kelvin sign is a "k", the long s an "s".
    generic = len(RULES) - 1
    assert generic in _triggered("api_\u212aey")
    assert generic in _triggered("ſecret")
    assert _triggered("Please summarise the report for the team") == []


def test_triggers_are_found_anywhere_in_a_long_text() -> None:
    rng = random.Random(9)
    noise = "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 _-.:/=") for _ in range(1 << 20)
    )
    assert 0 in _triggered(noise + "-----BEGIN")
    assert set(_triggered(noise)) <= set(_triggered(noise + "AKIA"))
