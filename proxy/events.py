"""The live event feed: metadata events (decisions, incidents, alerts) shared through Redis.

Every worker and replica publishes to one Redis channel, so a console connected to any of
them sees everything. Publishing is batched off the request path, and skipped entirely while
nobody listens anywhere (checked with PUBSUB NUMSUB once a second): a feed nobody reads
costs a request nothing but one attribute check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "warden:events"
PUBLISH_INTERVAL = 0.1
LISTENER_CHECK_INTERVAL = 1.0
# A burst beyond this many unsent events drops the oldest: the feed is for eyes, not records.
MAX_PENDING = 10_000


class EventFeed:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        # True while some feed subscriber exists on any replica; refreshed by run().
        self.listening = False
        self.dropped = 0
        self._pending: list[bytes] = []

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Queue one event; never blocks, never raises. Metadata only, by contract."""
        if not self.listening:
            return
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0)
            self.dropped += 1
        self._pending.append(orjson.dumps({"type": kind, "ts": time.time(), **data}, default=str))

    def publish_change(self, kind: str, action: str, item: Mapping[str, Any]) -> None:
        """An incident or alert that changed, as the admin API shows it, under its kind:
        `{"type": "alert", "action": "fired", "tenant": …, "alert": {…}}`. Nested, because
        an alert has a `type` of its own; the tenant is repeated for the feed's filter."""
        if self.listening:
            self.publish(kind, {"action": action, "tenant": item.get("tenant"), kind: item})

    async def run(self) -> None:
        """Publish queued events in batches; notice when listeners come and go."""
        next_check = 0.0
        while True:
            now = time.monotonic()
            if now >= next_check:
                next_check = now + LISTENER_CHECK_INTERVAL
                await self._check_listeners()
            if self._pending:
                batch, self._pending = self._pending, []
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await self.client.publish(CHANNEL, b"\n".join(batch))
            await asyncio.sleep(PUBLISH_INTERVAL)

    async def _check_listeners(self) -> None:
        try:
            counts = await self.client.pubsub_numsub(CHANNEL)
        except (RedisError, OSError, TimeoutError):
            self.listening = False
            return
        self.listening = bool(counts and counts[0][1])
        if not self.listening:
            self._pending.clear()

    async def subscribe(self) -> AsyncGenerator[dict[str, Any], None]:
        """Events from every replica as they are published, until the caller stops."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(CHANNEL)
        # This replica publishes from now on, without waiting for the next listener check.
        self.listening = True
        try:
            yield {}  # subscribed: the caller can start its response
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    yield {}  # lets the caller send a keep-alive
                    continue
                for line in message["data"].split(b"\n"):
                    yield orjson.loads(line)
        finally:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await pubsub.unsubscribe(CHANNEL)
            await pubsub.aclose()  # type: ignore[no-untyped-call]
