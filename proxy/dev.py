"""`warden dev`: Warden on embedded Postgres and Redis with the demo upstream, all local."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import fcntl
import logging
import os
import secrets
import signal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from proxy import apikeys
from proxy.audit.settings import EvidenceSettings
from proxy.config import Listener, Settings, load_settings
from proxy.demo_upstream import create_demo_upstream_app
from proxy.devstack import EmbeddedPostgres, EmbeddedRedis
from proxy.errors import StartupError
from proxy.evidence.keyfile import create_key_file
from proxy.server import WardenServer, migrate_once, tune_gc_for_serving

log = logging.getLogger(__name__)

DEV_DATABASE = "warden"
DEMO_TENANT = "demo"


@dataclasses.dataclass(frozen=True, slots=True)
class DevOptions:
    config: Path
    port: int
    admin_port: int
    state_dir: Path
    demo_upstream: bool = True


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


async def _ensure_database(pg: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(pg.url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DEV_DATABASE)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DEV_DATABASE}"')
    finally:
        await conn.close()


async def _demo_key(database_url: str, previous: str | None) -> str:
    """Reuse the demo key from the last run while it still works; otherwise make a new one."""
    conn = await asyncpg.connect(database_url)
    try:
        if previous and (parsed := apikeys.parse_key(previous)):
            key = await apikeys.fetch_key(conn, parsed[0])
            if key is not None and key.accepts(parsed[1], dt.datetime.now(dt.UTC)):
                return previous
        _, full_key = await apikeys.create_key(conn, DEMO_TENANT, "warden dev demo key")
        return full_key
    finally:
        await conn.close()


async def _start_demo_upstream() -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_demo_upstream_app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def dev_environment(
    database_url: str, redis_url: str, admin_token: str, demo_url: str | None
) -> dict[str, str]:
    """What the shipped config.yaml reads from the environment, pointed at the local stack."""
    env = dict(os.environ)
    env["WARDEN_DATABASE_URL"] = database_url
    env["WARDEN_REDIS_URL"] = redis_url
    env["WARDEN_ADMIN_TOKEN"] = admin_token
    if demo_url is not None:
        for name in ("OPENAI", "ANTHROPIC", "ML"):
            env[f"WARDEN_{name}_URL"] = demo_url
        env.setdefault("WARDEN_OPENAI_API_KEY", "demo-upstream-key")
        env.setdefault("WARDEN_ANTHROPIC_API_KEY", "demo-upstream-key")
    return env


def _dev_evidence(evidence: EvidenceSettings, state_dir: Path) -> EvidenceSettings:
    if evidence.signing_key_file or evidence.signing_key:
        return evidence
    path = state_dir / "evidence.key"
    if not path.exists():
        create_key_file(path)
    return dataclasses.replace(evidence, signing_key_file=str(path))


def _lock_state_dir(state_dir: Path) -> int:
    """One `warden dev` per state dir: a second would take over the first one's servers."""
    fd = os.open(state_dir / "dev.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StartupError(
            f"{state_dir} is in use by another `warden dev` (pid {owner}); "
            "stop it or pass --state-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


async def run_dev(options: DevOptions) -> None:
    state_dir = options.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock_state_dir(state_dir)
    state_file = state_dir / "dev.json"
    previous = _read_state(state_file)
    # Listening for Ctrl-C from the start: a stop during startup lets the embedded servers
    # already started be stopped in `finally` instead of outliving us.
    stop = _stop_on_signals()
    admin_token = previous.get("admin_token") or "wat_" + secrets.token_urlsafe(24)

    pg = EmbeddedPostgres(state_dir / "postgres")
    redis_server = EmbeddedRedis(state_dir / "redis", persist=True)
    demo_runner: web.AppRunner | None = None
    server: WardenServer | None = None
    try:
        await asyncio.to_thread(pg.start)
        await asyncio.to_thread(redis_server.start)
        if stop.is_set():
            return
        await _ensure_database(pg)
        database_url = pg.url_for(DEV_DATABASE)
        demo_url = None
        if options.demo_upstream:
            demo_runner, demo_url = await _start_demo_upstream()
        env = dev_environment(database_url, redis_server.url, admin_token, demo_url)
        settings = load_settings(options.config, env)
        settings = dataclasses.replace(
            settings,
            # The dev stack's audit journal lives with its database, in the state dir, and
            # its chains are signed with a key kept there too, unless the config names one.
            audit=dataclasses.replace(
                settings.audit,
                spool_dir=str(state_dir / "spool"),
                evidence=_dev_evidence(settings.audit.evidence, state_dir),
            ),
            listen=dataclasses.replace(
                settings.listen,
                proxy=Listener(settings.listen.proxy.host, options.port),
                admin=Listener(settings.listen.admin.host, options.admin_port),
            ),
        )
        await migrate_once(settings)
        api_key = await _demo_key(database_url, previous.get("api_key"))
        server = WardenServer(settings)
        await server.start()
        tune_gc_for_serving()
        info = {
            "proxy_url": server.proxy_url,
            "admin_url": server.admin_url,
            "database_url": database_url,
            "redis_url": redis_server.url,
            "api_key": api_key,
            "admin_token": admin_token,
        }
        if demo_url:
            info["demo_upstream_url"] = demo_url
        if stop.is_set():
            return
        state_file.write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
        state_file.chmod(0o600)
        _announce(info, state_file, settings)
        await stop.wait()
    finally:
        if server is not None:
            await server.stop()
        if demo_runner is not None:
            await demo_runner.cleanup()
        await asyncio.to_thread(redis_server.stop)
        await asyncio.to_thread(pg.stop)
        os.close(lock_fd)


def _announce(info: dict[str, str], state_file: Path, settings: Settings) -> None:
    # The one place Warden writes to stdout for a person: this is an interactive command.
    lines = [
        "Warden dev is running (Ctrl-C stops everything).",
        f"  proxy     {info['proxy_url']}   OpenAI: base_url={info['proxy_url']}/v1",
        f"  admin     {info['admin_url']}",
        f"  api key   {info['api_key']}",
        f"  admin     token {info['admin_token']}",
        f"  postgres  {info['database_url']}",
        f"  redis     {info['redis_url']}",
        f"  upstream  {info.get('demo_upstream_url', 'as configured in ' + settings.base_dir)}",
        f"  written to {state_file}",
        "Try:",
        f"  curl -s {info['proxy_url']}/v1/chat/completions -H 'authorization: Bearer "
        f"{info['api_key']}' -H 'content-type: application/json' "
        """-d '{"model":"echo-1","messages":[{"role":"user","content":"hello"}]}'""",
    ]
    os.write(1, ("\n".join(lines) + "\n").encode())


def _stop_on_signals() -> asyncio.Event:
    """The first SIGINT/SIGTERM asks for a clean stop; a second one gets the default action,
    so a startup or shutdown that hangs can still be interrupted."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        stop.set()
        for sig in signals:
            loop.remove_signal_handler(sig)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal)
    return stop
