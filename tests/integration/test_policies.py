"""Policies through the real app: block, redact, monitor, hot reload, admin and SDK errors."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import RunningWarden
from tests.upstream import SimulatedUpstream

RULES = """
rules:
  - id: models.allowlist
    description: Only the echo models are approved here.
    phase: access
    when: {model_not_in: ["echo-*"]}
    action: block
    severity: high
  - id: secrets.block
    description: Credentials must not be sent to a model.
    phase: content
    when: {findings: {kinds: ["secret.*"]}}
    action: block
    severity: critical
  - id: pii.redact
    description: Contact details are replaced by placeholders.
    phase: content
    when: {findings: {kinds: [pii.email, pii.phone]}}
    action: redact
    severity: medium
  - id: codename.flag
    description: Project codenames are flagged.
    phase: content
    when: {custom: {keywords: [bluebird]}}
    action: flag
    severity: low
  - id: big.requests.shadow
    description: Would block long answers.
    phase: access
    when: {max_tokens: {gt: 100}}
    action: block
    severity: low
    mode: monitor
"""


def write_rules(policy_dir: Path, text: str, name: str = "rules.yaml") -> None:
    (policy_dir / name).write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
async def governed(start_warden: Callable[..., Any], policy_dir: Path) -> RunningWarden:
    write_rules(policy_dir, RULES)
    running: RunningWarden = await start_warden()
    return running


def client(warden: RunningWarden, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0)


def fake_aws_key() -> str:
    return "AKIA" + "IOSFODNN7" + "QWERTYZ"


async def test_blocked_request_never_reaches_upstream(
    governed: RunningWarden, upstream: SimulatedUpstream
):
    key = await governed.create_key()
    async with client(governed, key) as c:
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await c.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(openai.PermissionDeniedError) as secret:
            await c.chat.completions.create(
                model="echo-1",
                messages=[{"role": "user", "content": f"use key {fake_aws_key()} to deploy"}],
            )
    assert denied.value.code == "models.allowlist"
    assert denied.value.type == "policy_violation"
    assert "Only the echo models are approved here." in denied.value.message
    assert denied.value.response.headers["x-warden-decision"] == "block"
    assert denied.value.response.headers["x-warden-rules"] == "models.allowlist"
    assert secret.value.code == "secrets.block"
    assert upstream.received == []


async def test_redacted_request_reaches_upstream_rewritten(
    governed: RunningWarden, upstream: SimulatedUpstream
):
    key = await governed.create_key()
    text = "mail jane.doe@example.com or bob@example.org, then jane.doe@example.com again"
    async with client(governed, key) as c:
        raw = await c.chat.completions.with_raw_response.create(
            model="echo-1",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": text}]},
            ],
        )
    sent = upstream.received[-1].json()
    forwarded = sent["messages"][1]["content"][0]["text"]
    assert forwarded == "mail [EMAIL_1] or [EMAIL_2], then [EMAIL_1] again"
    assert b"example.com" not in upstream.received[-1].body
    assert sent["messages"][0]["content"] == "be brief"
    assert raw.headers["x-warden-decision"] == "redact"
    assert raw.headers["x-warden-rules"] == "pii.redact"


async def test_redaction_reaches_tool_call_arguments(
    governed: RunningWarden, upstream: SimulatedUpstream
):
    key = await governed.create_key()
    messages = [
        {"role": "user", "content": "book it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "book", "arguments": '{"email": "a.b@example.com"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "booked for a.b@example.com"},
    ]
    async with client(governed, key) as c:
        await c.chat.completions.create(model="echo-1", messages=messages)  # type: ignore[arg-type]
    sent = upstream.received[-1].json()
    assert "example.com" not in upstream.received[-1].body.decode()
    assert sent["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"email":"[EMAIL_1]"}'
    assert sent["messages"][2]["content"] == "booked for [EMAIL_1]"


async def test_flag_and_monitor_forward_and_record(
    governed: RunningWarden, upstream: SimulatedUpstream
):
    key = await governed.create_key()
    async with client(governed, key) as c:
        raw = await c.chat.completions.with_raw_response.create(
            model="echo-1",
            max_tokens=500,
            messages=[{"role": "user", "content": "status of Bluebird?"}],
        )
    assert raw.headers["x-warden-decision"] == "flag"
    assert raw.headers["x-warden-rules"] == "codename.flag"
    assert upstream.received[-1].json()["messages"][0]["content"] == "status of Bluebird?"
    async with governed.http.get(f"{governed.admin_url}/metrics") as r:
        metrics = await r.text()
    assert (
        'warden_policy_decisions_total{action="block",mode="monitor",phase="access",'
        'rule="big.requests.shadow"} 1.0' in metrics
    )
    assert (
        'warden_policy_decisions_total{action="flag",mode="enforce",phase="content",'
        'rule="codename.flag"} 1.0' in metrics
    )


async def test_anthropic_sdk_gets_permission_denied(governed: RunningWarden):
    import anthropic

    key = await governed.create_key()
    async with anthropic.AsyncAnthropic(
        base_url=governed.proxy_url, api_key=key, max_retries=0
    ) as c:
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            await c.messages.create(
                model="claude-x", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
            )
    assert denied.value.status_code == 403


async def wait_for_version(warden: RunningWarden, old: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with warden.http.get(
            f"{warden.admin_url}/admin/policies", headers=warden.admin_headers()
        ) as r:
            version: str = (await r.json())["version"]
        if version != old:
            return version
        await asyncio.sleep(0.05)
    raise AssertionError("the policy set was not reloaded")


async def test_hot_reload_under_traffic_never_mixes_sets(governed: RunningWarden, policy_dir: Path):
    """Requests during an edit see the old set or the new one, never a half-loaded set."""
    key = await governed.create_key()
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": "echo-9", "messages": [{"role": "user", "content": "hi"}]}
    async with governed.http.get(
        f"{governed.admin_url}/admin/policies", headers=governed.admin_headers()
    ) as r:
        before = (await r.json())["version"]
    seen: list[tuple[int, str | None, str]] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            async with governed.http.post(
                f"{governed.proxy_url}/v1/chat/completions", json=body, headers=headers
            ) as r:
                await r.read()
                seen.append(
                    (
                        r.status,
                        r.headers.get("x-warden-rules"),
                        r.headers["x-warden-policy-version"],
                    )
                )

    workers = [asyncio.create_task(traffic()) for _ in range(4)]
    await asyncio.sleep(0.2)
    # Two changes in one edit: echo-9 becomes approved AND a new rule flags every request.
    edited = RULES.replace('model_not_in: ["echo-*"]', 'model_not_in: ["echo-*", "zzz"]').replace(
        "  - id: secrets.block",
        "  - id: everything.flag\n    description: all\n    phase: access\n    action: flag\n"
        "    severity: low\n  - id: secrets.block",
    )
    write_rules(policy_dir, edited)
    after = await wait_for_version(governed, before)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers)
    old_prefix, new_prefix = before[:12], after[:12]
    for status, rules, version in seen:
        assert version in (old_prefix, new_prefix)
        if version == old_prefix:
            assert (status, rules) == (200, None)
        else:
            assert (status, rules) == (200, "everything.flag")
    assert {v for _, _, v in seen} == {old_prefix, new_prefix}


async def test_broken_edit_keeps_the_last_good_set(governed: RunningWarden, policy_dir: Path):
    admin = governed.admin_headers()
    async with governed.http.get(f"{governed.admin_url}/admin/policies", headers=admin) as r:
        good = await r.json()
    write_rules(
        policy_dir,
        RULES.replace(
            "action: block\n    severity: critical", "action: blok\n    severity: critical"
        ),
    )
    async with governed.http.post(
        f"{governed.admin_url}/admin/policies/reload", headers=admin
    ) as r:
        assert r.status == 400
        failed = await r.json()
    assert failed["error"]["code"] == "policy_invalid"
    problem = failed["problems"][0]
    assert (problem["file"], problem["rule_id"], problem["field"]) == (
        "rules.yaml",
        "secrets.block",
        "action",
    )
    assert problem["line"] == 13
    async with governed.http.get(f"{governed.admin_url}/admin/policies", headers=admin) as r:
        now = await r.json()
    assert now["version"] == good["version"]
    assert now["last_error"]["problems"][0]["rule_id"] == "secrets.block"
    key = await governed.create_key()
    async with governed.http.post(
        f"{governed.proxy_url}/v1/chat/completions",
        json={"model": "gpt-5", "messages": []},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        assert r.status == 403, "the old set still blocks"
    async with governed.http.get(f"{governed.admin_url}/metrics") as r:
        assert 'warden_policy_reloads_total{result="error"}' in await r.text()


async def test_evaluate_dry_run(governed: RunningWarden, upstream: SimulatedUpstream):
    spec = {
        "tenant": "acme",
        "route": "/v1",
        "format": "openai",
        "path": "/v1/chat/completions",
        "body": {
            "model": "echo-1",
            "messages": [{"role": "user", "content": "mail a@example.com"}],
        },
    }
    async with governed.http.post(
        f"{governed.admin_url}/admin/policies/evaluate", json=spec, headers=governed.admin_headers()
    ) as r:
        result = await r.json()
    assert result["outcome"]["action"] == "redact"
    assert result["outcome"]["rule_id"] == "pii.redact"
    emails = [f for f in result["scans"]["content"]["findings"] if f["kind"] == "pii.email"]
    assert [(f["start"], f["end"]) for f in emails] == [(5, 18)]
    assert upstream.received == []
    async with governed.http.post(
        f"{governed.admin_url}/admin/policies/evaluate",
        json={"tenant": 5},
        headers=governed.admin_headers(),
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == "tenant"


async def test_decision_api_for_traffic_that_does_not_pass_through(
    governed: RunningWarden, upstream: SimulatedUpstream
):
    key = await governed.create_key("acme")
    url = f"{governed.proxy_url}/v1/check"
    headers = {"authorization": f"Bearer {key}"}
    allowed = {"model": "echo-batch", "operation": "batch", "metadata": {"rows": 10}}
    async with governed.http.post(url, json=allowed, headers=headers) as r:
        answer = await r.json()
    assert r.status == 200
    assert answer["allowed"] is True and answer["action"] == "allow"
    assert answer["request_id"] == r.headers["x-request-id"]
    denied = {"model": "other-model", "operation": "agent.tool_call", "metadata": {}}
    async with governed.http.post(url, json=denied, headers=headers) as r:
        answer = await r.json()
    assert (answer["allowed"], answer["rules"]) == (False, ["models.allowlist"])
    with_text = {**allowed, "text": f"deploy with {fake_aws_key()}"}
    async with governed.http.post(url, json=with_text, headers=headers) as r:
        answer = await r.json()
    assert (answer["allowed"], answer["action"]) == (False, "block")
    assert answer["rules"] == ["secrets.block"]
    assert answer["risk_score"] > 0 and answer["risk_label"] in ("suspicious", "risky")
    async with governed.http.post(url, json={"model": "echo-1"}, headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == "operation"
    async with governed.http.post(url, json=allowed) as r:
        assert r.status == 401
    assert upstream.received == []


RESPONSE_RULES = """
rules:
  - id: answers.no-classified
    description: Answers must not mention classified material.
    phase: response
    when: {custom: {keywords: [classified]}}
    action: block
    severity: high
  - id: answers.redact-email
    description: Email addresses in answers are replaced.
    phase: response
    when: {findings: {kinds: [pii.email]}}
    action: redact
    severity: medium
"""


async def test_response_rules_act_on_the_answer(
    start_warden: Callable[..., Any], policy_dir: Path, upstream: SimulatedUpstream
):
    write_rules(policy_dir, RESPONSE_RULES)
    warden = await start_warden()
    key = await warden.create_key()
    async with client(warden, key) as c:
        raw = await c.chat.completions.with_raw_response.create(
            model="echo-1", messages=[{"role": "user", "content": "reach me at ops@example.com"}]
        )
        answer = raw.parse().choices[0].message.content
        with pytest.raises(openai.PermissionDeniedError) as blocked:
            await c.chat.completions.create(
                model="echo-1", messages=[{"role": "user", "content": "the classified plan"}]
            )
    assert "ops@example.com" in upstream.received[0].body.decode(), "no request rule applied"
    assert answer == "reach me at [EMAIL_1]"
    assert raw.headers["x-warden-decision"] == "redact"
    assert blocked.value.code == "answers.no-classified"
    assert len(upstream.received) == 2, "response rules run after the upstream answered"
