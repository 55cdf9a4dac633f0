"""Streaming window: matches split across chunks are caught, offsets absolute, cost linear."""

from __future__ import annotations

import pytest

from proxy.redact import Redactor
from proxy.scanners import SCANNERS, Finding, scan_text
from proxy.scanners.holdback import HOLD_RULES, window_hold_rule
from proxy.scanners.window import LEFT_CONTEXT, StreamWindow, WindowResult

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


@pytest.mark.parametrize("delta", [1, 3, 17])
def test_total_work_is_linear_in_stream_length(delta: int) -> None:
    counter = CountingScanner()
    window = StreamWindow([counter], hold_back=256)
    stream = "x" * 100_000
    for index in range(0, len(stream), delta):
        window.feed(stream[index : index + delta])
    window.finish()
    # At most the left context per delta, plus a few times the text: never quadratic.
    deltas = len(stream) // delta + 1
    assert counter.scanned <= LEFT_CONTEXT * deltas + 6 * len(stream)


@pytest.mark.parametrize("stream", ["x" * 50_000, ("word " * 10_000), ("1 " * 25_000)])
def test_known_scanners_stay_linear_on_long_runs(stream: str) -> None:
    """One endless token, endless prose, endless digit groups: held up to the cap at most."""

    class Counting:
        def __init__(self, inner: object) -> None:
            self.inner = inner
            self.name = inner.name  # type: ignore[attr-defined]
            self.kinds = inner.kinds  # type: ignore[attr-defined]
            self.max_match_len = inner.max_match_len  # type: ignore[attr-defined]
            self.scanned = 0

        def scan(self, text: str) -> list[Finding]:
            self.scanned += len(text)
            return self.inner.scan(text)  # type: ignore[attr-defined, no-any-return]

    counters = [Counting(s) for s in SPAN_SCANNERS]
    window = StreamWindow(counters, hold_back=SCANNERS["secrets"].max_match_len)
    for index in range(0, len(stream), 4):
        window.feed(stream[index : index + 4])
    window.finish()
    for counter in counters:
        assert counter.scanned <= LEFT_CONTEXT * (len(stream) // 4 + 1) + 6 * len(stream)


# --- Prefix-aware hold-back: every kind, split at every offset ----------------------------------

ALNUM = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC"


def body(length: int, alphabet: str = ALNUM) -> str:
    return (alphabet * (length // len(alphabet) + 1))[:length]


PEM = (
    "-----BEGIN RSA "
    + "PRIVATE KEY-----\n"
    + "\n".join(body(64, ALNUM + "+/") for _ in range(4))
    + "\n-----END RSA "
    + "PRIVATE KEY-----"
)
JWT = "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + "." + body(43)
# Each text holds at least one finding of the kind named; secret-shaped values are assembled.
CORPUS = [
    ("pii.email", "write to jane.doe+news@mail.example.co.uk today"),
    ("pii.phone", "call +1 (415) 555-0132 ext 12 now"),
    ("pii.phone", "or 415.555.0132, or tel: 030 1234567 bitte"),
    ("pii.phone", "UK +44 20 7946 0958 office"),
    ("pii.phone", "desk (415) 555-0132 ext 12, or (+44) 20 7946 0958 x 7"),
    ("pii.credit_card", "card 4111-1111-1111-1111 and 4111 1111 1111 1111 ok"),
    ("pii.us_ssn", "SSN 123-45-6789, ssn 123456789 on file"),
    ("pii.iban", "IBAN GB82 WEST 1234 5698 7654 32 please, or DE89370400440532013000"),
    ("pii.iban", "wire it to gb82 west 1234 5698 7654 32 today, account de89370400440532013000"),
    ("pii.ip_address", "hosts 203.0.113.9 and 2001:db8:85a3::8a2e:370:7334 up"),
    ("secret.aws_access_key", "key " + "AKIA" + "IOSFODNN7" + "QWERTYZ" + " here"),
    ("secret.github_token", "token " + "ghp" + "_" + body(36) + " ok"),
    ("secret.stripe_key", "stripe.api_key = '" + "sk" + "_live_" + body(24) + "'"),
    ("secret.aws_secret_key", "my AWS secret key is " + body(40, ALNUM + "+/") + " ok"),
    ("secret.aws_secret_key", "<AWS_SECRET_ACCESS_KEY>" + body(40) + "</AWS_SECRET_ACCESS_KEY>"),
    ("secret.anthropic_key", "key=" + "sk-" + "ant-api03-" + body(93) + " end"),
    ("secret.slack_token", "SLACK=" + "xoxb" + "-123456789012-1234567890123-" + body(24)),
    ("secret.jwt", "Authorization: Bearer " + JWT + " end"),
    ("secret.bearer_token", "Authorization: Bearer " + body(40) + " end"),
    ("secret.generic", "password = " + body(20, "Zq8Lm2Xv9Tn4Rb7Wk1Hs") + " end"),
    ("secret.url_credentials", "db postgres://app:" + "s3cr3t-" + body(10) + "@db.internal/x ok"),
    ("secret.private_key", "here:\n" + PEM + "\nthanks"),
]
BIG_HOLD = SCANNERS["secrets"].max_match_len


def run_corpus(text: str, chunks: list[str]) -> tuple[str, list[Finding], list[str]]:
    window = StreamWindow(SPAN_SCANNERS, BIG_HOLD)
    emitted: list[str] = []
    findings: list[Finding] = []
    for chunk in chunks:
        result = window.feed(chunk)
        emitted.append(result.emit)
        findings.extend(result.findings)
    final = window.finish()
    emitted.append(final.emit)
    findings.extend(final.findings)
    return "".join(emitted), findings, emitted


def corpus_cases() -> list[object]:
    cases = []
    for kind, text in CORPUS:
        expected = scan_text(text, SPAN_SCANNERS)
        assert kind in {f.kind for f in expected}, (kind, text)
        for target in expected:
            cases.append(pytest.param(text, target, id=f"{kind}:{target.kind}@{target.start}"))
    return cases


def test_the_corpus_covers_every_span_kind_the_hold_rules_know() -> None:
    assert set(HOLD_RULES) == {s.name for s in SPAN_SCANNERS}
    kinds = {kind for kind, _ in CORPUS}
    assert {k for k in SCANNERS["pii"].kinds} <= kinds
    assert len({k for k in kinds if k.startswith("secret.")}) >= 10


@pytest.mark.parametrize(("text", "target"), corpus_cases())
def test_every_finding_of_every_kind_split_at_every_offset(text: str, target: Finding) -> None:
    expected = scan_text(text, SPAN_SCANNERS)
    for split in range(target.start, target.end + 1):
        emitted, findings, _ = run_corpus(text, [text[:split], text[split:]])
        assert emitted == text
        assert findings == expected, f"split at {split}"


@pytest.mark.parametrize(
    ("kind", "text"), CORPUS, ids=[f"{k}:{i}" for i, (k, _) in enumerate(CORPUS)]
)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_every_kind_in_small_deltas(kind: str, text: str, size: int) -> None:
    expected = scan_text(text, SPAN_SCANNERS)
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    emitted, findings, _ = run_corpus(text, chunks)
    assert emitted == text
    assert findings == expected


PROSE = "The quarterly report is ready, and the team will review it on Friday before lunch."


def test_prose_goes_out_word_by_word() -> None:
    words = [w if i == 0 else " " + w for i, w in enumerate(PROSE.split(" "))]
    _, _, emitted = run_corpus(PROSE, words)
    # Each delta releases every word before it: only the word still being written waits.
    sent = ""
    for index, word in enumerate(words):
        sent += word
        assert "".join(emitted[: index + 1]) == sent[: len(sent) - len(word.lstrip())]
    assert "".join(emitted) == PROSE


def test_a_chunk_ending_in_a_space_or_punctuation_is_released_whole() -> None:
    window = StreamWindow(SPAN_SCANNERS, BIG_HOLD)
    assert window.feed("Hello there, ").emit == "Hello there, "
    assert window.feed("see you.\n").emit == "see you.\n"


@pytest.mark.parametrize(
    ("sent", "released"),
    [
        ("call me at 415 555", "call me at "),  # a number being written
        ("iban GB82 WEST", "iban "),  # capital and digit groups
        ("IBAN GB82 WEST", ""),  # a capital word may start one too
        ("iban gb82 west 12", "iban "),  # in lower case too
        ("room b12 is free", "room b12 is "),  # but not any word with digits
        ("mail jane.doe@exa", "mail "),  # one run
        ("number 0132 ext", "number "),  # an extension keeps the number open
        ("see -----BEGIN RSA PRIVATE KEY-----\nMIIE abc", "see "),
        ("the sum is 42. next", "the sum is 42. "),
        ("done.\nNext", "done.\n"),  # numbers and IBANs never span lines
        ("plain words and more ", "plain words and more "),
    ],
)
def test_only_what_could_still_be_a_match_is_held(sent: str, released: str) -> None:
    assert min(rule(sent) for rule in HOLD_RULES.values()) == len(released)


def test_a_window_of_both_default_scanners_holds_what_either_rule_holds() -> None:
    both = window_hold_rule(SPAN_SCANNERS)
    texts = [TEXT, PROSE, *(text for _, text in CORPUS), "a -----BEGIN x -----END x ----- b"]
    for text in texts:
        for end in range(len(text) + 1):
            prefix = text[:end]
            assert both(prefix) == min(rule(prefix) for rule in HOLD_RULES.values()), prefix
