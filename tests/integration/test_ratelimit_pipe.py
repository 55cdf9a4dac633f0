"""The limiter's own Redis connection: replies matched to calls, reconnects, dead peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError, ResponseError

from proxy.devstack import EmbeddedRedis
from proxy.ratelimit.lua import Keys, Script, create_client
from proxy.ratelimit.pipe import ScriptPipe, bulk, command
from tests.conftest import Services

T = 5.0  # seconds: any call here answers well within it, unless a test says otherwise
# Busy for ARGV[1] ms inside Redis, then answers ARGV[2]: a reply that comes late.
SLOW_LUA = """
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
repeat
  t = redis.call('TIME')
until tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 - start >= tonumber(ARGV[1])
return ARGV[2]
"""


@pytest.fixture
async def pipe(services: Services, redis_client: redis.Redis) -> AsyncIterator[ScriptPipe]:
    client = create_client(services.redis_url, 5.0)
    pipe = ScriptPipe(client)
    try:
        yield pipe
    finally:
        await pipe.aclose()
        await client.aclose()


def test_commands_are_encoded_as_the_redis_protocol() -> None:
    assert command("SET", "k", 12) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"
    # Lengths are in bytes, not characters.
    assert command("é") == b"*1\r\n$2\r\n\xc3\xa9\r\n"
    # A script call's keys, encoded apart (a plan's, once) and joined: the same command.
    keys = Keys.of(["marker"]) + Keys.of(["k1", "k2"])
    called = Script("return 1")._command(bulk("EVALSHA", "abc"), keys, [0, "x"])
    assert called == command("EVALSHA", "abc", 3, "marker", "k1", "k2", 0, "x")


async def test_replies_come_back_to_their_calls_in_any_interleaving(
    pipe: ScriptPipe, redis_client: redis.Redis
) -> None:
    async def set_and_get(i: int) -> list[object]:
        return await pipe.execute([command("SET", f"k{i}", i), command("GET", f"k{i}")], T)

    replies = await asyncio.gather(*(set_and_get(i) for i in range(200)))
    assert replies == [[b"OK", str(i).encode()] for i in range(200)]
    # The connection selected the client's database.
    assert await redis_client.get("k7") == b"7"


async def test_an_error_reply_is_a_value_and_the_next_replies_still_match(
    pipe: ScriptPipe,
) -> None:
    replies = await pipe.execute([command("GET"), command("PING"), command("ECHO", "x")], T)
    assert isinstance(replies[0], ResponseError) and replies[1:] == [b"PONG", b"x"]


async def test_a_call_given_up_on_does_not_shift_the_replies_of_later_ones(
    pipe: ScriptPipe,
) -> None:
    assert await pipe.execute([command("PING")], T) == [b"PONG"]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            await pipe.execute([command("EVAL", SLOW_LUA, 0, 300, "late")], T)
    assert await pipe.execute([command("ECHO", "mine")], T) == [b"mine"]


async def test_each_call_fails_at_its_own_deadline(pipe: ScriptPipe) -> None:
    assert await pipe.execute([command("PING")], T) == [b"PONG"]
    loop = asyncio.get_running_loop()

    async def timed(cmd: bytes, timeout: float) -> tuple[object, float]:
        started = loop.time()
        try:
            result: object = await pipe.execute([cmd], timeout)
        except TimeoutError as exc:
            result = exc
        return result, loop.time() - started

    # Redis is busy for 0.6 s: the calls behind the script wait for it, or give up first.
    slow, short, long = await asyncio.gather(
        timed(command("EVAL", SLOW_LUA, 0, 600, "late"), 0.3),
        timed(command("ECHO", "a"), 0.1),
        timed(command("ECHO", "b"), T),
    )
    assert isinstance(slow[0], TimeoutError) and 0.3 <= slow[1] < 0.55
    assert isinstance(short[0], TimeoutError) and 0.1 <= short[1] < 0.3
    assert long[0] == [b"b"] and long[1] >= 0.55
    assert await pipe.execute([command("ECHO", "c")], T) == [b"c"]


async def test_a_dropped_connection_fails_its_calls_and_the_next_call_reconnects(
    pipe: ScriptPipe, redis_client: redis.Redis
) -> None:
    [pipe_id] = await pipe.execute([command("CLIENT", "ID")], T)
    waiting = asyncio.create_task(pipe.execute([command("BLPOP", "nothing", 5)], T))
    await asyncio.sleep(0.05)
    await redis_client.client_kill_filter(_id=pipe_id)
    with pytest.raises(ConnectionError):
        await waiting
    [new_id] = await pipe.execute([command("CLIENT", "ID")], T)
    assert new_id != pipe_id


async def test_a_connection_silent_for_too_long_is_replaced(
    services: Services, redis_client: redis.Redis
) -> None:
    client = create_client(services.redis_url, 5.0)
    pipe = ScriptPipe(client, dead_after=0.2)
    try:
        [first] = await pipe.execute([command("CLIENT", "ID")], T)
        # Redis runs a script for 0.4 s: its connections get nothing back until it ends.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await pipe.execute([command("EVAL", SLOW_LUA, 0, 400, "late")], T)
        await asyncio.sleep(0.3)
        # Nothing heard for longer than 0.2 s while a call waits: the next call goes elsewhere.
        [second] = await pipe.execute([command("CLIENT", "ID")], T)
        assert second != first
    finally:
        await pipe.aclose()
        await client.aclose()


async def test_the_connection_is_opened_like_the_clients_own(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r")
    server.start()
    try:
        admin = redis.Redis.from_url(server.url)
        await admin.execute_command("ACL", "SETUSER", "warden", "on", ">s3cret", "~*", "+@all")
        await admin.config_set("requirepass", "other")
        await admin.aclose()
        url = f"redis://warden:s3cret@127.0.0.1:{server.port}/3"
        client = create_client(url, 5.0)
        pipe = ScriptPipe(client)
        try:
            assert await pipe.execute([command("ACL", "WHOAMI")], T) == [b"warden"]
            assert await pipe.execute([command("SET", "k", "v")], T) == [b"OK"]
            assert await client.get("k") == b"v"  # in database 3, as the URL says
        finally:
            await pipe.aclose()
            await client.aclose()
    finally:
        server.stop()


async def test_a_closed_pipe_refuses_calls(pipe: ScriptPipe) -> None:
    assert await pipe.execute([command("PING")], T) == [b"PONG"]
    await pipe.aclose()
    with pytest.raises(ConnectionError):
        await pipe.execute([command("PING")], T)
