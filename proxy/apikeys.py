"""Warden API keys: the `wk_<id>_<secret>` format, hashing, and their rows in Postgres."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
import orjson

PREFIX = "wk_"
# Queries run on a pool or on one connection alike (the CLI and `warden dev` hold a connection).
Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 16
_KEY_PATTERN = re.compile(PREFIX + f"([a-z0-9]{{{_ID_LENGTH}}})_(.{{1,256}})", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant: str
    name: str | None
    secret_sha256: bytes
    previous_secret_sha256: bytes | None
    previous_valid_until: dt.datetime | None
    created_at: dt.datetime
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None
    expires_at: dt.datetime | None
    rate_limit: dict[str, Any] | None
    metadata: dict[str, Any]

    def accepts(self, secret: str, now: dt.datetime) -> bool:
        """True when `secret` is this key's and the key is usable at `now`."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        digest = hash_secret(secret)
        if hmac.compare_digest(digest, self.secret_sha256):
            return True
        return (
            self.previous_secret_sha256 is not None
            and self.previous_valid_until is not None
            and now < self.previous_valid_until
            and hmac.compare_digest(digest, self.previous_secret_sha256)
        )

    def public(self) -> dict[str, Any]:
        """The key's metadata as the admin API shows it: never a hash, never a secret."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "rotated_at": _iso(self.rotated_at),
            "revoked_at": _iso(self.revoked_at),
            "expires_at": _iso(self.expires_at),
            "previous_valid_until": _iso(self.previous_valid_until),
            "rate_limit": self.rate_limit,
            "metadata": self.metadata,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def hash_secret(secret: str) -> bytes:
    # Secrets are 256 random bits, so a fast hash is enough; bcrypt would cost ms per request.
    return hashlib.sha256(secret.encode()).digest()


def new_key_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def format_key(key_id: str, secret: str) -> str:
    return f"{PREFIX}{key_id}_{secret}"


def parse_key(token: str) -> tuple[str, str] | None:
    """Split `wk_<id>_<secret>`; None when the token is not shaped like a Warden key."""
    match = _KEY_PATTERN.fullmatch(token)
    return (match[1], match[2]) if match else None


_COLUMNS = (
    "id, tenant, name, secret_sha256, previous_secret_sha256, previous_valid_until, created_at,"
    " rotated_at, revoked_at, expires_at, rate_limit, metadata"
)

FETCH_KEY_SQL = f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1"

INSERT_KEY_SQL = f"""
INSERT INTO api_keys (id, tenant, name, secret_sha256, expires_at, rate_limit, metadata)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
RETURNING {_COLUMNS}
"""

LIST_KEYS_SQL = f"""
SELECT {_COLUMNS} FROM api_keys
WHERE ($1::text IS NULL OR tenant = $1)
  AND ($2::boolean OR revoked_at IS NULL OR revoked_at > now())
  AND ($3::text IS NULL OR id > $3)
ORDER BY id
LIMIT $4
"""

REVOKE_KEY_SQL = f"""
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = $1
RETURNING {_COLUMNS}
"""

# The old secret stays valid until now() + grace, so callers can roll without an outage.
ROTATE_KEY_SQL = f"""
UPDATE api_keys
SET previous_secret_sha256 = CASE WHEN $3::float8 > 0 THEN secret_sha256 END,
    previous_valid_until = CASE WHEN $3::float8 > 0
                                THEN now() + make_interval(secs => $3::float8) END,
    secret_sha256 = $2,
    rotated_at = now()
WHERE id = $1 AND (revoked_at IS NULL OR revoked_at > now())
RETURNING {_COLUMNS}
"""


def row_to_key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        secret_sha256=bytes(row["secret_sha256"]),
        previous_secret_sha256=(
            bytes(row["previous_secret_sha256"]) if row["previous_secret_sha256"] else None
        ),
        previous_valid_until=row["previous_valid_until"],
        created_at=row["created_at"],
        rotated_at=row["rotated_at"],
        revoked_at=row["revoked_at"],
        expires_at=row["expires_at"],
        rate_limit=orjson.loads(row["rate_limit"]) if row["rate_limit"] else None,
        metadata=orjson.loads(row["metadata"]) if row["metadata"] else {},
    )


async def fetch_key(pool: Executor, key_id: str) -> ApiKey | None:
    row = await pool.fetchrow(FETCH_KEY_SQL, key_id)
    return row_to_key(row) if row else None


async def create_key(
    pool: Executor,
    tenant: str,
    name: str | None = None,
    *,
    expires_at: dt.datetime | None = None,
    rate_limit: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[ApiKey, str]:
    """Insert a new key; returns the row and the full key, which is never shown again."""
    key_id, secret = new_key_id(), new_secret()
    row = await pool.fetchrow(
        INSERT_KEY_SQL,
        key_id,
        tenant,
        name,
        hash_secret(secret),
        expires_at,
        orjson.dumps(rate_limit).decode() if rate_limit is not None else None,
        orjson.dumps(metadata or {}).decode(),
    )
    assert row is not None
    return row_to_key(row), format_key(key_id, secret)


async def list_keys(
    pool: Executor,
    tenant: str | None = None,
    *,
    include_revoked: bool = False,
    after: str | None = None,
    limit: int = 100,
) -> list[ApiKey]:
    rows = await pool.fetch(LIST_KEYS_SQL, tenant, include_revoked, after, limit)
    return [row_to_key(r) for r in rows]


async def revoke_key(pool: Executor, key_id: str) -> ApiKey | None:
    row = await pool.fetchrow(REVOKE_KEY_SQL, key_id)
    return row_to_key(row) if row else None


async def rotate_key(
    pool: Executor, key_id: str, grace_seconds: float = 0.0
) -> tuple[ApiKey, str] | None:
    """Give the key a new secret; None when the key is unknown or revoked."""
    secret = new_secret()
    row = await pool.fetchrow(ROTATE_KEY_SQL, key_id, hash_secret(secret), grace_seconds)
    if row is None:
        return None
    return row_to_key(row), format_key(key_id, secret)
