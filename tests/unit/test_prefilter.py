"""Scanner pre-checks: wherever a scanner finds something, its pre-check says it might."""

from __future__ import annotations

import pytest

from proxy.scanners import SCANNERS, Finding, Scanner
from proxy.scanners.prefilter import PREFILTERS, SECRET_RUN, prefilter
from proxy.scanners.window import StreamWindow
from tests.unit import test_scanners_pii, test_scanners_secrets, test_stream_window

PII, SECRETS = SCANNERS["pii"], SCANNERS["secrets"]
KEY_BODY = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC"

# The shortest value of each shape the rules rely on, beside the scanners' own test tables.
EDGES = [
    "db a://u:pwd@h ok",  # URL credentials: a 3-character password, then "@host"
    "x://user:abc@host.example",
    "secret=" + "Zq8Lm2Xv9Tn4",  # secret.generic: a 12-character value
    "token: " + "Zq8Lm2Xv9Tn4" + " end",
    "SLACK " + "xoxb" + "-" + "aB3dE5gH7j",  # slack: 15 characters
    "k " + "AKIA" + "ABCDEFGHIJKLMNOP" + " ",  # AWS key id without a digit
    "k " + "dapi" + "abcdefabcdefabcdefabcdefabcdefab",  # databricks, letters only
    "k " + "AIza" + "abcdefghijklmnopqrstuvwxyzABCDEFGHI",  # GCP, letters only
    "Authorization: Bearer " + KEY_BODY[:24] + " end",
    "sk" + "_test_" + KEY_BODY[:10],
    "ip 1.2.3.4 and ::1 and fe80::1 and a@b.io",
    "SSN 123456789",
    "IBAN GB82WEST12345698765432",
]


def texts() -> list[str]:
    found = [text for text, _, _ in test_scanners_pii.POSITIVES + test_scanners_pii.RUNS]
    found += [template.format(s) for template, s, _ in test_scanners_secrets.POSITIVES]
    found += [text for _, text in test_stream_window.CORPUS]
    return [*found, test_stream_window.TEXT, *EDGES]


def findings_by_prefix(scanner: Scanner, text: str) -> list[tuple[int, Finding]]:
    """Every (prefix end, finding) a window could meet: the scanner over every prefix."""
    seen: list[tuple[int, Finding]] = []
    last: list[Finding] = []
    for end in range(1, len(text) + 1):
        found = scanner.scan(text[:end])
        if found != last:
            seen.extend((end, f) for f in found)
            last = found
    return seen


@pytest.mark.parametrize("scanner", [PII, SECRETS], ids=lambda s: s.name)
def test_every_finding_is_seen_by_the_pre_check(scanner: Scanner) -> None:
    check = PREFILTERS[scanner.name].search
    counted = 0
    for text in texts():
        for end, finding in findings_by_prefix(scanner, text):
            # The window checks its pending text, which starts at or before a finding it
            # could report and ends where the stream has got to.
            tail = text[finding.start : end]
            assert check(tail) is not None, (finding.kind, tail)
            counted += 1
    assert counted > 100


def test_plain_prose_needs_no_scan() -> None:
    check = prefilter([PII, SECRETS])
    assert check is not None
    prose = "The quarterly report is ready, and the team will review it on Friday! Thanks."
    assert all(check(word) is None for word in prose.split(" "))
    assert check(prose) is None
    assert check("x" * SECRET_RUN) is not None
    assert check("x" * (SECRET_RUN - 1)) is None
    for trigger in ("7", "a@b", "a:b", "-----BEGIN"):
        assert check(trigger) is not None


def test_a_scanner_without_a_rule_is_always_run() -> None:
    class Custom:
        name = "custom.rule"
        kinds = frozenset({"custom.rule"})
        max_match_len = 8

        def scan(self, text: str) -> list[Finding]:
            return []

    assert prefilter([PII, Custom()]) is None
    assert prefilter([]) is None
    assert prefilter([PII]) is not None


class Counting:
    """A default scanner under its own name (so its rules apply), counting its scans."""

    def __init__(self, inner: Scanner) -> None:
        self.inner = inner
        self.name = inner.name
        self.kinds = inner.kinds
        self.max_match_len = inner.max_match_len
        self.scans = 0

    def scan(self, text: str) -> list[Finding]:
        self.scans += 1
        return self.inner.scan(text)


def test_the_window_scans_only_where_something_could_be_found() -> None:
    counters = [Counting(PII), Counting(SECRETS)]
    window = StreamWindow(counters, SECRETS.max_match_len)
    words = "the quick brown fox jumps over the lazy dog " * 5
    emitted = "".join(window.feed(" " + word).emit for word in words.split())
    emitted += window.finish().emit
    assert emitted == " " + " ".join(words.split())
    assert [c.scans for c in counters] == [0, 0]
    result = window_for(counters).feed("call +1 415 555 0132 now ")
    assert [f.kind for f in result.findings] == ["pii.phone"]
    assert all(c.scans == 1 for c in counters)


def window_for(scanners: list[Counting]) -> StreamWindow:
    return StreamWindow(scanners, SECRETS.max_match_len)
