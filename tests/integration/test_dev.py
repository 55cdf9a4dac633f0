"""`warden dev`: embedded stack and demo upstream ready for the SDKs; a clean stop and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson

from tests.integration.test_cli import free_port

DEV_JSON_FIELDS = {"proxy_url", "admin_url", "database_url", "redis_url", "api_key", "admin_token"}


def start_dev(repo_root: Path, state_dir: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    port, admin_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "proxy", "dev",
            "--state-dir", str(state_dir), "--port", str(port), "--admin-port", str(admin_port),
        ],
        cwd=repo_root,  # reads ./config.yaml and ./policies like a person would
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    return process, port, admin_port


async def wait_for_state(path: Path, process: subprocess.Popen[bytes], port: int) -> dict[str, str]:
    """dev.json as written by the run listening on `port` (an earlier run's file may be there)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "exited")
        data = _read_json(path)
        if data.get("proxy_url") == f"http://127.0.0.1:{port}":
            return data
        await asyncio.sleep(0.1)
    raise AssertionError("warden dev did not write dev.json")


def _read_json(path: Path) -> dict[str, str]:
    """The file's object; {} while it is missing or still being written."""
    try:
        data: dict[str, str] = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    return data


def _first_pid(path: Path) -> int | None:
    """The PID on a pid file's first line; None while it is missing or still being written."""
    try:
        first = path.read_text().split()[0]
    except (FileNotFoundError, IndexError):
        return None
    return int(first) if first.isdigit() else None


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[int, bytes]:
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def check_demo_iris(info: dict[str, str]) -> None:
    """The shipped demo-iris contract: a flower is classified, a negative petal refused."""
    url = f"{info['proxy_url']}/ml/v2/models/demo-iris/infer"
    headers = {"authorization": f"Bearer {info['api_key']}"}

    def body(*row: float) -> dict[str, Any]:
        return {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": list(row)}]}

    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body(5.1, 3.5, 1.4, 0.2), headers=headers) as response:
            assert response.status == 200
            outputs = (await response.json())["outputs"]
            assert response.headers["x-warden-ml-risk-label"] == "normal"
        assert outputs[0]["name"] == "probabilities" and outputs[0]["shape"] == [1, 3]
        async with http.post(url, json=body(6.3, 2.9, -5.6, 1.8), headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["param"] == "petal_length"


async def test_dev_serves_the_sdks_and_stops_everything(repo_root: Path, tmp_path: Path):
    state_dir = tmp_path / "state"
    process, port, admin_port = start_dev(repo_root, state_dir)
    try:
        info = await wait_for_state(state_dir / "dev.json", process, port)
        assert set(info) >= DEV_JSON_FIELDS
        async with openai.AsyncOpenAI(
            base_url=f"{info['proxy_url']}/v1", api_key=info["api_key"], max_retries=0
        ) as client:
            reply = await client.chat.completions.create(
                model="echo-1", messages=[{"role": "user", "content": "offline and working"}]
            )
        assert reply.choices[0].message.content == "offline and working"
        await check_demo_iris(info)
        # The dev stack signs its audit chains with a key of its own, kept in the state dir.
        assert stat.S_IMODE((state_dir / "evidence.key").stat().st_mode) == 0o600
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{info['admin_url']}/admin/audit/verify",
                headers={"authorization": f"Bearer {info['admin_token']}"},
            ) as r,
        ):
            report = await r.json()
        assert r.status == 200 and report["ok"] and len(report["trusted_keys"]) == 1
        postgres_pid = int((state_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        redis_pid = int((state_dir / "redis" / "redis.pid").read_text().strip())
        assert pid_alive(postgres_pid) and pid_alive(redis_pid)
        # A second `warden dev` on the same state dir refuses instead of taking over.
        second = subprocess.run(
            [sys.executable, "-m", "proxy", "dev", "--state-dir", str(state_dir),
             "--port", str(free_port()), "--admin-port", str(free_port())],
            cwd=repo_root, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert second.returncode == 1
        assert "in use by another `warden dev`" in second.stderr
    finally:
        code, stderr = stop(process, signal.SIGINT)  # what Ctrl-C sends
    assert code == 0, stderr.decode()
    deadline = time.monotonic() + 10
    while (pid_alive(postgres_pid) or pid_alive(redis_pid)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not pid_alive(postgres_pid), "Postgres was stopped"
    assert not pid_alive(redis_pid), "Redis was stopped"

    # A second start reuses the state dir: same data, same demo key, same admin token.
    process, port, _ = start_dev(repo_root, state_dir)
    try:
        again = await wait_for_state(state_dir / "dev.json", process, port)
        assert again["api_key"] == info["api_key"]
        assert again["admin_token"] == info["admin_token"]
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr.decode()


async def test_a_stop_during_startup_stops_what_had_started(repo_root: Path, tmp_path: Path):
    state_dir = tmp_path / "state"
    process, _, _ = start_dev(repo_root, state_dir)
    pid_file = state_dir / "postgres" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 60
        postgres_pid = _first_pid(pid_file)
        while postgres_pid is None and process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            postgres_pid = _first_pid(pid_file)
        assert postgres_pid is not None, "Postgres did not start"
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr.decode()
    assert not (state_dir / "dev.json").exists(), "a stopped startup does not announce itself"
    assert not pid_alive(postgres_pid), "Postgres started before the stop was stopped"
    redis_pid_file = state_dir / "redis" / "redis.pid"
    if redis_pid_file.exists():
        assert not pid_alive(int(redis_pid_file.read_text().strip()))
