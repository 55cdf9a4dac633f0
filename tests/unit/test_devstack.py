"""Real embedded PostgreSQL and Redis servers: start, query, stop, restart."""

import os
import socket
import subprocess
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from proxy.devstack import DevStackError, EmbeddedPostgres, EmbeddedRedis


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _pg_fetchval(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def _redis_call(url: str, *args: str) -> object:
    client = aioredis.Redis.from_url(url)
    try:
        return await client.execute_command(*args)
    finally:
        await client.aclose()


async def test_postgres_query_stop_restart_keeps_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", fsync=False)
    try:
        with pg:
            url = pg.url
            assert url.startswith("postgresql://postgres@127.0.0.1:")
            assert pg.url_for("warden") == url.rsplit("/", 1)[0] + "/warden"
            assert await _pg_fetchval(url, "SELECT 1") == 1
            await _pg_fetchval(url, "CREATE TABLE kept AS SELECT 42 AS answer")
            pid = pg.pid
            assert pid is not None and pg.running
        assert not _alive(pid)
        assert not pg.running and pg.pid is None
        pg.stop()

        # A crashed run leaves a postmaster.pid whose process no longer exists.
        dead = subprocess.Popen(["true"])
        dead.wait()
        (tmp_path / "pg" / "postmaster.pid").write_text(f"{dead.pid}\n{tmp_path / 'pg'}\n")

        pg.start()
        assert pg.url == url
        assert pg.pid != pid
        assert await _pg_fetchval(url, "SELECT answer FROM kept") == 42
    finally:
        pg.stop()


async def test_postgres_left_running_by_killed_run_is_replaced(tmp_path: Path) -> None:
    orphan = EmbeddedPostgres(tmp_path / "pg", fsync=False)
    successor = EmbeddedPostgres(tmp_path / "pg", fsync=False)
    try:
        orphan.start()
        old_pid = orphan.pid
        assert old_pid is not None
        successor.start()
        assert not orphan.running
        assert await _pg_fetchval(successor.url, "SELECT 1") == 1
    finally:
        successor.stop()
        orphan.stop()
    assert not _alive(old_pid)


def test_postgres_start_failure_reports_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        pg = EmbeddedPostgres(tmp_path / "pg", port=busy.getsockname()[1], fsync=False)
        with pytest.raises(DevStackError, match="could not bind"):
            pg.start(timeout=15)
    assert not pg.running


async def test_redis_ping_stop_restart(tmp_path: Path) -> None:
    rd = EmbeddedRedis(tmp_path / "redis")
    try:
        with rd:
            url = rd.url
            assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
            assert await _redis_call(url, "PING") is True
            await _redis_call(url, "SET", "k", "v")
            pid = rd.pid
            assert pid is not None
        assert not _alive(pid)
        rd.stop()
        rd.start()
        assert rd.url == url
        # persist=False: a restart starts empty.
        assert await _redis_call(url, "EXISTS", "k") == 0
    finally:
        rd.stop()


async def test_redis_persist_keeps_data(tmp_path: Path) -> None:
    rd = EmbeddedRedis(tmp_path / "redis", persist=True)
    try:
        with rd:
            await _redis_call(rd.url, "SET", "k", "v")
        rd.start()
        assert await _redis_call(rd.url, "GET", "k") == b"v"
    finally:
        rd.stop()


def test_redis_start_failure_reports_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        rd = EmbeddedRedis(tmp_path / "redis", port=busy.getsockname()[1])
        with pytest.raises(DevStackError, match="Address already in use"):
            rd.start()
    assert not rd.running
