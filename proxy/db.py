"""Postgres: the asyncpg pool and forward-only migrations from `migrations/NNNN_name.sql`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from proxy.config import Postgres
from proxy.errors import MigrationError, StartupError

log = logging.getLogger(__name__)

# Any constant works; every Warden process and `warden migrate` must agree on it.
MIGRATION_LOCK_ID = 0x57415244454E
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


async def create_pool(config: Postgres, *, attempts: int = 10) -> asyncpg.Pool:
    """Connect, retrying for a while: in compose and Kubernetes, Postgres often starts last."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                config.url,
                min_size=config.pool_min,
                max_size=config.pool_max,
                command_timeout=30,
            )
            return pool
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if attempt == attempts:
                raise StartupError(f"cannot connect to Postgres: {exc}") from exc
            log.warning("postgres not reachable (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """`migrations/` beside the package in a checkout, or where the wheel installed it."""
    checkout = Path(__file__).resolve().parent.parent / "migrations"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "warden" / "migrations"


def load_migrations(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"migrations folder not found: {directory}")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


CREATE_MIGRATIONS_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED_MIGRATIONS_SQL = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
RECORD_MIGRATION_SQL = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


async def migrate(pool: asyncpg.Pool, directory: Path | None = None) -> list[str]:
    """Apply pending migrations in order, each once, in its own transaction.

    An advisory lock makes concurrent starters (N workers, N replicas) wait for one another
    instead of racing; the loser then finds nothing left to do. Returns what was applied.
    """
    migrations = load_migrations(directory or migrations_dir())
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(CREATE_MIGRATIONS_TABLE_SQL)
            applied = {r["version"]: r for r in await conn.fetch(APPLIED_MIGRATIONS_SQL)}
            known = {m.version for m in migrations}
            for version in sorted(set(applied) - known):
                log.warning("database has migration %04d that this version does not know", version)
            for migration in migrations:
                label = f"{migration.version:04d}_{migration.name}"
                done = applied.get(migration.version)
                if done is not None:
                    if done["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"{label}.sql changed after it was applied; migrations are "
                            "forward-only: add a new file instead of editing an applied one"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        RECORD_MIGRATION_SQL, migration.version, migration.name, migration.checksum
                    )
                log.info("applied migration %s", label)
                applied_now.append(label)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now
