"""/metrics after real traffic: parsed exposition, bounded labels, promtool's own check."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.keys import POLICIES
from proxy.metrics import MAX_MODEL_LABELS
from tests.conftest import RunningWarden

RULES = """
rules:
  - id: secrets.block
    description: Credentials must not be sent to a model.
    phase: content
    when: {findings: {kinds: ["secret.*"]}}
    action: block
    severity: critical
  - id: pii.redact
    description: Contact details are replaced by placeholders.
    phase: content
    when: {findings: {kinds: [pii.email]}}
    action: redact
    severity: medium
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(key)[label] for (sample, key) in samples if sample == name and label in dict(key)}


async def scrape(warden: RunningWarden) -> str:
    async with warden.http.get(f"{warden.admin_url}/metrics") as r:
        assert r.status == 200
        assert r.headers["content-type"].startswith("text/plain")
        return await r.text()


def promtool() -> str:
    """Debian's promtool, which `make install` unpacks into the virtualenv."""
    found = shutil.which("promtool") or str(Path(sys.prefix) / "bin" / "promtool")
    assert Path(found).exists(), "promtool missing: run `make install`"
    return found


def fake_aws_key() -> str:
    return "AKIA" + "IOSFODNN7" + "QWERTYZ"


@pytest.fixture
async def governed(start_warden: Callable[..., Any], policy_dir: Path) -> RunningWarden:
    (policy_dir / "rules.yaml").write_text(RULES, encoding="utf-8")
    running: RunningWarden = await start_warden()
    return running


async def test_traffic_shows_up_by_route_model_decision_and_kind(governed: RunningWarden):
    key = await governed.create_key()
    client = openai.AsyncOpenAI(base_url=f"{governed.proxy_url}/v1", api_key=key, max_retries=0)
    plain = await client.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "hello there"}]
    )
    redacted = await client.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "write to ann@example.com"}]
    )
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(
            model="echo-1", messages=[{"role": "user", "content": f"key {fake_aws_key()}"}]
        )
    streamed_usage = None
    stream = await client.chat.completions.create(
        model="echo-1",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        streamed_usage = chunk.usage or streamed_usage
    await client.close()
    assert plain.usage and redacted.usage and streamed_usage

    samples = parse(await scrape(governed))
    requests = "warden_requests_total"
    ok = {"route": "/v1", "model": "echo-1", "status": "200"}
    assert value(samples, requests, decision="allow", **ok) == 2
    assert value(samples, requests, decision="redact", **ok) == 1
    blocked = {"route": "/v1", "model": "echo-1", "status": "403"}
    assert value(samples, requests, decision="block", **blocked) == 1

    findings = "warden_findings_total"
    assert value(samples, findings, phase="prompt", kind="pii.email") == 1
    assert value(samples, findings, phase="prompt", kind="secret.aws_access_key") == 1
    decisions = "warden_policy_decisions_total"
    assert value(samples, decisions, phase="content", action="block", rule="secrets.block",
                 mode="enforce") == 1  # fmt: skip

    answers = (plain.usage, redacted.usage, streamed_usage)
    prompt_tokens = sum(u.prompt_tokens for u in answers)
    completion_tokens = sum(u.completion_tokens for u in answers)
    tokens = "warden_tokens_total"
    assert value(samples, tokens, direction="prompt", model="echo-1") == prompt_tokens
    assert value(samples, tokens, direction="completion", model="echo-1") == completion_tokens

    # Three answers came from the upstream; the blocked request never left.
    assert value(samples, "warden_time_to_first_byte_seconds_count", route="/v1") == 3
    assert value(samples, "warden_upstream_duration_seconds_count", route="/v1") == 3
    assert value(samples, "warden_request_duration_seconds_count", route="/v1") == 4
    # Only the scanners the content rules read (secret.*, pii.email) ran, once per prompt.
    for scanner in ("pii", "secrets"):
        assert value(samples, "warden_scanner_duration_seconds_count", scanner=scanner) == 4
    assert value(samples, "warden_scanner_duration_seconds_count", scanner="injection") == 0
    version = governed.server.app[POLICIES].active.version
    assert value(samples, "warden_policy_info", version=version, rules="2") == 1


async def test_model_labels_stay_bounded(warden: RunningWarden):
    key = await warden.create_key()
    headers = {"authorization": f"Bearer {key}"}
    sent = MAX_MODEL_LABELS + 5
    for i in range(sent):
        body = {"model": f"random-{i}", "messages": [{"role": "user", "content": "hi"}]}
        async with warden.http.post(
            f"{warden.proxy_url}/v1/chat/completions", json=body, headers=headers
        ) as r:
            assert r.status == 200
    samples = parse(await scrape(warden))
    models = label_values(samples, "warden_requests_total", "model")
    assert len(models) == MAX_MODEL_LABELS + 1 and "other" in models
    counted = sum(v for (name, _), v in samples.items() if name == "warden_requests_total")
    assert counted == sent


async def test_a_redis_outage_counts_as_a_dependency_failure(start_warden: Callable[..., Any]):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed once the block ends: nothing listens there

    def dead_redis(raw: dict[str, Any]) -> None:
        raw["redis"] = {"url": f"redis://127.0.0.1:{dead_port}/0"}
        raw["rate_limit"] = {"defaults": {"key": {"requests_per_minute": 100}}}

    warden: RunningWarden = await start_warden(dead_redis)
    key = await warden.create_key()
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        assert r.status == 200  # failure_mode open
    samples = parse(await scrape(warden))
    failures = "warden_dependency_failures_total"
    assert value(samples, failures, dependency="redis", mode="failed_open") == 1


async def test_promtool_accepts_the_exposition(governed: RunningWarden):
    key = await governed.create_key()
    async with governed.http.post(
        f"{governed.proxy_url}/v1/chat/completions",
        json={"model": "echo-1", "messages": [{"role": "user", "content": "ann@example.com"}]},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        assert r.status == 200
    text = await scrape(governed)
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
