"""Restore-in-response: whole texts, texts cut at every offset, JSON strings, what is eligible."""

from __future__ import annotations

import json

import pytest

from proxy.redact import Redactor
from proxy.restore import Restorer
from proxy.scanners import SCANNERS, Finding, scan_text

SPAN_SCANNERS = [SCANNERS["pii"], SCANNERS["secrets"]]
VALUES = {
    "[EMAIL_1]": "jane.doe@example.com",
    "[EMAIL_10]": "tenth@example.com",
    "[PHONE_1]": "+1 415 555 0132",
    "[QUOTE_1]": 'say "hi" \\ back',
}
ANSWER = "Mail [EMAIL_1] or [EMAIL_10], call [PHONE_1]; [EMAIL_2] and [x] stay. [QUOTE_1]"
RESTORED = (
    "Mail jane.doe@example.com or tenth@example.com, call +1 415 555 0132; [EMAIL_2] and "
    '[x] stay. say "hi" \\ back'
)


def test_whole_text() -> None:
    assert Restorer(VALUES).restore(ANSWER) == RESTORED
    assert Restorer(VALUES).restore("no brackets") == "no brackets"


def streamed(pieces: list[str], *, json_string: bool = False) -> tuple[str, list[str]]:
    stream = Restorer(VALUES).stream(json_string=json_string)
    out = [stream.feed(piece) for piece in pieces]
    out.append(stream.flush())
    return "".join(out), out


@pytest.mark.parametrize("cut", range(len(ANSWER) + 1))
def test_cut_anywhere_restores_the_same(cut: int) -> None:
    text, out = streamed([ANSWER[:cut], ANSWER[cut:]])
    assert text == RESTORED
    assert not any(p in piece for piece in out for p in VALUES), "never half a placeholder"


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_small_pieces(size: int) -> None:
    pieces = [ANSWER[i : i + size] for i in range(0, len(ANSWER), size)]
    text, out = streamed(pieces)
    assert text == RESTORED
    # Only what could still be a placeholder is held: text before a "[" goes out at once.
    assert out[0] == ANSWER[: min(size, ANSWER.index("["))]


def test_a_placeholder_is_released_as_soon_as_it_is_whole() -> None:
    stream = Restorer(VALUES).stream()
    assert stream.feed("to [EMAIL_1") == "to "  # may still be "[EMAIL_10]"
    assert stream.feed("]") == "jane.doe@example.com"
    assert stream.feed(" ok") == " ok"


def test_an_unknown_bracket_is_not_held() -> None:
    stream = Restorer(VALUES).stream()
    assert stream.feed("see [1] and [Z") == "see [1] and [Z"
    assert stream.feed("[EMA") == ""
    assert stream.flush() == "[EMA"


def test_json_strings_get_escaped_values() -> None:
    arguments = '{"to": "[EMAIL_1]", "note": "[QUOTE_1]"}'
    pieces = [arguments[i : i + 3] for i in range(0, len(arguments), 3)]
    text, _ = streamed(pieces, json_string=True)
    assert json.loads(text) == {"to": "jane.doe@example.com", "note": 'say "hi" \\ back'}
    whole = Restorer(VALUES).restore(arguments, json_string=True)
    assert json.loads(whole) == json.loads(text)


def test_values_never_show_in_repr() -> None:
    restorer = Restorer(VALUES)
    assert "jane" not in repr(restorer) and len(restorer) == 4
    assert not hasattr(restorer, "__dict__")
    assert "jane" not in repr(restorer.stream())


def test_only_placeholders_of_restorable_kinds_are_restored() -> None:
    text = "jane@example.com paid with 4111 1111 1111 1111, call +1 415 555 0132"
    redactor = Redactor()
    redacted = redactor.redact(
        text, scan_text(text, SPAN_SCANNERS), restorable=lambda k: k in ("pii.email", "pii.phone")
    )
    assert redacted == "[EMAIL_1] paid with [CREDIT_CARD_1], call [PHONE_1]"
    restorer = redactor.restorer()
    assert restorer is not None
    assert restorer.restore(redacted) == (
        "jane@example.com paid with [CREDIT_CARD_1], call +1 415 555 0132"
    )


def test_placeholders_given_after_the_prompt_are_not_restored() -> None:
    redactor = Redactor()
    prompt = "write to jane@example.com"
    redactor.redact(prompt, scan_text(prompt, SPAN_SCANNERS), restorable=lambda k: True)
    restorer = redactor.restorer()
    # The answer's own redaction, later, with the same redactor: a new address, a new number.
    answer = "done; I also wrote to bob@example.org"
    hidden = redactor.redact(answer, scan_text(answer, SPAN_SCANNERS))
    assert hidden == "done; I also wrote to [EMAIL_2]"
    assert restorer is not None
    assert restorer.restore("[EMAIL_1] and [EMAIL_2]") == "jane@example.com and [EMAIL_2]"


def test_a_merged_span_is_restored_only_if_every_kind_in_it_may_be() -> None:
    redactor = Redactor()
    findings = [Finding("pii.phone", 0, 8, 0.8), Finding("custom.codes", 4, 10, 1.0)]
    redacted = redactor.redact("0123456789", findings, restorable=lambda k: k == "pii.phone")
    assert redacted == "[PHONE_1]"
    assert redactor.restorer() is None
