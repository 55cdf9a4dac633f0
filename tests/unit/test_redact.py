"""Redaction placeholders and restore-in-response round trips."""

from __future__ import annotations

from proxy.redact import Redactor, placeholder_label, redact
from proxy.scanners import SCANNERS, Finding, scan_text

SPAN_SCANNERS = [SCANNERS["pii"], SCANNERS["secrets"]]
KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"


def test_readable_placeholders_and_stable_numbering() -> None:
    text = f"a@b.io, c@d.io, a@b.io; card 4111 1111 1111 1111; key {KEY}"
    result = redact(text, scan_text(text, SPAN_SCANNERS))
    assert result.text == "[EMAIL_1], [EMAIL_2], [EMAIL_1]; card [CREDIT_CARD_1]; key [SECRET_1]"
    assert result.replaced == 5


def test_same_value_same_placeholder_across_texts_and_restore() -> None:
    redactor = Redactor()
    first, second = "mail a@b.io", "again a@b.io and 10.0.0.7"
    out1 = redactor.redact(first, scan_text(first, SPAN_SCANNERS))
    out2 = redactor.redact(second, scan_text(second, SPAN_SCANNERS))
    assert out1 == "mail [EMAIL_1]"
    assert out2 == "again [EMAIL_1] and [IP_ADDRESS_1]"
    assert redactor.restore(out1) == first and redactor.restore(out2) == second
    assert redactor.restore("Sure, I wrote to [EMAIL_1] ([EMAIL_9] is unknown).") == (
        "Sure, I wrote to a@b.io ([EMAIL_9] is unknown)."
    )


def test_round_trip_on_mixed_text() -> None:
    text = f"SSN 123-45-6789, IBAN GB29NWBK60161331926819, phone +44 20 7946 0958, {KEY}"
    redactor = Redactor()
    redacted = redactor.redact(text, scan_text(text, SPAN_SCANNERS))
    for value in ("123-45-6789", "GB29NWBK60161331926819", "+44 20 7946 0958", KEY):
        assert value not in redacted
    assert redactor.restore(redacted) == text


def test_overlapping_spans_merge_and_injection_is_not_redacted() -> None:
    text = "0123456789"
    findings = [
        Finding("pii.phone", 1, 5, 0.8),
        Finding("custom.codes", 3, 9, 1.0),
        Finding("injection.classifier", 0, 10, 0.9),
    ]
    assert redact(text, findings).text == "0[CODES_1]9"


def test_mapping_never_leaks_through_repr() -> None:
    redactor = Redactor()
    redactor.redact("a@b.io", [Finding("pii.email", 0, 6, 0.9)])
    assert "a@b.io" not in repr(redactor) and "a@b.io" not in str(redactor)
    assert not hasattr(redactor, "__dict__")


def test_labels() -> None:
    assert placeholder_label("secret.jwt") == "SECRET"
    assert placeholder_label("pii.us_ssn") == "US_SSN"
    assert placeholder_label("custom.project-names") == "PROJECT_NAMES"
    assert placeholder_label("injection.override") is None
