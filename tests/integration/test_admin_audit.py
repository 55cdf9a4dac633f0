"""GET /admin/audit: filters, keyset pages, NDJSON and CSV exports, errors naming the field."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from proxy.audit.chained_row import COLUMNS
from tests.conftest import RunningWarden
from tests.integration.test_audit_proxy import rows_for
from tests.rules import ECHO_MODELS_ONLY, rules

RULES = rules(ECHO_MODELS_ONLY)


async def send(warden: RunningWarden, key: str, model: str) -> tuple[int, str]:
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {key}"},
    ) as r:
        return r.status, r.headers["x-request-id"]


async def get(warden: RunningWarden, **params: str) -> tuple[int, Any]:
    async with warden.http.get(
        f"{warden.admin_url}/admin/audit", params=params, headers=warden.admin_headers()
    ) as r:
        return r.status, await r.json()


@pytest.fixture
async def traffic(
    start_warden: Callable[..., Any], policy_dir: Path, db: asyncpg.Pool
) -> tuple[RunningWarden, dict[str, list[str]]]:
    """acme: 4 allowed + 2 blocked; globex: 3 allowed. Request ids by what happened."""
    (policy_dir / "rules.yaml").write_text(RULES)
    warden: RunningWarden = await start_warden()
    acme, globex = await warden.create_key("acme"), await warden.create_key("globex")
    plan = [("acme-allow", acme, "echo-1", 4, 200), ("acme-block", acme, "gpt-unlisted", 2, 403),
            ("globex-allow", globex, "echo-2", 3, 200)]  # fmt: skip
    sent: dict[str, list[str]] = {}
    for name, key, model, count, expected in plan:
        for _ in range(count):
            status, request_id = await send(warden, key, model)
            assert status == expected
            sent.setdefault(name, []).append(request_id)
    await rows_for(db, 9)
    return warden, sent


async def test_rows_come_newest_first_with_metadata_only(traffic: Any):
    warden, sent = traffic
    status, body = await get(warden)
    assert status == 200 and body["next_cursor"] is None
    rows = body["data"]
    assert len(rows) == 9 and set(rows[0]) == set(COLUMNS)
    times = [r["event_time"] for r in rows]
    assert times == sorted(times, reverse=True)
    assert rows[0]["request_id"] == sent["globex-allow"][-1]
    assert {r["request_id"] for r in rows} == {i for ids in sent.values() for i in ids}


async def test_filters_combine(traffic: Any):
    warden, sent = traffic

    async def ids(**params: str) -> set[str]:
        status, body = await get(warden, **params)
        assert status == 200, body
        return {r["request_id"] for r in body["data"]}

    assert await ids(tenant="globex") == set(sent["globex-allow"])
    assert await ids(tenant="acme", decision="block") == set(sent["acme-block"])
    assert await ids(rule="models.allowlist") == set(sent["acme-block"])
    assert await ids(status="403") == set(sent["acme-block"])
    assert await ids(status="2xx", tenant="acme") == set(sent["acme-allow"])
    assert await ids(model="echo-2") == set(sent["globex-allow"])
    assert await ids(since="1h") == {i for v in sent.values() for i in v}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert await ids(since=future) == set()
    assert await ids(request_id=sent["acme-block"][0]) == {sent["acme-block"][0]}


async def test_keyset_pages_cover_everything_once(traffic: Any):
    warden, sent = traffic
    seen: list[str] = []
    params = {"limit": "2"}
    pages = 0
    while True:
        status, body = await get(warden, **params)
        assert status == 200
        assert len(body["data"]) <= 2
        seen.extend(r["request_id"] for r in body["data"])
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": body["next_cursor"]}
    assert pages == 5
    assert sorted(seen) == sorted(i for ids in sent.values() for i in ids)


async def test_ndjson_and_csv_exports_stream_every_matching_row(traffic: Any):
    warden, sent = traffic
    url, headers = f"{warden.admin_url}/admin/audit", warden.admin_headers()
    async with warden.http.get(url, params={"format": "ndjson"}, headers=headers) as r:
        assert r.status == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = (await r.read()).decode().splitlines()
    exported = [orjson.loads(line) for line in lines]
    assert len(exported) == 9 and all(set(row) == set(COLUMNS) for row in exported)

    async with warden.http.get(
        url, params={"format": "csv", "tenant": "acme"}, headers=headers
    ) as r:
        assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
        reader = csv.DictReader(io.StringIO(await r.text()))
        table = list(reader)
    assert reader.fieldnames == list(COLUMNS)
    assert {row["request_id"] for row in table} == set(sent["acme-allow"] + sent["acme-block"])
    blocked = [row for row in table if row["decision"] == "block"]
    assert all(orjson.loads(row["rule_ids"]) == ["models.allowlist"] for row in blocked)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "teapot"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": "2h", "until": "3h"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"format": "xml"}, "format"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    warden: RunningWarden, params: dict[str, str], field: str
):
    status, body = await get(warden, **params)
    assert status == 400
    assert body["error"]["param"] == field and body["error"]["type"] == "invalid_request_error"


async def test_the_audit_query_needs_the_admin_token(warden: RunningWarden):
    async with warden.http.get(f"{warden.admin_url}/admin/audit") as r:
        assert r.status == 401
