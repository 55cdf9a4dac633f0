"""POST /v1/evidence through the proxy: human oversight recorded in the same chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import openai
import pytest

from proxy import apikeys
from proxy.devstack import EmbeddedPostgres
from proxy.evidence import verify
from tests.conftest import RunningWarden
from tests.integration.test_audit_proxy import rows_for


async def ask_model(proxy_url: str, key: str) -> str:
    async with openai.AsyncOpenAI(base_url=f"{proxy_url}/v1", api_key=key, max_retries=0) as client:
        reply = await client.chat.completions.with_raw_response.create(
            model="echo-1", messages=[{"role": "user", "content": "approve my loan"}]
        )
    return reply.headers["x-request-id"]


async def post_evidence(
    http: aiohttp.ClientSession, proxy_url: str, key: str | None, body: Any
) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with http.post(f"{proxy_url}/v1/evidence", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_a_review_is_chained_after_the_request_it_is_about(
    warden: RunningWarden, db: asyncpg.Pool
):
    key = await warden.create_key("acme")
    request_id = await ask_model(warden.proxy_url, key)
    occurred = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    status, answer = await post_evidence(
        warden.http,
        warden.proxy_url,
        key,
        {
            "kind": "human_review",
            "request_id": request_id,
            "reviewer": "alice@example.com",
            "decision": "rejected",
            "reason": "hallucinated_figure",
            "reference": "CASE-1042",
            "occurred_at": occurred.isoformat(),
        },
    )
    assert status == 202 and answer["status"] == "accepted"
    assert answer["kind"] == "human_review" and answer["request_id"] == request_id
    rows = await rows_for(db, 2)
    assert len(rows) == 2, "one row for the model call, one for the review, none for the POST"
    call, review = rows
    assert call["request_id"] == request_id and call["kind"] == "request"
    assert review["request_id"] == answer["id"] and review["kind"] == "human_review"
    assert review["subject_request_id"] == request_id
    assert review["tenant"] == "acme" and review["key_id"] == call["key_id"]
    assert review["human_reviewer"] == "alice@example.com" and review["outcome"] == "rejected"
    assert (review["reason"], review["reference"]) == ("hallucinated_figure", "CASE-1042")
    assert review["occurred_at"] == occurred and review["decision"] == "evidence"
    assert review["status"] == 202 and review["prev_hash"] == call["row_hash"]
    assert verify(rows) is None


async def test_business_decisions_and_session_ends(warden: RunningWarden, db: asyncpg.Pool):
    key = await warden.create_key("acme")
    request_id = await ask_model(warden.proxy_url, key)
    for body in (
        {"kind": "business_decision", "request_id": request_id, "decision": "loan_declined"},
        {"kind": "session_end", "session_id": "sess-77", "decision": "completed"},
    ):
        status, _ = await post_evidence(warden.http, warden.proxy_url, key, body)
        assert status == 202
    rows = await rows_for(db, 3)
    assert [(r["kind"], r["outcome"]) for r in rows[1:]] == [
        ("business_decision", "loan_declined"),
        ("session_end", "completed"),
    ]
    assert rows[2]["session_id"] == "sess-77" and rows[2]["subject_request_id"] is None
    assert verify(rows) is None


FREE_TEXT = "the customer said their account number is"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "verdict", "request_id": "r1"}, "kind"),
        ({"request_id": "r1"}, "kind"),
        ({"kind": "human_review", "reviewer": "bob", "decision": "approved"}, "request_id"),
        ({"kind": "human_review", "request_id": "r1", "decision": "approved"}, "reviewer"),
        ({"kind": "human_review", "request_id": "r1", "reviewer": "bob"}, "decision"),
        (
            {"kind": "human_review", "request_id": "r1", "reviewer": "bob", "decision": "ok"},
            "decision",
        ),
        ({"kind": "business_decision", "request_id": FREE_TEXT, "decision": "x"}, "request_id"),
        ({"kind": "business_decision", "request_id": "r1", "decision": FREE_TEXT}, "decision"),
        (
            {"kind": "business_decision", "request_id": "r1", "decision": "x", "reason": FREE_TEXT},
            "reason",
        ),
        (
            {"kind": "business_decision", "request_id": "r1", "decision": "x", "note": "hi"},
            "note",
        ),
        ({"kind": "session_end", "session_id": "s", "reference": FREE_TEXT}, "reference"),
        ({"kind": "session_end"}, "session_id"),
        ({"kind": "session_end", "session_id": "s", "occurred_at": "noon"}, "occurred_at"),
        (
            {"kind": "session_end", "session_id": "s", "occurred_at": "2099-01-01T00:00:00Z"},
            "occurred_at",
        ),
        (["kind", "session_end"], "body"),
    ],
)
async def test_invalid_evidence_is_refused_naming_the_field(
    warden: RunningWarden, db: asyncpg.Pool, body: Any, field: str
):
    key = await warden.create_key("acme")
    status, answer = await post_evidence(warden.http, warden.proxy_url, key, body)
    assert status == 400, answer
    assert answer["error"]["param"] == field and answer["error"]["type"] == "invalid_request_error"
    (row,) = await rows_for(db, 1)
    assert row["kind"] == "request" and row["status"] == 400, "the refusal is audited as such"


async def test_evidence_needs_a_warden_key(warden: RunningWarden):
    status, answer = await post_evidence(
        warden.http, warden.proxy_url, None, {"kind": "session_end", "session_id": "s"}
    )
    assert status == 401 and answer["error"]["code"] == "missing_api_key"


async def test_evidence_waits_out_a_postgres_outage(
    start_warden: Callable[..., Any], own_db: EmbeddedPostgres
):
    def on_own_postgres(raw: dict[str, Any]) -> None:
        raw["postgres"]["url"] = own_db.url

    conn = await asyncpg.connect(own_db.url)
    try:
        _, key = await apikeys.create_key(conn, "acme", "outage")
    finally:
        await conn.close()
    warden: RunningWarden = await start_warden(on_own_postgres)
    request_id = await ask_model(warden.proxy_url, key)  # also caches the key
    await asyncio.to_thread(own_db.stop)
    try:
        status, _ = await post_evidence(
            warden.http,
            warden.proxy_url,
            key,
            {
                "kind": "human_review",
                "request_id": request_id,
                "reviewer": "bob",
                "decision": "approved",
            },
        )
        assert status == 202, "accepted into the journal while Postgres is down"
    finally:
        await asyncio.to_thread(own_db.start)
    pool = await asyncpg.create_pool(own_db.url, min_size=1, max_size=1)
    try:
        rows = await rows_for(pool, 2, timeout=30)
    finally:
        await pool.close()
    assert [r["kind"] for r in rows] == ["request", "human_review"]
    assert verify(rows) is None


async def test_an_oversized_record_is_refused(warden: RunningWarden):
    key = await warden.create_key("acme")
    body = {"kind": "session_end", "session_id": "s", "reference": "R" * 20_000}
    status, answer = await post_evidence(warden.http, warden.proxy_url, key, body)
    assert status == 413 and "too large" in answer["error"]["message"]


async def test_evidence_records_are_not_counted_as_requests_in_stats(
    warden: RunningWarden, db: asyncpg.Pool
):
    key = await warden.create_key("acme")
    request_id = await ask_model(warden.proxy_url, key)
    status, _ = await post_evidence(
        warden.http,
        warden.proxy_url,
        key,
        {"kind": "business_decision", "request_id": request_id, "decision": "loan_declined"},
    )
    assert status == 202
    assert len(await rows_for(db, 2)) == 2
    async with warden.http.get(
        f"{warden.admin_url}/admin/stats", headers=warden.admin_headers()
    ) as r:
        stats = await r.json()
    assert stats["requests"] == 1 and "evidence" not in stats["by_decision"]
    assert [t["requests"] for t in stats["tenants"]] == [1]
