"""Route matching and rewriting; the Warden key format and its acceptance rules."""

from __future__ import annotations

import datetime as dt

import pytest

from proxy.apikeys import ApiKey, format_key, hash_secret, new_key_id, new_secret, parse_key
from proxy.config import settings_from_mapping
from proxy.routing import RouteTable


def table() -> RouteTable:
    raw = {
        "upstreams": {"a": {"url": "http://a"}, "b": {"url": "http://b"}},
        "routes": [
            {"prefix": "/v1", "upstream": "a", "format": "openai"},
            {"prefix": "/v1/messages", "upstream": "b", "format": "anthropic"},
            {"prefix": "/ml/", "upstream": "b", "format": "kserve", "rewrite": "/"},
            {"prefix": "/tenant-x", "upstream": "b", "rewrite": "/api/v2"},
        ],
    }
    return RouteTable.from_settings(settings_from_mapping(raw, {}))


@pytest.mark.parametrize(
    ("path", "prefix", "upstream_path"),
    [
        ("/v1/chat/completions", "/v1", "/v1/chat/completions"),
        ("/v1", "/v1", "/v1"),
        ("/v1/messages", "/v1/messages", "/v1/messages"),
        ("/v1/messages/count_tokens", "/v1/messages", "/v1/messages/count_tokens"),
        ("/ml/v2/models/iris/infer", "/ml/", "/v2/models/iris/infer"),
        ("/ml", "/ml/", "/"),
        ("/tenant-x/score", "/tenant-x", "/api/v2/score"),
        ("/v10/other", None, None),
        ("/v1x", None, None),
        ("/", None, None),
    ],
)
def test_longest_prefix_wins_and_rewrites(path: str, prefix: str | None, upstream_path: str | None):
    route = table().match(path)
    if prefix is None:
        assert route is None
        return
    assert route is not None and route.prefix == prefix
    assert route.upstream_path(path) == upstream_path


def test_key_format_round_trip():
    key_id, secret = new_key_id(), new_secret()
    assert parse_key(format_key(key_id, secret)) == (key_id, secret)
    assert len(secret) >= 43, "32 random bytes"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "sk-abc",
        "wk_",
        "wk_short_secret",
        "wk_ABCDEFGHIJKLMNOP_secret",
        "wk_abcdefghijklmnop_",
        "wk_abcdefghijklmnop",
    ],
)
def test_malformed_keys_are_rejected(token: str):
    assert parse_key(token) is None


def key(**changes: object) -> ApiKey:
    now = dt.datetime.now(dt.UTC)
    fields: dict[str, object] = dict(
        id="abcdefghijklmnop", tenant="acme", name=None, secret_sha256=hash_secret("s3cret"),
        previous_secret_sha256=None, previous_valid_until=None, created_at=now, rotated_at=None,
        revoked_at=None, expires_at=None, rate_limit=None, metadata={},
    )  # fmt: skip
    fields.update(changes)
    return ApiKey(**fields)  # type: ignore[arg-type]


def test_key_acceptance_rules():
    now = dt.datetime.now(dt.UTC)
    minute = dt.timedelta(minutes=1)
    assert key().accepts("s3cret", now)
    assert not key().accepts("wrong", now)
    assert not key(revoked_at=now - minute).accepts("s3cret", now)
    assert key(revoked_at=now + minute).accepts("s3cret", now), "a scheduled revocation"
    assert not key(expires_at=now - minute).accepts("s3cret", now)
    rotated = key(previous_secret_sha256=hash_secret("old"), previous_valid_until=now + minute)
    assert rotated.accepts("old", now) and rotated.accepts("s3cret", now)
    assert not rotated.accepts("old", now + 2 * minute)
    assert "secret_sha256" not in key().public()
