"""Proxy behaviour over raw HTTP: ML routes, header hygiene, errors, disconnects, streaming."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.exchange import Exchange
from tests.conftest import RunningWarden
from tests.upstream import SimulatedUpstream


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}


CHAT = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    body = await response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


async def test_kserve_v2_and_v1_through_ml_prefix(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    v2 = {
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]
    }
    async with warden.http.post(
        f"{warden.proxy_url}/ml/v2/models/demo-iris/infer", json=v2, headers=auth(api_key)
    ) as response:
        assert response.status == 200
        result = await response.json()
    assert upstream.received[-1].path == "/v2/models/demo-iris/infer"
    labels = next(o for o in result["outputs"] if o["datatype"] == "BYTES")
    assert labels["data"] == ["setosa"]

    async with warden.http.post(
        f"{warden.proxy_url}/ml/v1/models/echo:predict",
        json={"instances": [[1, 2]]},
        headers=auth(api_key),
    ) as response:
        assert response.status == 200
        assert "predictions" in await response.json()
    assert upstream.received[-1].path == "/v1/models/echo:predict"


async def test_generic_json_route(warden: RunningWarden, api_key: str, upstream: SimulatedUpstream):
    async with warden.http.post(
        f"{warden.proxy_url}/json/score?explain=1",
        json={"features": {"age": 42}},
        headers=auth(api_key),
    ) as response:
        assert response.status == 200
        assert (await response.json())["echo"] == {"features": {"age": 42}}
    assert upstream.received[-1].path == "/score"
    assert upstream.received[-1].query_string == "explain=1"


async def test_kserve_contract_error_names_the_field(warden: RunningWarden, api_key: str):
    bad = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FLOAT", "data": [1, 2, 3, 4]}]}
    async with warden.http.post(
        f"{warden.proxy_url}/ml/v2/models/demo-iris/infer", json=bad, headers=auth(api_key)
    ) as response:
        assert response.status == 400
        error = await error_of(response)
    assert error["param"] == "inputs[0].datatype"


async def test_hop_by_hop_and_credentials_are_not_forwarded(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    headers = auth(
        api_key,
        **{
            "x-api-key": api_key,
            "connection": "keep-alive, x-per-hop",
            "x-per-hop": "1",
            "keep-alive": "timeout=5",
            "te": "trailers",
            "proxy-authorization": "Basic abc",
            "x-warden-internal": "spoofed",
            "x-custom": "kept",
        },
    )
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions", json=CHAT, headers=headers
    ) as response:
        assert response.status == 200
        assert "keep-alive" not in {
            h.lower() for h in response.headers if h.lower() != "connection"
        }
    seen = upstream.received[-1].headers
    for gone in ("x-per-hop", "keep-alive", "te", "proxy-authorization", "x-warden-internal"):
        assert gone not in seen, gone
    assert seen["x-api-key"] != api_key if "x-api-key" in seen else True
    assert seen["x-custom"] == "kept"
    assert not any(api_key in v for v in seen.values())


async def test_request_id_is_kept_or_made(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    url = f"{warden.proxy_url}/v1/chat/completions"
    async with warden.http.post(
        url, json=CHAT, headers=auth(api_key, **{"x-request-id": "trace-123"})
    ) as r:
        assert r.headers["x-request-id"] == "trace-123"
    assert upstream.received[-1].headers["x-request-id"] == "trace-123"
    async with warden.http.post(url, json=CHAT, headers=auth(api_key)) as r:
        made = r.headers["x-request-id"]
    assert len(made) == 32 and made != "trace-123"
    async with warden.http.get(f"{warden.proxy_url}/nowhere") as r:
        assert r.headers["x-request-id"], "local replies carry the id too"


async def test_user_agent_goes_upstream_as_the_caller_sent_it(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    url = f"{warden.proxy_url}/v1/chat/completions"
    sdk = auth(api_key, **{"user-agent": "OpenAI/Python 1.99.0"})
    async with warden.http.post(url, json=CHAT, headers=sdk) as r:
        assert r.status == 200
    assert upstream.received[-1].headers["user-agent"] == "OpenAI/Python 1.99.0"
    # A caller without one: the upstream must not see aiohttp's own in its place.
    async with warden.http.post(
        url, json=CHAT, headers=auth(api_key), skip_auto_headers=("User-Agent",)
    ) as r:
        assert r.status == 200
    assert "user-agent" not in upstream.received[-1].headers


@pytest.mark.parametrize(
    ("body", "content_type", "status", "param", "code"),
    [
        (b"{not json", "application/json", 400, None, "invalid_json"),
        (b"", "application/json", 400, None, "invalid_request"),
        (b'["a list"]', "application/json", 400, None, "invalid_request"),
        (b'{"messages": []}', "application/json", 400, "model", "invalid_request"),
        (b'{"model": 7, "messages": []}', "application/json", 400, "model", "invalid_request"),
        (b'{"model": "m"}', "text/plain", 400, None, "unsupported_content_type"),
    ],
)
async def test_bad_bodies_get_clear_errors(
    warden: RunningWarden,
    api_key: str,
    upstream: SimulatedUpstream,
    body: bytes,
    content_type: str,
    status: int,
    param: str | None,
    code: str,
):
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        data=body,
        headers=auth(api_key, **{"content-type": content_type}),
    ) as response:
        assert response.status == status
        error = await error_of(response)
    assert error["param"] == param
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert upstream.received == []


async def test_unknown_route_and_method(warden: RunningWarden, api_key: str):
    async with warden.http.get(f"{warden.proxy_url}/v2x/anything", headers=auth(api_key)) as r:
        assert r.status == 404
        assert (await error_of(r))["code"] == "unknown_route"
    async with warden.http.put(
        f"{warden.proxy_url}/v1/chat/completions", headers=auth(api_key)
    ) as r:
        assert r.status == 405
        assert "POST" in r.headers["allow"]


async def test_body_over_route_limit_is_413(start_warden: Callable[..., Any]):
    def small_limit(raw: dict[str, Any]) -> None:
        raw["routes"][1]["max_body_bytes"] = 1024

    warden = await start_warden(small_limit)
    key = await warden.create_key()
    big = {"model": "echo-1", "messages": [{"role": "user", "content": "x" * 4096}]}
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions", json=big, headers=auth(key)
    ) as response:
        assert response.status == 413
        assert (await error_of(response))["code"] == "request_too_large"

    async def chunked() -> Any:
        yield b'{"model": "echo-1", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 512
        yield b'"}]}'

    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        data=chunked(),
        headers=auth(key, **{"content-type": "application/json"}),
    ) as response:
        assert response.status == 413, "a chunked body without Content-Length is bounded too"


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_upstream_unreachable_is_502(start_warden: Callable[..., Any]):
    port = unused_port()

    def dead_upstream(raw: dict[str, Any]) -> None:
        raw["upstreams"]["openai"]["url"] = f"http://127.0.0.1:{port}"

    warden = await start_warden(dead_upstream)
    key = await warden.create_key()
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions", json=CHAT, headers=auth(key)
    ) as response:
        assert response.status == 502
        error = await error_of(response)
    assert error["code"] == "upstream_unreachable"
    assert "openai" in error["message"]


async def test_upstream_timeout_is_504(
    start_warden: Callable[..., Any], upstream: SimulatedUpstream
):
    def short_read(raw: dict[str, Any]) -> None:
        raw["upstreams"]["openai"]["timeouts"]["read"] = 0.3

    warden = await start_warden(short_read)
    key = await warden.create_key()
    started = time.monotonic()
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json=CHAT,
        headers=auth(key, **{"x-sim-delay": "3"}),
    ) as response:
        assert response.status == 504
        assert (await error_of(response))["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2


async def test_stream_cut_by_upstream_timeout_ends_with_error_event(
    start_warden: Callable[..., Any],
):
    def short_read(raw: dict[str, Any]) -> None:
        raw["upstreams"]["openai"]["timeouts"]["read"] = 0.3

    warden = await start_warden(short_read)
    key = await warden.create_key()
    body = {**CHAT, "stream": True}
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json=body,
        headers=auth(key, **{"x-sim-chunk-delay": "1", "x-sim-words": "5"}),
    ) as response:
        assert response.status == 200
        text = (await response.read()).decode()
    last_event = text.strip().split("\n\n")[-1]
    assert last_event.startswith("event: error\ndata: ")
    error = orjson.loads(last_event.split("data: ", 1)[1])["error"]
    assert error["code"] == "upstream_timeout"


async def test_stream_is_relayed_chunk_by_chunk(warden: RunningWarden, api_key: str):
    """The first event reaches the caller long before the upstream has finished."""
    body = {**CHAT, "stream": True}
    started = time.monotonic()
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions",
        json=body,
        headers=auth(api_key, **{"x-sim-chunk-delay": "0.25", "x-sim-words": "8"}),
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = await response.content.readline()
        first_at = time.monotonic() - started
        rest = await response.read()
        done_at = time.monotonic() - started
    assert first.startswith(b"data: ")
    assert rest.rstrip().endswith(b"data: [DONE]")
    assert done_at - first_at > 1.0, (first_at, done_at)


async def wait_for_event(upstream: SimulatedUpstream, prefix: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in upstream.events:
            if event.startswith(prefix):
                return event
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {prefix!r} event in {upstream.events}")


async def test_client_disconnect_mid_stream_cancels_upstream(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    body = {**CHAT, "stream": True}
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{warden.proxy_url}/v1/chat/completions",
            json=body,
            headers=auth(api_key, **{"x-sim-chunk-delay": "0.2", "x-sim-words": "200"}),
        )
        assert (await response.content.readline()).startswith(b"data: ")
        response.close()  # hang up mid-stream
    event = await wait_for_event(upstream, "cancelled:")
    assert event == "cancelled:/v1/chat/completions"
    assert not any(e.startswith("completed:") for e in upstream.events)
    # Warden is unharmed and serves the next caller.
    async with warden.http.post(
        f"{warden.proxy_url}/v1/chat/completions", json=CHAT, headers=auth(api_key)
    ) as r:
        assert r.status == 200


async def test_client_disconnect_while_waiting_cancels_upstream(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(
                f"{warden.proxy_url}/v1/chat/completions",
                json=CHAT,
                headers=auth(api_key, **{"x-sim-delay": "3"}),
            )
    await wait_for_event(upstream, "cancelled:/v1/chat/completions")


async def raw_get(url: str, path: str, key: str) -> tuple[int, bytes]:
    """Send the path byte for byte; client libraries would normalise it first."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
    writer.write((head + "Connection: close\r\n\r\n").encode())
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("path", ["/ml/../v1/models", "/ml/%2e%2e/v1/models", "/v1/./models"])
async def test_dot_segments_cannot_escape_a_route(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream, path: str
):
    status, body = await raw_get(warden.proxy_url, path, api_key)
    assert status == 400
    assert orjson.loads(body)["error"]["code"] == "invalid_path"
    assert upstream.received == []


async def test_percent_encoding_reaches_the_upstream_as_sent(
    warden: RunningWarden, api_key: str, upstream: SimulatedUpstream
):
    status, _ = await raw_get(warden.proxy_url, "/ml/v2/models/team%2Firis", api_key)
    assert status == 200
    assert upstream.received[-1].raw_path == "/v2/models/team%2Firis"


async def test_answered_requests_leave_no_cyclic_garbage(warden: RunningWarden, api_key: str):
    """Reference counting frees a request's objects once it is answered: a cycle (the request
    holding its exchange, which holds the request) left them all to the cyclic GC, which then
    ran every few requests and promoted each request's objects on the way."""

    def exchanges() -> list[Exchange]:
        return [o for o in gc.get_objects() if isinstance(o, Exchange)]

    gc.collect()
    gc.disable()
    try:
        url = f"{warden.proxy_url}/v1/chat/completions"
        for headers in (auth(api_key), auth("wk_unknown")):
            for body in (CHAT, {**CHAT, "stream": True}):
                async with warden.http.post(url, json=body, headers=headers) as response:
                    await response.read()
        for _ in range(100):  # the handlers finish just after the last byte is sent
            if not exchanges():
                break
            await asyncio.sleep(0.01)
        assert exchanges() == []
    finally:
        gc.enable()
