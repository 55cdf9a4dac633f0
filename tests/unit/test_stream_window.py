"""Streaming window: matches split across chunks are caught, offsets absolute, cost linear."""

from __future__ import annotations

import pytest

from proxy.redact import Redactor
from proxy.scanners import SCANNERS, Finding, scan_text
from proxy.scanners.window import StreamWindow, WindowResult

SPAN_SCANNERS = [SCANNERS["pii"], SCANNERS["secrets"]]
HOLD_BACK = 96
KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"
TEXT = (
    f"Hi, reach me at jane.doe@example.com or +44 20 7946 0958. My card is 4111 1111 1111 1111 "
    f"and the key {KEY}; server 203.0.113.9, SSN 123-45-6789. Thanks!"
)
EXPECTED = scan_text(TEXT, SPAN_SCANNERS)


def run(chunks: list[str], redactor: Redactor | None = None) -> tuple[str, list[Finding]]:
    window = StreamWindow(SPAN_SCANNERS, HOLD_BACK, redactor=redactor, step=8)
    emitted: list[str] = []
    findings: list[Finding] = []
    for chunk in chunks:
        result = window.feed(chunk)
        emitted.append(result.emit)
        findings.extend(result.findings)
    final = window.finish()
    emitted.append(final.emit)
    findings.extend(final.findings)
    return "".join(emitted), findings


def test_expected_findings_cover_every_kind() -> None:
    assert {f.kind for f in EXPECTED} == {
        "pii.email",
        "pii.phone",
        "pii.credit_card",
        "secret.aws_access_key",
        "pii.ip_address",
        "pii.us_ssn",
    }


@pytest.mark.parametrize("target", EXPECTED, ids=lambda f: f.kind)
def test_every_finding_split_at_every_offset(target: Finding) -> None:
    for split in range(target.start + 1, target.end):
        emitted, findings = run([TEXT[:split], TEXT[split:]])
        assert emitted == TEXT
        assert findings == EXPECTED, f"split at {split}"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 64, 1000])
def test_fixed_size_chunks(size: int) -> None:
    chunks = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    emitted, findings = run(chunks)
    assert emitted == TEXT
    assert findings == EXPECTED


@pytest.mark.parametrize("size", [1, 4, 17])
def test_redacts_in_flight_like_one_shot(size: int) -> None:
    one_shot = Redactor().redact(TEXT, EXPECTED)
    redactor = Redactor()
    chunks = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    emitted, _ = run(chunks, redactor)
    assert emitted == one_shot
    assert redactor.restore(emitted) == TEXT


def test_offsets_are_absolute_over_a_long_stream() -> None:
    stream = ("filler text " * 40 + "mail a@b.io ") * 5
    _, findings = run([stream[i : i + 5] for i in range(0, len(stream), 5)])
    assert [stream[f.start : f.end] for f in findings] == ["a@b.io"] * 5


def test_holds_back_only_the_tail() -> None:
    window = StreamWindow(SPAN_SCANNERS, 10, step=1)
    assert window.feed("abc") == WindowResult("")
    result = window.feed("defghijklmnop")
    assert result.emit == "abcdef"
    assert window.finish().emit == "ghijklmnop"
    with pytest.raises(RuntimeError):
        window.feed("x")


class CountingScanner:
    name = "counting"
    kinds = frozenset({"custom.none"})
    max_match_len = 8

    def __init__(self) -> None:
        self.scanned = 0

    def scan(self, text: str) -> list[Finding]:
        self.scanned += len(text)
        return []


def test_total_work_is_linear_in_stream_length() -> None:
    counter = CountingScanner()
    window = StreamWindow([counter], hold_back=256)
    stream = "x" * 100_000
    for index in range(0, len(stream), 3):
        window.feed(stream[index : index + 3])
    window.finish()
    assert counter.scanned < 8 * len(stream)
