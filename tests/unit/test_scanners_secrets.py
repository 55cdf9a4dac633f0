"""Secrets scanner. Fake credentials are assembled at run time: no literal key is committed."""

from __future__ import annotations

import pytest

from proxy.scanners import SCANNERS

SECRETS = SCANNERS["secrets"]
ALNUM = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC"  # 32 mixed characters to build bodies from


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

# 40 characters of base64 with four slashes, as one random AWS secret key in fifty has.
SLASHED_KEY = "/".join(
    (body(9, "q7Zk2Lm9Xv4Tn8Rb3Wj6Hs1Pd5Gc0Fy"), "Ae4Ku8", "0Ox+Nt3", "Uy7Ib5Vr2Em", "wXy")
)
POSITIVES = [
    ("aws_access_key_id = {}", "AKIA" + "IOSFODNN7" + "EXAMPLE", "secret.aws_access_key"),
    ("aws_secret_access_key={}", body(40, ALNUM + "/+"), "secret.aws_secret_key"),
    ("<AWS_SECRET_ACCESS_KEY>{}</AWS_SECRET_ACCESS_KEY>", body(40), "secret.aws_secret_key"),
    ("my AWS secret key is {} ok", body(40, ALNUM + "/+"), "secret.aws_secret_key"),
    ("mi aws_secret_access_key es {}", body(40, ALNUM + "/+"), "secret.aws_secret_key"),
    # Random base64 with several slashes is still a key, not a path.
    ("aws_secret_access_key={}", SLASHED_KEY, "secret.aws_secret_key"),
    # No keyword before it, but its field names it: a table column or an INSERT's column.
    (
        "| ip | aws_secret_access_key | note |\n|---|---|---|\n| 10.0.0.1 | {} | old |",
        body(40, ALNUM + "/+"),
        "secret.aws_secret_key",
    ),
    (
        "INSERT INTO creds (owner, AWS_SECRET_ACCESS_KEY) VALUES ('ann@x.io', '{}');",
        SLASHED_KEY,
        "secret.aws_secret_key",
    ),
    ('const KEY = "{}";', "AIza" + body(35), "secret.gcp_api_key"),
    ("token {}", "ghp" + "_" + body(36), "secret.github_token"),
    ("GITHUB_TOKEN={}", "github_pat_" + body(82), "secret.github_token"),
    ("token: {}", "glpat" + "-" + body(20), "secret.gitlab_token"),
    ("SLACK={}", "xoxb" + "-123456789012-1234567890123-" + body(24), "secret.slack_token"),
    ("stripe.api_key = '{}'", "sk" + "_live_" + body(24), "secret.stripe_key"),
    (
        'OpenAI(api_key="{}")',
        "sk-" + "proj-" + body(60) + "T3Blbk" + "FJ" + body(60),
        "secret.openai_key",
    ),
    ("key={}", "sk-" + "ant-api03-" + body(93), "secret.anthropic_key"),
    (
        "HF_TOKEN={}",
        "hf" + "_" + body(34, "abcdefghijklmnopqrstuvwxyzABCDEFGH"),
        "secret.huggingface_token",
    ),
    ("Authorization: Bearer {}", JWT, "secret.jwt"),
    ("{}", PEM, "secret.private_key"),
    ("postgres://app:{}@db.internal/prod", "s3cr3t-" + body(10), "secret.url_credentials"),
    ("client_secret = '{}'", body(32, "Zq8Lm2Xv9Tn4Rb7Wk1Hs"), "secret.generic"),
    ("TWILIO_API_KEY={}", "SK" + body(32, "0123456789abcdef"), "secret.twilio_key"),
    ("mailgun: {}", "key" + "-" + body(32, "0123456789abcdef"), "secret.mailgun_key"),
    ("bot = Bot('{}')", "7312945106" + ":AA" + body(33), "secret.telegram_bot_token"),
    (
        "SLACK_APP_TOKEN={}",
        "xapp" + "-1-A0123BCDE45-1234567890123-" + body(64, "0123456789abcdef"),
        "secret.slack_token",
    ),
]

GITLAB = "glpat" + "-" + body(20)
SLACK_BOT = "xoxb" + "-123456789012-1234567890123-" + body(24)
ANTHROPIC = "sk-" + "ant-api03-" + body(93)

# A keyword's value stops at "&" (the next query parameter), and a provider key found inside a
# keyword's value is reported over its own span: the values after it stay visible to the PII
# scanner.
QUERY_STRINGS = [
    (
        "https://h.example/a?private_token={}&card=4111-1111-1111-1111",
        GITLAB,
        "secret.gitlab_token",
    ),
    ("/x?SLACK_BOT_TOKEN={}&placeholder=xoxb-your-token", SLACK_BOT, "secret.slack_token"),
    ("/x?ANTHROPIC_API_KEY={}&SSN=219-09-9999", ANTHROPIC, "secret.anthropic_key"),
    ("/x?api_token={}&email=bob@example.com", body(24, "Zq8Lm2Xv9Tn4Rb7Wk1Hs"), "secret.generic"),
]

NEGATIVES = [
    "OpenAI keys start with sk-... and Slack bot tokens with xoxb-your-token.",
    "Configure the client with ${OPENAI_API_KEY} from your secrets manager.",
    "Use <your-key> or {{ secrets.GITHUB_TOKEN }} or $STRIPE_KEY in examples, or ghp_XXXX.",
    "api_key = 'your-api-key-here-please'",
    "Reverted 91c6bc9601fe7bb7800656d56d6d3e45fc2cf3e6; digest sha256:" + "ab12" * 16,
    "password = 'correcthorsebattery'",
    "token = 550e8400-e29b-41d4-a716-446655440000",
    "-----BEGIN RSA " + "PRIVATE KEY-----\n...\n-----END RSA " + "PRIVATE KEY-----",
    "AKIA" + "0000000000000000",
    # Near misses of the Twilio, Mailgun and Telegram shapes: too short, not hex, no "AA".
    "SK" + "0123456789abcdef" * 2 + "0 and key-" + "0123456789abcdeg" * 2,
    "at 12:30 the 1234567890:BB" + body(33) + " id",
    # Slack app-token look-alikes: no version digit, upper-case tail.
    "xapp" + "-A0123BCDE45-1234567890123-" + body(20, "0123456789abcdef"),
    # "AWS secret key" said, but nothing key-shaped after it (or nothing random).
    "The AWS secret key is great for automation; aws_access_key > threshold in the check.",
    "my aws key is " + "A" * 40,
    # A path after the keyword; base64 in a column that is not the AWS secret key's.
    "aws_secret_access_key=home/user/projects/warden/src/proxy/main",
    "AWS accounts\n| account | session_id |\n|---|---|\n| dev | " + body(40, ALNUM + "/+") + " |",
    "INSERT INTO aws_keys (note, aws_secret_access_key) VALUES ('"
    + body(40, ALNUM + "/+")
    + "', NULL);",
]


@pytest.mark.parametrize(("template", "secret", "kind"), POSITIVES, ids=[p[2] for p in POSITIVES])
def test_positive(template: str, secret: str, kind: str) -> None:
    text = template.format(secret)
    found = [(f.kind, text[f.start : f.end]) for f in SECRETS.scan(text)]
    assert (kind, secret) in found
    assert kind in SECRETS.kinds


@pytest.mark.parametrize("text", NEGATIVES)
def test_placeholder_or_identifier_is_not_a_secret(text: str) -> None:
    assert SECRETS.scan(text) == []


def test_private_key_block_is_one_span() -> None:
    text = f"here:\n{PEM}\nthanks"
    findings = SECRETS.scan(text)
    assert len(findings) == 1
    assert text[findings[0].start : findings[0].end] == PEM
    assert len(PEM) <= SECRETS.max_match_len


@pytest.mark.parametrize(("template", "secret", "kind"), QUERY_STRINGS)
def test_key_in_a_query_string_has_its_own_span(template: str, secret: str, kind: str) -> None:
    text = template.format(secret)
    found = [(f.kind, text[f.start : f.end]) for f in SECRETS.scan(text)]
    assert found == [(kind, secret)]
