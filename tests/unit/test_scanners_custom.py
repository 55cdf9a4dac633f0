"""Custom policy rules compiled with RE2."""

from __future__ import annotations

import time

import pytest

from proxy.scanners.custom import compile_custom_rule


def spans(rule_text: str, **kwargs: object) -> list[str]:
    scanner = compile_custom_rule("proj", **kwargs)  # type: ignore[arg-type]
    return [rule_text[f.start : f.end] for f in scanner.scan(rule_text)]


@pytest.mark.parametrize(
    ("kwargs", "text", "expected"),
    [
        ({"keywords": ["project titan"]}, "About Project Titan.", ["Project Titan"]),
        ({"keywords": ["titan"]}, "titanium is not titan", ["titan"]),
        ({"keywords": ["C++"]}, "I like c++ a lot", ["c++"]),
        ({"keywords": ["Titan"], "case_sensitive": True}, "titan Titan", ["Titan"]),
        ({"regexes": [r"TKT-\d{4}"]}, "see tkt-1234, TKT-99", ["tkt-1234"]),
        (
            {"regexes": [r"[a-z]+@corp\.internal"], "keywords": ["secret sauce"]},
            "mail bob@corp.internal about the secret sauce",
            ["bob@corp.internal", "secret sauce"],
        ),
    ],
)
def test_matches(kwargs: dict[str, object], text: str, expected: list[str]) -> None:
    assert spans(text, **kwargs) == expected


def test_kind_and_score() -> None:
    scanner = compile_custom_rule("acme-names", keywords=["acme"])
    (finding,) = scanner.scan("ACME rocks")
    assert finding.kind == "custom.acme-names"
    assert scanner.kinds == frozenset({"custom.acme-names"})
    assert finding.score == 1.0


@pytest.mark.parametrize("bad", ["(unclosed", "a{2,1}", "(?<=x)y", r"\p{Nope}"])
def test_bad_regex_names_the_pattern(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid regex") as info:
        compile_custom_rule("r1", regexes=[bad])
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize(
    ("rule_id", "kwargs"),
    [
        ("r1", {"regexes": ["a*"]}),
        ("r1", {}),
        ("bad id!", {"keywords": ["x"]}),
        ("r1", {"keywords": [" "]}),
    ],
)
def test_rejected_rules(rule_id: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        compile_custom_rule(rule_id, **kwargs)  # type: ignore[arg-type]


def test_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    scanner = compile_custom_rule("redos", regexes=[r"(a+)+$"])
    text = "a" * 50_000 + "!"
    started = time.perf_counter()
    assert scanner.scan(text) == []
    assert time.perf_counter() - started < 1.0
