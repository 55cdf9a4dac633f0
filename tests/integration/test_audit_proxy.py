"""Audit through the proxy: one metadata-only row per request, whatever the outcome."""

from __future__ import annotations

import asyncio
import hashlib
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import openai
import pytest

from proxy.keys import AUDIT_WRITER
from tests.conftest import RunningWarden
from tests.rules import ECHO_MODELS_ONLY, REDACT_EMAILS, rules

CANARY = "CANARY-" + "7f3a9c"  # assembled, so a grep of the source finds no whole canary
RULES = rules(ECHO_MODELS_ONLY, REDACT_EMAILS)


async def rows_for(db: asyncpg.Pool, count: int, timeout: float = 10.0) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await db.fetch("SELECT * FROM audit_events ORDER BY writer_id, seq")
        if len(rows) >= count:
            return list(rows)
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} audit rows")


async def test_every_outcome_gets_one_row_and_no_text(
    start_warden: Callable[..., Any],
    policy_dir: Path,
    db: asyncpg.Pool,
    capfd: pytest.CaptureFixture[str],
):
    (policy_dir / "rules.yaml").write_text(textwrap.dedent(RULES))
    warden: RunningWarden = await start_warden()
    key = await warden.create_key("acme")
    ids: dict[str, str] = {}
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key=key, max_retries=0
    ) as client:
        ok = await client.chat.completions.with_raw_response.create(
            model="echo-1",
            messages=[
                {"role": "user", "content": f"{CANARY} reach me at a{CANARY.lower()}@example.com"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "f", "arguments": f'{{"q": "{CANARY}"}}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": CANARY},
            ],
            extra_headers={"x-warden-session-id": "sess-1", "x-warden-human-review": "true"},
        )
        ids["redact"] = ok.headers["x-request-id"]
        with pytest.raises(openai.PermissionDeniedError) as blocked:
            await client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": CANARY}]
            )
        ids["block"] = blocked.value.response.headers["x-request-id"]
        with pytest.raises(openai.InternalServerError) as failed:
            await client.chat.completions.create(
                model="echo-1",
                messages=[{"role": "user", "content": CANARY}],
                extra_headers={"x-sim-status": "500", "x-sim-body": f'{{"error": "{CANARY}"}}'},
            )
        ids["error"] = failed.value.response.headers["x-request-id"]
    async with openai.AsyncOpenAI(
        base_url=f"{warden.proxy_url}/v1", api_key="wk_nope", max_retries=0
    ) as client:
        with pytest.raises(openai.AuthenticationError) as denied:
            await client.chat.completions.create(
                model="echo-1", messages=[{"role": "user", "content": CANARY}]
            )
        ids["unauthenticated"] = denied.value.response.headers["x-request-id"]

    rows = await rows_for(db, 4)
    by_id = {row["request_id"]: row for row in rows}
    assert len(rows) == 4 and set(by_id) == set(ids.values()), "exactly one row per request"
    redacted = by_id[ids["redact"]]
    assert redacted["decision"] == "redact"
    assert list(redacted["rule_ids"]) == ["pii.redact"]
    assert redacted["tenant"] == "acme" and redacted["model"] == "echo-1"
    assert redacted["session_id"] == "sess-1" and redacted["human_review_required"] is True
    assert redacted["prompt_tokens"] is not None and redacted["request_sha256"] is not None
    assert by_id[ids["block"]]["decision"] == "block"
    assert list(by_id[ids["block"]]["rule_ids"]) == ["models.allowlist"]
    assert by_id[ids["error"]]["upstream_status"] == 500
    assert by_id[ids["unauthenticated"]]["decision"] == "unauthenticated"
    assert all(row["policy_version"] for row in rows if row["decision"] != "unauthenticated")

    # The canary is in prompts, tool arguments, tool results, the answer and an upstream error
    # body; it must be in no column of any table, and in no log line.
    dump = await db.fetchval("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM audit_events) t")
    keys_dump = await db.fetchval("SELECT string_agg(k::text, ' ') FROM api_keys k")
    assert CANARY not in dump and CANARY.lower() not in dump
    assert CANARY not in (keys_dump or "")
    await warden.server.stop()  # flush the request log
    out, err = capfd.readouterr()
    assert ids["redact"] in err, "the request log was written"
    assert CANARY not in out + err and CANARY.lower() not in out + err


async def test_fail_closed_refuses_requests_it_cannot_record(
    start_warden: Callable[..., Any], tmp_path: Path
):
    def fail_closed(raw: dict[str, Any]) -> None:
        raw["audit"] = {"failure_mode": "fail_closed", "spool_dir": str(tmp_path / "spool")}

    warden: RunningWarden = await start_warden(fail_closed)
    key = await warden.create_key()
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": "echo-1", "messages": []},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        assert r.status == 200, "served while the audit can be written"
    # The writer no longer accepts rows (the writer-level tests stop Postgres for this; the
    # gate only reads `accepting`), so new requests are refused rather than served unrecorded.
    await warden.server.app[AUDIT_WRITER].stop(flush=True)
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": "echo-1", "messages": []},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        assert r.status == 503
        assert (await r.json())["error"]["code"] == "audit_unavailable"


async def test_response_hashes_are_of_the_bytes_the_caller_received(
    warden: RunningWarden, db: asyncpg.Pool
):
    """Streamed or whole, response_sha256 is what was sent, hashed chunk by chunk for SSE."""
    key = await warden.create_key("acme")
    received: dict[str, bytes] = {}
    for stream in (False, True):
        async with warden.http.post(
            f"{warden.proxy_url}/v1/chat/completions",
            json={
                "model": "echo-1",
                "stream": stream,
                "messages": [{"role": "user", "content": "a b c"}],
            },
            headers={"authorization": f"Bearer {key}"},
        ) as r:
            assert r.status == 200
            received[r.headers["x-request-id"]] = await r.read()
    rows = await rows_for(db, 2)
    for row in rows:
        assert bytes(row["response_sha256"]) == hashlib.sha256(received[row["request_id"]]).digest()
    assert sorted(row["streamed"] for row in rows) == [False, True]
