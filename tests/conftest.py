"""Fixtures: embedded Postgres and Redis for the run, the simulated upstream, a running Warden."""

from __future__ import annotations

import asyncio
import copy
import inspect
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as redis

from proxy import apikeys
from proxy.config import Settings, settings_from_mapping
from proxy.db import migrate
from proxy.devstack import EmbeddedPostgres, EmbeddedRedis
from proxy.server import WardenServer, migrate_once
from tests.upstream import SimulatedUpstream, start_simulated_upstream

_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """A temp folder of this run's own. pytest's default numbered folders are pruned by the
    next runs, which would delete the embedded Postgres of a run still going beside them."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="warden-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Kept after a failure, for its logs; removed after a clean run."""
    own = session.config.stash.get(_OWN_BASETEMP, None)
    if own is not None and exitstatus == 0:
        shutil.rmtree(own, ignore_errors=True)


TEST_DATABASE = "warden_test"
TEST_REDIS_DB = 1
ADMIN_TOKEN = "test-admin-token"
UPSTREAM_CREDENTIAL = "sk-upstream-test-credential"
WEBHOOK_SECRET = "whsec-" + "warden-tests"


@dataclass(frozen=True)
class Services:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    database_url: str
    redis_url: str


def _create_database(pg: EmbeddedPostgres) -> None:
    async def create() -> None:
        conn = await asyncpg.connect(pg.url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}"')
            await conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
        finally:
            await conn.close()

    asyncio.run(create())


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Real servers for the whole run, never skipped: the suite starts its own."""
    root = tmp_path_factory.mktemp("services")
    pg = EmbeddedPostgres(root / "postgres", fsync=False)
    redis_server = EmbeddedRedis(root / "redis")
    pg.start()
    redis_server.start()
    try:
        _create_database(pg)
        database_url = pg.url_for(TEST_DATABASE)
        redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}"
        settings = settings_from_mapping(
            base_config("http://127.0.0.1:9", database_url, redis_url), TEST_ENV
        )
        asyncio.run(migrate_once(settings))
        yield Services(pg, redis_server, database_url, redis_url)
    finally:
        redis_server.stop()
        pg.stop()


# Tables the tests may write; emptied before each test so tests do not see each other.
_TABLES = (
    "api_keys",
    "audit_events",
    "audit_checkpoints",
    "audit_pruned_links",
    "audit_prunes",
    "incidents",
    "alerts",
    "alert_deliveries",
    "alert_rounds",
)


@pytest.fixture
async def db(services: Services) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
    await pool.execute(f"TRUNCATE {', '.join(_TABLES)}")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A Postgres of our own, which the outage tests stop and start."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("audit") / "pg", fsync=False)
    pg.start()

    async def migrated() -> None:
        pool = await asyncpg.create_pool(pg.url, min_size=1, max_size=1)
        try:
            await migrate(pool)
        finally:
            await pool.close()

    try:
        asyncio.run(migrated())
        yield pg
    finally:
        pg.stop()


@pytest.fixture
async def own_db(own_postgres: EmbeddedPostgres) -> EmbeddedPostgres:
    own_postgres.start()  # a no-op unless a failed test left it stopped
    conn = await asyncpg.connect(own_postgres.url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(_TABLES)}")
    finally:
        await conn.close()
    return own_postgres


@pytest.fixture
async def redis_client(services: Services) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(services.redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def upstream() -> AsyncIterator[SimulatedUpstream]:
    sim = await start_simulated_upstream()
    try:
        yield sim
    finally:
        await sim.close()


def base_config(upstream_url: str, database_url: str, redis_url: str) -> dict[str, Any]:
    """The shape of config.yaml, pointed at the test services, listening on free ports."""
    return {
        "listen": {
            "proxy": {"host": "127.0.0.1", "port": 0},
            "admin": {"host": "127.0.0.1", "port": 0},
        },
        "postgres": {"url": database_url, "pool_min": 1, "pool_max": 5, "migrate_on_start": False},
        "redis": {"url": redis_url},
        "admin": {"token": "${WARDEN_ADMIN_TOKEN}"},
        "keys": {"cache_ttl_seconds": 0.5},
        "upstreams": {
            "openai": {
                "url": upstream_url,
                "credential": {
                    "header": "authorization",
                    "prefix": "Bearer ",
                    "value": "${UPSTREAM_KEY}",
                },
                "timeouts": {"connect": 2, "read": 5},
            },
            "anthropic": {
                "url": upstream_url,
                "credential": {"header": "x-api-key", "value": "${UPSTREAM_KEY}"},
                "timeouts": {"connect": 2, "read": 5},
            },
            "ml": {"url": upstream_url, "timeouts": {"connect": 2, "read": 5}},
        },
        "routes": [
            {"prefix": "/v1/messages", "upstream": "anthropic", "format": "anthropic"},
            {"prefix": "/v1", "upstream": "openai", "format": "openai"},
            {"prefix": "/ml/", "upstream": "ml", "format": "kserve", "rewrite": "/"},
            {"prefix": "/json/", "upstream": "ml", "format": "json", "rewrite": "/"},
        ],
        "logging": {"level": "info", "requests": True},
    }


TEST_ENV = {
    "WARDEN_ADMIN_TOKEN": ADMIN_TOKEN,
    "UPSTREAM_KEY": UPSTREAM_CREDENTIAL,
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """An empty policy folder per test; tests write the rules they need into it."""
    folder = tmp_path / "policies"
    folder.mkdir()
    return folder


@pytest.fixture
def make_settings(
    services: Services, upstream: SimulatedUpstream, policy_dir: Path
) -> Callable[..., Settings]:
    """Settings for the test services; `edit` may change the raw config dict first."""

    def make(edit: Callable[[dict[str, Any]], None] | None = None) -> Settings:
        raw = copy.deepcopy(base_config(upstream.url, services.database_url, services.redis_url))
        raw["policies"] = {"dir": str(policy_dir), "reload_interval_seconds": 0.2}
        raw["audit"] = {
            "spool_dir": str(policy_dir.parent / "spool"),
            "flush_interval_seconds": 0.05,
        }
        if edit is not None:
            edit(raw)
        return settings_from_mapping(raw, TEST_ENV)

    return make


@dataclass
class RunningWarden:
    server: WardenServer
    db: asyncpg.Pool
    http: aiohttp.ClientSession

    @property
    def proxy_url(self) -> str:
        return self.server.proxy_url

    @property
    def admin_url(self) -> str:
        return self.server.admin_url

    async def create_key(self, tenant: str = "acme", name: str | None = None) -> str:
        _, full_key = await apikeys.create_key(self.db, tenant, name)
        return full_key

    def admin_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def start_warden(
    make_settings: Callable[..., Settings], db: asyncpg.Pool, redis_client: redis.Redis
) -> AsyncIterator[Callable[..., Any]]:
    """Start real Warden servers (proxy + admin listeners) over loopback; stopped at teardown."""
    started: list[WardenServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(edit: Callable[[dict[str, Any]], None] | None = None) -> RunningWarden:
        server = WardenServer(make_settings(edit))
        await server.start()
        started.append(server)
        session = aiohttp.ClientSession()
        sessions.append(session)
        return RunningWarden(server, db, session)

    try:
        yield start
    finally:
        for session in sessions:
            await session.close()
        for server in started:
            await server.stop()


@pytest.fixture
async def warden(start_warden: Callable[..., Any]) -> RunningWarden:
    running: RunningWarden = await start_warden()
    return running


@pytest.fixture
async def api_key(warden: RunningWarden) -> str:
    return await warden.create_key("acme", "test")


async def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll `check` (plain or async) until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
