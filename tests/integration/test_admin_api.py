"""The admin listener: health, readiness, metrics, and the key lifecycle over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningWarden

CHAT = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}


async def proxy_status(warden: RunningWarden, key: str) -> int:
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json=CHAT,
        headers={"authorization": f"Bearer {key}"},
    ) as response:
        return response.status


async def test_health_ready_and_metrics_are_open(warden: RunningWarden, api_key: str):
    assert await proxy_status(warden, api_key) == 200
    async with warden.http.get(f"{warden.admin_url}/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    async with warden.http.get(f"{warden.admin_url}/readyz") as r:
        ready = await r.json()
        assert r.status == 200
    assert {c["name"]: c["ok"] for c in ready["checks"]} == {"postgres": True, "redis": True}
    async with warden.http.get(f"{warden.admin_url}/metrics") as r:
        text = await r.text()
    assert (
        'warden_requests_total{decision="allow",model="echo-1",route="/v1",status="200"} 1.0'
        in text
    )


async def test_admin_is_not_served_on_the_proxy_port(warden: RunningWarden, api_key: str):
    async with warden.http.get(
        f"{warden.proxy_url}/admin/keys", headers=warden.admin_headers()
    ) as r:
        assert r.status in (401, 404)


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdA=="])
async def test_admin_requires_the_token(warden: RunningWarden, header: str | None):
    headers = {"authorization": header} if header else {}
    async with warden.http.get(f"{warden.admin_url}/admin/keys", headers=headers) as r:
        assert r.status == 401
        assert (await r.json())["error"]["type"] == "authentication_error"


async def test_key_lifecycle(warden: RunningWarden):
    admin = warden.admin_headers()
    base = f"{warden.admin_url}/admin/keys"
    async with warden.http.post(base, json={"tenant": "acme", "name": "ci"}, headers=admin) as r:
        assert r.status == 201
        created = await r.json()
        assert r.headers["location"] == f"/admin/keys/{created['id']}"
    key, key_id = created["key"], created["id"]
    assert key.startswith(f"wk_{key_id}_")
    assert await proxy_status(warden, key) == 200

    async with warden.http.get(base, params={"tenant": "acme"}, headers=admin) as r:
        listed = await r.json()
    assert [k["id"] for k in listed["data"]] == [key_id]
    assert "key" not in listed["data"][0] and "secret_sha256" not in listed["data"][0]
    async with warden.http.get(f"{base}/{key_id}", headers=admin) as r:
        assert (await r.json())["name"] == "ci"

    async with warden.http.post(f"{base}/{key_id}/rotate", headers=admin) as r:
        assert r.status == 200
        rotated = (await r.json())["key"]
    assert rotated != key and rotated.startswith(f"wk_{key_id}_")
    assert await proxy_status(warden, key) == 401, "the old secret stops at once without grace"
    assert await proxy_status(warden, rotated) == 200

    async with warden.http.delete(f"{base}/{key_id}", headers=admin) as r:
        assert r.status == 200
        assert (await r.json())["revoked_at"] is not None
    assert await proxy_status(warden, rotated) == 401
    async with warden.http.post(f"{base}/{key_id}/rotate", headers=admin) as r:
        assert r.status == 409
    async with warden.http.get(base, headers=admin) as r:
        assert (await r.json())["data"] == []
    async with warden.http.get(base, params={"include_revoked": "true"}, headers=admin) as r:
        assert len((await r.json())["data"]) == 1


async def test_rotation_with_grace_keeps_the_old_secret_for_a_while(warden: RunningWarden):
    admin = warden.admin_headers()
    key = await warden.create_key()
    key_id = key.split("_")[1]
    async with warden.http.post(
        f"{warden.admin_url}/admin/keys/{key_id}/rotate",
        json={"grace_seconds": 60},
        headers=admin,
    ) as r:
        body = await r.json()
    assert body["previous_valid_until"] is not None
    assert await proxy_status(warden, key) == 200
    assert await proxy_status(warden, body["key"]) == 200


@pytest.mark.parametrize("body", [b"\x0c", b"\x0b", b" \x0c\n", b"\t", b" ", b"\r\n"])
async def test_a_body_of_whitespace_is_malformed_not_empty(warden: RunningWarden, body: bytes):
    """Found by schemathesis: a body of whitespace alone was taken for no body, so {}."""
    key_id = (await warden.create_key()).split("_")[1]
    async with warden.http.post(
        f"{warden.admin_url}/admin/keys/{key_id}/rotate",
        data=body,
        headers={**warden.admin_headers(), "content-type": "application/json"},
    ) as r:
        assert r.status == 400
        assert "malformed JSON" in (await r.json())["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/admin/keys", {}, 400, "tenant"),
        ("post", "/admin/keys", {"tenant": "has space"}, 400, "tenant"),
        ("post", "/admin/keys", {"tenant": "acme", "colour": "red"}, 422, "colour"),
        ("post", "/admin/keys", {"tenant": "acme", "expires_at": "tomorrow"}, 400, "expires_at"),
        ("post", "/admin/keys", {"tenant": "acme", "rate_limit": 5}, 400, "rate_limit"),
        ("post", "/admin/keys", [1, 2], 400, None),
        ("get", "/admin/keys?limit=0", None, 400, "limit"),
        ("get", "/admin/keys/nosuchkey", None, 404, "key_id"),
        ("delete", "/admin/keys/nosuchkey", None, 404, "key_id"),
        ("post", "/admin/keys/nosuchkey/rotate", None, 404, "key_id"),
        ("post", "/admin/keys/nosuchkey/rotate", {"grace_seconds": -1}, 400, "grace_seconds"),
    ],
)
async def test_admin_input_errors_name_the_field(
    warden: RunningWarden, method: str, path: str, body: Any, status: int, field: str | None
):
    async with warden.http.request(
        method, f"{warden.admin_url}{path}", json=body, headers=warden.admin_headers()
    ) as r:
        assert r.status == status
        error = (await r.json())["error"]
    assert error["param"] == field
    assert error["message"]


async def test_expired_key_is_refused(warden: RunningWarden):
    async with warden.http.post(
        f"{warden.admin_url}/admin/keys",
        json={"tenant": "acme", "expires_at": "2020-01-01T00:00:00Z"},
        headers=warden.admin_headers(),
    ) as r:
        key = (await r.json())["key"]
    assert await proxy_status(warden, key) == 401


async def test_revocation_reaches_other_replicas_within_the_cache_ttl(
    start_warden: Callable[..., Any],
):
    """Two replicas on one database: revoking on A stops the key on B within the TTL."""
    replica_a = await start_warden()
    replica_b = await start_warden()
    key = await replica_a.create_key()
    assert await proxy_status(replica_b, key) == 200  # B now has the key cached
    async with replica_a.http.delete(
        f"{replica_a.admin_url}/admin/keys/{key.split('_')[1]}", headers=replica_a.admin_headers()
    ) as r:
        assert r.status == 200
    assert await proxy_status(replica_a, key) == 401
    await asyncio.sleep(0.6)  # the test config's cache TTL is 0.5 s
    assert await proxy_status(replica_b, key) == 401


async def test_admin_disabled_without_a_token(start_warden: Callable[..., Any]):
    def no_token(raw: dict[str, Any]) -> None:
        del raw["admin"]

    warden = await start_warden(no_token)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{warden.admin_url}/admin/keys") as r:
            assert r.status == 503
        async with session.get(f"{warden.admin_url}/healthz") as r:
            assert r.status == 200
