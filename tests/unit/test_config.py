"""Config loading: every problem listed with its key path; secrets only from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.config import ConfigError, load_settings, settings_from_mapping


def minimal(**extra: Any) -> dict[str, Any]:
    return {
        "upstreams": {"openai": {"url": "https://api.openai.com"}},
        "routes": [{"prefix": "/v1", "upstream": "openai", "format": "openai"}],
        **extra,
    }


def problems_of(raw: Any, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(raw, env or {})
    return {p.path: p.message for p in caught.value.problems}


def test_minimal_config_gets_defaults():
    settings = settings_from_mapping(minimal(), {})
    assert settings.listen.proxy.port == 8080
    assert settings.listen.admin.host == "127.0.0.1"
    assert settings.admin.token is None
    assert settings.routes[0].rewrite is None
    assert settings.upstreams["openai"].timeouts.read == 300.0


def test_every_problem_is_reported_at_once():
    raw = minimal(
        listen={"proxy": {"port": -1, "hots": "x"}},
        keys={"cache_ttl_seconds": "soon"},
        logging={"level": "loud"},
    )
    raw["routes"].append({"prefix": "/v2"})
    found = problems_of(raw)
    assert found == {
        "listen.proxy.port": "expected a non-negative number, got -1",
        "listen.proxy.hots": "unknown key (expected one of: host, port)",
        "keys.cache_ttl_seconds": "expected a number, got str 'soon'",
        "logging.level": "expected one of 'debug', 'info', 'warning', 'error', got 'loud'",
        "routes[1].upstream": "required key is missing (a string)",
    }


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda r: r["routes"].append({"prefix": "/v1", "upstream": "openai"}),
            "routes[1].prefix",
            "duplicate route prefix '/v1'",
        ),
        (
            lambda r: r["routes"][0].update(upstream="nope"),
            "routes[0].upstream",
            "unknown upstream 'nope' (known: openai)",
        ),
        (
            lambda r: r["routes"][0].update(prefix="v1"),
            "routes[0].prefix",
            "expected a path starting with '/'",
        ),
        (
            lambda r: r["upstreams"]["openai"].update(url="api.openai.com"),
            "upstreams.openai.url",
            "expected an http(s) URL",
        ),
        (
            lambda r: r.update(postgres={"pool_min": 5, "pool_max": 2}),
            "postgres.pool_min",
            "must not exceed postgres.pool_max",
        ),
        (
            lambda r: r["routes"][0].update(stream_hold_back=-1),
            "routes[0].stream_hold_back",
            "expected a non-negative number, got -1",
        ),
        (
            lambda r: r.update(scanning={"offload_above_chars": -5}),
            "scanning.offload_above_chars",
            "expected a non-negative number, got -5",
        ),
        (lambda r: r.update(scanning={"processes": 0}), "scanning.processes", "must be at least 1"),
    ],
)
def test_cross_checks(edit: Any, path: str, message: str):
    raw = minimal()
    edit(raw)
    assert problems_of(raw)[path] == message


def test_secrets_must_come_from_the_environment():
    raw = minimal(admin={"token": "hunter2"})
    raw["upstreams"]["openai"]["credential"] = {"value": "sk-live-literal"}
    found = problems_of(raw)
    assert "secrets must be a ${ENV_VAR} reference" in found["admin.token"]
    assert "secrets must be a ${ENV_VAR} reference" in found["upstreams.openai.credential.value"]


def test_environment_references_are_resolved_and_typed():
    raw = minimal(
        admin={"token": "${ADMIN}"},
        listen={"proxy": {"port": "${PORT:-9000}"}},
        redis={"url": "${REDIS_URL}"},
    )
    settings = settings_from_mapping(raw, {"ADMIN": "t0k", "REDIS_URL": "redis://r:6379/2"})
    assert settings.admin.token == "t0k"
    assert settings.listen.proxy.port == 9000
    assert settings.redis.url == "redis://r:6379/2"
    assert problems_of(raw, {})["admin.token"] == "environment variable ADMIN is not set"


def test_missing_secrets_may_be_tolerated_for_database_only_tools():
    raw = minimal(admin={"token": "${ADMIN}"})
    settings = settings_from_mapping(raw, {}, require_secrets=False)
    assert settings.admin.token == ""


def test_passwords_in_literal_urls_are_refused():
    raw = minimal(postgres={"url": "postgresql://warden:pw@db/warden"})
    assert "password in a URL is a secret" in problems_of(raw)["postgres.url"]
    raw = minimal(postgres={"url": "${DB_URL}"})
    settings = settings_from_mapping(raw, {"DB_URL": "postgresql://warden:pw@db/warden"})
    assert settings.postgres.url.endswith("@db/warden")


def test_shipped_config_loads(repo_root: Path):
    env = {"WARDEN_ADMIN_TOKEN": "t", "WARDEN_OPENAI_API_KEY": "k", "WARDEN_ANTHROPIC_API_KEY": "k"}
    settings = load_settings(repo_root / "config.yaml", env)
    assert {r.prefix for r in settings.routes} >= {"/v1", "/v1/messages", "/ml/", "/json/"}
    assert settings.base_dir == str(repo_root)
    with pytest.raises(ConfigError) as caught:
        load_settings(repo_root / "config.yaml", {})
    assert "WARDEN_ADMIN_TOKEN" in str(caught.value)


def test_unreadable_and_invalid_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read file"):
        load_settings(tmp_path / "absent.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(bad, {})
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError) as caught:
        load_settings(empty, {})
    assert {p.path for p in caught.value.problems} == {"upstreams", "routes"}


def test_ml_settings_are_checked():
    found = problems_of(minimal(ml={"baseline_request": 5, "weights": {"trust": 1}}))
    assert found["ml.baseline_request"].startswith("unknown key (expected one of: enabled,")
    assert found["ml.weights.trust"] == (
        "unknown key (expected one of: confidence, drift, outlier)"
    )
    found = problems_of(
        minimal(
            ml={
                "weights": {"confidence": 0, "drift": 0, "outlier": 0},
                "outlier_sigma": 0,
                "recent_window": 0,
            }
        )
    )
    assert found == {
        "ml.weights": "at least one weight must be above 0",
        "ml.outlier_sigma": "must be above 0",
        "ml.recent_window": "must be at least 1",
    }
    assert settings_from_mapping(minimal(ml={"enabled": False}), {}).ml.enabled is False
