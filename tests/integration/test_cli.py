"""The `warden` command as operators run it: migrate, keys, config errors, multi-worker serve."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from proxy.db import load_migrations, migrate, migrations_dir
from proxy.errors import MigrationError
from tests.conftest import ADMIN_TOKEN, TEST_ENV, Services, base_config
from tests.upstream import SimulatedUpstream


def run_warden(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **TEST_ENV, **(env or {})},
    )


async def fresh_database(services: Services, name: str) -> str:
    conn = await asyncpg.connect(services.postgres.url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return services.postgres.url_for(name)


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def test_migrate_applies_each_file_once(services: Services, tmp_path: Path):
    url = await fresh_database(services, "warden_migrate_cli")
    config = write_config(
        tmp_path / "config.yaml", base_config("http://127.0.0.1:9", url, services.redis_url)
    )
    first = await asyncio.to_thread(run_warden, "migrate", "--config", str(config))
    assert first.returncode == 0, first.stderr
    expected = [f"{m.version:04d}_{m.name}" for m in load_migrations(migrations_dir())]
    assert orjson.loads(first.stdout) == {"applied": expected}
    second = await asyncio.to_thread(run_warden, "migrate", "--config", str(config))
    assert orjson.loads(second.stdout) == {"applied": []}
    conn = await asyncpg.connect(url)
    try:
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in versions] == [
        m.version for m in load_migrations(migrations_dir())
    ]


async def test_concurrent_migrations_apply_once(services: Services):
    """Many replicas starting together: the advisory lock lets exactly one apply each file."""
    url = await fresh_database(services, "warden_migrate_race")
    pools = [await asyncpg.create_pool(url, min_size=1, max_size=1) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(pool) for pool in pools))
    finally:
        for pool in pools:
            await pool.close()
    applied = [label for result in results for label in result]
    assert sorted(applied) == sorted(set(applied))
    assert len(applied) == len(load_migrations(migrations_dir()))


async def test_edited_migration_is_refused(services: Services, tmp_path: Path):
    url = await fresh_database(services, "warden_migrate_edit")
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        await migrate(pool, folder)
        first = sorted(folder.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited later\n")
        with pytest.raises(MigrationError, match="forward-only"):
            await migrate(pool, folder)
    finally:
        await pool.close()


async def test_keys_create_prints_the_key_once(
    services: Services, db: asyncpg.Pool, tmp_path: Path
):
    config = write_config(
        tmp_path / "config.yaml",
        base_config("http://127.0.0.1:9", services.database_url, services.redis_url),
    )
    result = await asyncio.to_thread(
        run_warden, "keys", "create", "--tenant", "acme", "--name", "ci", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    created = orjson.loads(result.stdout)
    assert created["tenant"] == "acme" and created["name"] == "ci"
    assert created["key"].startswith(f"wk_{created['id']}_")
    assert "cannot show it again" in result.stderr
    stored = await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", created["id"])
    assert stored is not None
    assert created["key"].encode() not in bytes(stored["secret_sha256"])
    listed = await asyncio.to_thread(run_warden, "keys", "list", "--config", str(config))
    assert [k["id"] for k in orjson.loads(listed.stdout)] == [created["id"]]


def test_bad_config_lists_every_problem(tmp_path: Path):
    raw = base_config("ftp://nowhere", "mysql://db", "redis://127.0.0.1:6379/0")
    raw["listen"]["proxy"]["port"] = "eighty"
    raw["routes"][0]["upstream"] = "missing"
    raw["routes"][1]["format"] = "soap"
    raw["upstreams"]["openai"]["credential"]["value"] = "sk-literal-secret"
    raw["colour"] = "blue"
    config = write_config(tmp_path / "bad.yaml", raw)
    result = run_warden("serve", "--config", str(config), env={"WARDEN_ADMIN_TOKEN": "x"})
    assert result.returncode == 2
    err = result.stderr
    for expected in (
        "bad.yaml: colour: unknown key",
        "listen.proxy.port: expected an integer, got str 'eighty'",
        "routes[1].format: expected one of 'openai', 'anthropic', 'kserve', 'json', got 'soap'",
        "upstreams.openai.credential.value: secrets must be a ${ENV_VAR} reference",
    ):
        assert expected in err, err
    # Cross-section checks run once every field parses: fix those first, then see these.
    raw = base_config("ftp://nowhere", "mysql://db", "redis://127.0.0.1:6379/0")
    raw["routes"][0]["upstream"] = "missing"
    result = run_warden("serve", "--config", str(write_config(tmp_path / "bad2.yaml", raw)))
    for expected in (
        "upstreams.openai.url: expected an http(s) URL",
        "routes[0].upstream: unknown upstream 'missing'",
        "postgres.url: expected a URL with scheme postgres or postgresql",
    ):
        assert expected in result.stderr, result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# Two workers import, migrate and compile policies before answering; on a machine whose cores
# are all busy that has taken more than 20 s.
STARTUP_TIMEOUT = 60.0


async def wait_until_up(url: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


async def serve_two_workers(
    services: Services,
    upstream: SimulatedUpstream,
    tmp_path: Path,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[subprocess.Popen[bytes], int, int]:
    """`warden serve --workers 2` on fixed free ports, migrating on start; waits until up.

    `edit` may change the raw config first."""
    proxy_port, admin_port = free_port(), free_port()
    raw = base_config(upstream.url, services.database_url, services.redis_url)
    raw["listen"] = {
        "proxy": {"host": "127.0.0.1", "port": proxy_port},
        "admin": {"host": "127.0.0.1", "port": admin_port},
    }
    raw["postgres"]["migrate_on_start"] = True
    (tmp_path / "policies").mkdir(exist_ok=True)
    raw["policies"] = {"dir": str(tmp_path / "policies")}
    if edit is not None:
        edit(raw)
    config = write_config(tmp_path / "config.yaml", raw)
    process = subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--config", str(config), "--workers", "2"],
        env={**os.environ, **TEST_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{admin_port}/healthz")
    except AssertionError:
        process.kill()
        process.wait()
        # Left open, the pipe's ResourceWarning would fail whichever test runs next.
        assert process.stderr is not None
        process.stderr.close()
        raise
    return process, proxy_port, admin_port


def requests_total(exposition: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "warden_requests_total"
    )


async def stop_workers(process: subprocess.Popen[bytes], timeout: float = 20) -> tuple[int, str]:
    """SIGTERM `warden serve`, wait for it (killed past `timeout`); its exit code and stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(process.wait, timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    stderr = b""
    if process.stderr is not None:
        stderr = process.stderr.read()
        process.stderr.close()
    return code, stderr.decode(errors="replace")


async def test_serve_with_two_workers_shares_one_port(
    services: Services, upstream: SimulatedUpstream, db: asyncpg.Pool, tmp_path: Path
):
    process, proxy_port, admin_port = await serve_two_workers(services, upstream, tmp_path)
    try:
        pids = set()
        deadline = time.monotonic() + 30  # the second worker may still be starting
        while len(pids) < 2 and time.monotonic() < deadline:
            # A new connection each time, so the kernel can pick either worker.
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                async with s.get(f"http://127.0.0.1:{admin_port}/healthz") as r:
                    pids.add((await r.json())["pid"])
            await asyncio.sleep(0.02)
        assert len(pids) == 2, "both workers accept on the shared port"
        assert process.pid not in pids

        from proxy import apikeys

        _, key = await apikeys.create_key(db, "acme")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            for _ in range(10):
                async with s.post(
                    f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                    json={"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]},
                    headers={"authorization": f"Bearer {key}"},
                ) as r:
                    assert r.status == 200
            async with s.get(
                f"http://127.0.0.1:{admin_port}/admin/keys",
                headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            ) as r:
                assert r.status == 200
            # Whichever worker answers the scrape reports the totals of both.
            totals = []
            for _ in range(8):
                async with s.get(f"http://127.0.0.1:{admin_port}/metrics") as r:
                    totals.append(requests_total(await r.text()))
            assert totals == [10.0] * 8
    finally:
        code, stderr = await stop_workers(process)
    assert code == 0, stderr
    # listen.event_loop defaults to auto: each worker runs on uvloop, which Warden installs.
    assert stderr.count('"event_loop":"uvloop"') == 2, stderr
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_dying_worker_takes_the_set_down(
    services: Services, upstream: SimulatedUpstream, db: asyncpg.Pool, tmp_path: Path
):
    """A half-dead worker set would serve some connections and refuse others: stop all."""
    process, _, admin_port = await serve_two_workers(services, upstream, tmp_path)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{admin_port}/healthz") as r:
                victim = (await r.json())["pid"]
        os.kill(victim, signal.SIGKILL)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert code == 1


async def test_policy_edits_reach_every_worker_within_two_seconds(
    services: Services, upstream: SimulatedUpstream, db: asyncpg.Pool, tmp_path: Path
):
    process, _, admin_port = await serve_two_workers(services, upstream, tmp_path)
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    url = f"http://127.0.0.1:{admin_port}/admin/policies"

    async def versions_by_worker(wanted: int) -> dict[int, str]:
        seen: dict[int, str] = {}
        deadline = time.monotonic() + 10
        while len(seen) < wanted and time.monotonic() < deadline:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                async with s.get(url, headers=admin) as r:
                    body = await r.json()
            seen[body["worker_pid"]] = body["version"]
        return seen

    try:
        before = await versions_by_worker(2)
        assert len(before) == 2 and len(set(before.values())) == 1
        (tmp_path / "policies" / "new.yaml").write_text(
            "rules:\n  - {id: all.flag, description: d, phase: access, action: flag, "
            "severity: low}\n"
        )
        edited_at = time.monotonic()
        reloaded: dict[int, float] = {}
        while len(reloaded) < 2 and time.monotonic() - edited_at < 5:
            for pid, version in (await versions_by_worker(2)).items():
                if version not in before.values() and pid not in reloaded:
                    reloaded[pid] = time.monotonic() - edited_at
            await asyncio.sleep(0.05)
    finally:
        await stop_workers(process)
    assert set(reloaded) == set(before), reloaded
    assert max(reloaded.values()) < 2.0, reloaded
