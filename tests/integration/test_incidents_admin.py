"""The incident admin API: create, list with filters and cursor, show, update, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import RunningWarden


async def call(
    warden: RunningWarden, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    async with warden.http.request(
        method, f"{warden.admin_url}{path}", headers=warden.admin_headers(), **kwargs
    ) as r:
        body = await r.json() if r.status != 204 else None
        return r.status, body, dict(r.headers)


async def create(warden: RunningWarden, **fields: Any) -> dict[str, Any]:
    payload = {"title": "Leaked key in a support chat", "severity": "High", **fields}
    status, body, _ = await call(warden, "POST", "/admin/incidents", json=payload)
    assert status == 201, body
    return dict(body)


async def test_incident_lifecycle(warden: RunningWarden):
    status, created, headers = await call(
        warden,
        "POST",
        "/admin/incidents",
        json={
            "title": "Leaked key in a support chat",
            "description": "Reported by the support lead",
            "severity": "Critical",
            "tenant": "acme",
            "request_ids": ["req-1", "req-2"],
        },
    )
    assert status == 201
    assert headers["Location"] == f"/admin/incidents/{created['id']}"
    assert created["severity"] == "critical" and created["status"] == "open"
    assert created["source"] == "manual" and created["request_ids"] == ["req-1", "req-2"]
    path = f"/admin/incidents/{created['id']}"
    assert (await call(warden, "GET", path))[1] == created

    status, acked, _ = await call(
        warden, "PATCH", path, json={"status": "acknowledged", "assignee": "dana"}
    )
    assert status == 200
    assert acked["status"] == "acknowledged" and acked["assignee"] == "dana"
    assert acked["acknowledged_at"] is not None and acked["resolved_at"] is None

    status, error, _ = await call(warden, "PATCH", path, json={"status": "open"})
    assert status == 400 and error["error"]["param"] == "status"
    assert "acknowledged" in error["error"]["message"]

    status, resolved, _ = await call(
        warden, "PATCH", path, json={"status": "resolved", "notes": "key rotated"}
    )
    assert status == 200
    assert resolved["status"] == "resolved" and resolved["notes"] == "key rotated"
    assert resolved["acknowledged_at"] == acked["acknowledged_at"]
    for target in ("open", "acknowledged"):
        status, error, _ = await call(warden, "PATCH", path, json={"status": target})
        assert status == 400 and error["error"]["param"] == "status"
    status, cleared, _ = await call(warden, "PATCH", path, json={"assignee": None})
    assert status == 200 and cleared["assignee"] is None and cleared["status"] == "resolved"

    assert (await call(warden, "DELETE", path))[0] == 204
    status, error, _ = await call(warden, "GET", path)
    assert status == 404 and error["error"]["param"] == "incident_id"
    assert (await call(warden, "DELETE", path))[0] == 404
    assert (await call(warden, "PATCH", path, json={"notes": "x"}))[0] == 404


async def test_open_can_be_resolved_directly(warden: RunningWarden):
    created = await create(warden)
    path = f"/admin/incidents/{created['id']}"
    status, body, _ = await call(warden, "PATCH", path, json={"status": "resolved"})
    assert status == 200 and body["status"] == "resolved" and body["acknowledged_at"] is None


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"severity": "high"}, 400, "title"),
        ({"title": "  ", "severity": "high"}, 400, "title"),
        ({"title": "x" * 201, "severity": "high"}, 400, "title"),
        ({"title": "t"}, 400, "severity"),
        ({"title": "t", "severity": "severe"}, 400, "severity"),
        ({"title": "t", "severity": 3}, 400, "severity"),
        ({"title": "t", "severity": "low", "description": 5}, 400, "description"),
        ({"title": "t", "severity": "low", "request_ids": "req-1"}, 400, "request_ids"),
        ({"title": "t", "severity": "low", "request_ids": [""]}, 400, "request_ids"),
        ({"title": "t", "severity": "low", "status": "open"}, 422, "status"),
    ],
)
async def test_create_names_the_field_at_fault(
    warden: RunningWarden, payload: dict[str, Any], status: int, field: str
):
    got, error, _ = await call(warden, "POST", "/admin/incidents", json=payload)
    assert got == status
    assert error["type"] == "error" and error["error"]["param"] == field


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"status": "closed"}, 400, "status"),
        ({"severity": "urgent"}, 400, "severity"),
        ({"title": ""}, 400, "title"),
        ({"notes": ["a"]}, 400, "notes"),
        ({"count": 5}, 422, "count"),
        ({}, 400, None),
    ],
)
async def test_update_names_the_field_at_fault(
    warden: RunningWarden, payload: dict[str, Any], status: int, field: str | None
):
    created = await create(warden)
    got, error, _ = await call(warden, "PATCH", f"/admin/incidents/{created['id']}", json=payload)
    assert got == status and error["error"]["param"] == field


async def test_unknown_ids_are_not_found(warden: RunningWarden):
    for path in ("/admin/incidents/999999", "/admin/incidents/abc", "/admin/incidents/-1"):
        status, error, _ = await call(warden, "GET", path)
        assert status == 404 and error["error"]["type"] == "not_found_error"


async def test_list_filters_and_pages(warden: RunningWarden, db):
    made = [
        await create(warden, title=f"incident {n}", severity=severity, tenant=tenant)
        for n, (severity, tenant) in enumerate(
            [("low", "acme"), ("high", "acme"), ("critical", "globex"), ("high", "globex")]
        )
    ]
    await call(warden, "PATCH", f"/admin/incidents/{made[1]['id']}", json={"status": "resolved"})
    await db.execute(
        "UPDATE incidents SET first_seen = now() - interval '3 days', "
        "last_seen = now() - interval '2 days' WHERE id = $1",
        made[0]["id"],
    )

    async def ids(**params: str) -> list[int]:
        status, body, _ = await call(warden, "GET", "/admin/incidents", params=params)
        assert status == 200, body
        return [i["id"] for i in body["data"]]

    newest_first = [i["id"] for i in reversed(made)]
    assert await ids() == newest_first
    assert await ids(status="open") == [made[3]["id"], made[2]["id"], made[0]["id"]]
    assert await ids(status="resolved,acknowledged") == [made[1]["id"]]
    assert await ids(severity="High") == [made[3]["id"], made[1]["id"]]
    assert await ids(tenant="globex", severity="critical") == [made[2]["id"]]
    assert await ids(source="auto") == []
    assert await ids(since=_days_ago(1)) == newest_first[:3]
    assert await ids(until=_days_ago(1)) == [made[0]["id"]]

    pages, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        status, body, _ = await call(warden, "GET", "/admin/incidents", params=params)
        pages.append([i["id"] for i in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [newest_first[:3], newest_first[3:]]

    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "zz"}, "cursor"),
        ({"status": "closed"}, "status"),
        ({"severity": "urgent"}, "severity"),
        ({"source": "robot"}, "source"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-01-01T00:00:00"}, "until"),
    ]:
        status, error, _ = await call(warden, "GET", "/admin/incidents", params=params)
        assert status == 400 and error["error"]["param"] == field, params


def _days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()
