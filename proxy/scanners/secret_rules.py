"""The credential rules (gitleaks-style): one provider shape per rule, plus placeholder filters."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True, slots=True)
class SecretRule:
    """`pattern` is RE2 syntax with exactly one capture group, the secret value itself.

    `triggers`: literals one of which every match contains, compared case-insensitively. The
    scanner runs a rule only on text holding one of them (tests/unit/test_scanner_prefilters.py
    proves it from the pattern), so keep them as long and rare as the pattern allows.
    """

    kind: str
    pattern: str
    score: float = 0.95
    min_entropy: float = 0.0
    triggers: tuple[str, ...] = field(kw_only=True)


# The names an AWS secret access key goes by (aws_secret_access_key, AWS secret key, awsKey),
# before its value or as the header of its column; its value is 40 characters of base64.
AWS_SECRET_NAME: Final = r"aws[_ -]?(?:secret)?[_ -]?(?:access)?[_ -]?key"

# Order matters where shapes nest: Anthropic before OpenAI (both start "sk-"), the specific
# rules before the generic keyword rule, so RE2's leftmost-first pick favours the precise one.
RULES: Final[tuple[SecretRule, ...]] = (
    SecretRule(
        "secret.private_key",
        r"(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)",
        0.99,
        triggers=("-----begin",),
    ),
    SecretRule(
        "secret.aws_access_key",
        r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        triggers=("a3t", "akia", "asia", "abia", "acca"),
    ),
    SecretRule(
        "secret.aws_secret_key",
        # Assigned ("aws_secret_access_key = …"), an XML element's text
        # ("<AWS_SECRET_ACCESS_KEY>…"), or said, with at most one short word between, in any
        # language ("my AWS secret key is …", "mi aws_secret_access_key es …").
        rf"(?i:{AWS_SECRET_NAME})[\w.-]{{0,20}}['\"]?"
        r"(?:\s*[:=>]\s*|\s+(?:\S{1,4}\s+)?)['\"]?([A-Za-z0-9/+]{40})\b",
        0.9,
        3.5,
        triggers=("aws",),
    ),
    SecretRule("secret.gcp_api_key", r"\b(AIza[\w-]{35})(?:[^\w-]|$)", triggers=("aiza",)),
    SecretRule(
        "secret.azure_storage_key",
        r"(?i:AccountKey)=([A-Za-z0-9+/]{86,88}={0,2})",
        0.95,
        triggers=("accountkey=",),
    ),
    SecretRule(
        "secret.azure_client_secret",
        r"(?:^|[^\w~.-])([a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34})(?:[^\w~.-]|$)",
        0.9,
        triggers=("q~",),
    ),
    SecretRule(
        "secret.github_token",
        r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})\b",
        triggers=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    SecretRule(
        "secret.github_token", r"\b(github_pat_[A-Za-z0-9_]{82,})\b", triggers=("github_pat_",)
    ),
    SecretRule(
        "secret.gitlab_token",
        r"\b((?:glpat|glptt|gldt|glrt)-[\w-]{20,})",
        triggers=("glpat-", "glptt-", "gldt-", "glrt-"),
    ),
    SecretRule(
        "secret.slack_token", r"\b(xox[baprse]-(?:[0-9]+-)*[0-9A-Za-z-]{10,})", triggers=("xox",)
    ),
    # App-level tokens: "xapp-", the version digit, the app id, a number, 64 hex-ish chars.
    SecretRule("secret.slack_token", r"\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)\b", triggers=("xapp-",)),
    SecretRule(
        "secret.slack_webhook",
        r"(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{43,56})",
        triggers=("hooks.slack.com/",),
    ),
    SecretRule(
        "secret.stripe_key",
        r"\b((?:sk|rk|pk)_(?:test|live|prod)_[A-Za-z0-9]{10,247})\b",
        triggers=("_test_", "_live_", "_prod_"),
    ),
    SecretRule(
        "secret.anthropic_key", r"\b(sk-ant-(?:api|admin)\d\d-[\w-]{80,120})", triggers=("sk-ant-",)
    ),
    SecretRule(
        "secret.openai_key",
        r"\b(sk-(?:proj|svcacct|admin)-[\w-]{40,300})",
        triggers=("sk-proj-", "sk-svcacct-", "sk-admin-"),
    ),
    SecretRule(
        "secret.openai_key",
        r"\b(sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})\b",
        triggers=("t3blbkfj",),
    ),
    SecretRule(
        "secret.huggingface_token",
        r"\b((?:hf|api_org)_[A-Za-z]{34})\b",
        triggers=("hf_", "api_org_"),
    ),
    SecretRule("secret.npm_token", r"\b(npm_[A-Za-z0-9]{36})\b", triggers=("npm_",)),
    SecretRule("secret.pypi_token", r"\b(pypi-AgEIcHlwaS5vcmc[\w-]{50,})", triggers=("pypi-",)),
    SecretRule("secret.sendgrid_key", r"\b(SG\.[\w-]{22}\.[\w-]{43})\b", triggers=("sg.",)),
    SecretRule("secret.digitalocean_token", r"\b(do[opr]_v1_[a-f0-9]{64})\b", triggers=("_v1_",)),
    SecretRule(
        "secret.shopify_token", r"\b(shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b", triggers=("shp",)
    ),
    SecretRule("secret.databricks_token", r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b", triggers=("dapi",)),
    SecretRule("secret.twilio_key", r"\b(SK[0-9a-fA-F]{32})\b", triggers=("sk",)),
    SecretRule("secret.mailgun_key", r"\b(key-[0-9a-f]{32})\b", triggers=("key-",)),
    SecretRule(
        "secret.telegram_bot_token", r"\b([0-9]{8,10}:AA[\w-]{33})(?:[^\w-]|$)", triggers=(":aa",)
    ),
    SecretRule(
        "secret.jwt",
        r"\b(eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\.[A-Za-z0-9_-]{10,}={0,2})",
        0.9,
        triggers=("eyj",),
    ),
    SecretRule(
        "secret.url_credentials",
        r"\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@'\"]{1,64}:([^\s:/@'\"]{3,128})@[\w.-]+",
        0.85,
        triggers=("://",),
    ),
    SecretRule(
        "secret.bearer_token",
        r"(?i:bearer)\s+([A-Za-z0-9_\-.~+/]{24,512}=*)",
        0.8,
        3.5,
        triggers=("bearer",),
    ),
    # No "&" in the value: in a query string it starts the next parameter.
    SecretRule(
        "secret.generic",
        r"(?i:api[_-]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|access[_-]?key|"
        r"credentials?|auth[_-]?key|client[_-]?secret|private[_-]?key)"
        r"[\w.-]{0,20}['\"]?\s*(?::=|=>|[:=])\s*['\"]?([A-Za-z0-9_\-+/=.~!@#$%^*]{12,200})",
        0.75,
        3.3,
        triggers=("key", "secret", "token", "passw", "pwd", "credential"),
    ),
)

# Placeholders that documentation and examples put where a secret goes.
PLACEHOLDER_MARKERS: Final = (
    "your", "xxxx", "...", "placeholder", "changeme", "change_me", "redacted", "insert",
    "replace", "dummy", "<", ">", "${", "{{", "%(", "****",
)  # fmt: skip

_HEX: Final = frozenset("0123456789abcdefABCDEF")


_PLACEHOLDER: Final = re.compile("|".join(map(re.escape, PLACEHOLDER_MARKERS)))


def shannon_entropy(value: str) -> float:
    length = len(value)
    counts = Counter(value).values()
    # Few distinct counts (a random key's characters mostly occur once): each term once, then
    # summed in the same order as term by term, so the result is the same float.
    terms = {count: count / length * math.log2(count / length) for count in set(counts)}
    return -sum(map(terms.__getitem__, counts))


def looks_like_placeholder(value: str) -> bool:
    if _PLACEHOLDER.search(value.lower()) is not None:
        return True
    # A run of one character ("sk-aaaaaaaa…", "AKIA0000…") is a template, not a key.
    return len(set(value)) <= 3


def looks_like_digest(value: str) -> bool:
    """Git SHAs, sha256 digests and UUIDs are identifiers, not credentials."""
    stripped = value.removeprefix("sha256:").removeprefix("sha1:")
    if len(stripped) in (7, 12, 32, 40, 64, 128) and set(stripped) <= _HEX:
        return True
    parts = stripped.split("-")
    return list(map(len, parts)) == [8, 4, 4, 4, 12] and set("".join(parts)) <= _HEX


RANDOM_PATH_ENTROPY: Final = 4.35


def generic_value_ok(value: str, min_entropy: float) -> bool:
    """A keyword-anchored value counts only if it is random-looking, not a word or a path."""
    if looks_like_digest(value) or value.isalpha() or value.isdigit():
        return False
    if not any(map(str.isdigit, value)) or not any(map(str.isalpha, value)):
        return False
    if value.count(".") > 2:
        return False
    entropy = shannon_entropy(value)
    # Three slashes or more: a path, unless it is as random as base64 is (one random 40-character
    # AWS secret key in fifty has three slashes; paths of words stay near 4.2 bits).
    if value.count("/") > 2 and entropy < RANDOM_PATH_ENTROPY:
        return False
    return entropy >= min_entropy
