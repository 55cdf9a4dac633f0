"""Authenticate callers by Warden API key: KeyStore (cached lookups) and the stage."""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Callable

import asyncpg

from proxy.apikeys import ApiKey, fetch_key, parse_key
from proxy.exchange import Exchange
from proxy.replies import LocalReply, unauthorized

# While Postgres is unreachable a cached key may be served this long past its TTL, so an
# outage of the key database does not take every caller down with it.
STALE_IF_ERROR_SECONDS = 300.0

# Headers a caller may carry its Warden key in: OpenAI SDKs send Authorization: Bearer,
# Anthropic's send x-api-key, Azure-style clients send api-key.
KEY_HEADERS = ("authorization", "x-api-key", "api-key")


class KeyStoreUnavailable(Exception):
    """The key database could not be asked."""


class KeyStore:
    """Keys by id from Postgres, cached in process for `ttl` seconds (hits and misses).

    Revocation therefore takes effect within `ttl` on every replica; `forget()` makes it
    immediate on the replica that served the admin call.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        ttl: float,
        max_entries: int,
        *,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.pool = pool
        self.ttl = ttl
        self.max_entries = max_entries
        # Told "stale_cache" or "unavailable" each time Postgres fails a lookup.
        self.on_failure = on_failure
        self._cache: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()

    async def get(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            key = await fetch_key(self.pool, key_id)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            stale = cached is not None and cached[0] + STALE_IF_ERROR_SECONDS > now
            if self.on_failure is not None:
                self.on_failure("stale_cache" if stale else "unavailable")
            if cached is not None and stale:
                return cached[1]
            raise KeyStoreUnavailable(str(exc)) from exc
        self._cache[key_id] = (now + self.ttl, key)
        self._cache.move_to_end(key_id)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return key

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)


class Authenticate:
    """Stage 1: a valid, unrevoked Warden key or a 401 the SDKs turn into AuthenticationError."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        headers = exchange.request.headers
        token = None
        for name in KEY_HEADERS:
            value = headers.get(name)
            if value:
                token = value[7:].strip() if value[:7].lower() == "bearer " else value.strip()
                break
        if token is None:
            return unauthorized(
                "Missing API key: send your Warden key as 'Authorization: Bearer wk_...'",
                code="missing_api_key",
            )
        parsed = parse_key(token)
        if parsed is None:
            return unauthorized("Invalid API key: not a Warden key (expected wk_...)")
        key_id, secret = parsed
        try:
            key = await self.store.get(key_id)
        except KeyStoreUnavailable:
            return LocalReply(
                503,
                "Key store unavailable; try again shortly",
                "api_error",
                code="auth_unavailable",
            )
        if key is None or not key.accepts(secret, dt.datetime.now(dt.UTC)):
            # Unknown, wrong secret, revoked and expired look alike to the caller on purpose.
            return unauthorized("Invalid API key: unknown, revoked or expired")
        exchange.api_key = key
        return None
