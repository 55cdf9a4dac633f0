"""Alert webhooks: an outbox in Postgres, signed POSTs, retries with exponential backoff.

Notifications are written in the transaction that fires or resolves an alert (`enqueue`), so
none is lost with a crashed replica, and delivered by `WebhookSender` on any replica: each
claims due rows with SKIP LOCKED and a lease, so a notification is sent by one at a time.
Delivery is at least once; receivers deduplicate on the x-warden-delivery header.

Receivers verify `x-warden-signature: t=<unix time>,v1=<hex>` where v1 is
HMAC-SHA256(secret, f"{t}." + raw body), and may refuse old timestamps (replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
import orjson

from proxy.alerts.settings import AlertSettings, Webhook, WebhookDelivery
from proxy.metrics import Metrics
from proxy.triage import severity_rank

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-warden-signature"
EVENT_HEADER = "x-warden-event"
DELIVERY_HEADER = "x-warden-delivery"
# Worth another attempt: the receiver is overloaded, restarting or throttling us.
_RETRY_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))
_CLAIM_BATCH = 20


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff_seconds(attempts: int, delivery: WebhookDelivery, jitter: float | None = None) -> float:
    """Wait before attempt `attempts + 1`: doubling from the initial wait, capped, ±20%."""
    base = delivery.initial_backoff_seconds * 2.0 ** max(attempts - 1, 0)
    spread = random.uniform(0.8, 1.2) if jitter is None else jitter
    return min(base, delivery.max_backoff_seconds) * spread


def subscribers(webhooks: Sequence[Webhook], event: str, severity: str) -> list[Webhook]:
    """The webhooks that want `event` ("fired" or "resolved") of an alert of `severity`."""
    return [
        hook
        for hook in webhooks
        if event in hook.events and severity_rank(severity) >= severity_rank(hook.min_severity)
    ]


ENQUEUE_SQL = """
INSERT INTO alert_deliveries (alert_id, event, url, payload)
SELECT $1, $2, url, $4::jsonb FROM unnest($3::text[]) AS url
"""


async def enqueue(
    conn: Any, webhooks: Sequence[Webhook], event: str, alert: Mapping[str, Any]
) -> int:
    """Queue `alert.<event>` for every subscribed webhook; in the caller's transaction."""
    urls = [hook.url for hook in subscribers(webhooks, event, alert["severity"])]
    if urls:
        payload = orjson.dumps(alert).decode()
        await conn.execute(ENQUEUE_SQL, alert["id"], f"alert.{event}", urls, payload)
    return len(urls)


# Finished notifications are kept a week for questions like "did the pager get it?".
PRUNE_FINISHED_SQL = """
DELETE FROM alert_deliveries WHERE state <> 'pending' AND created_at < now() - interval '7 days'
"""


async def prune_finished(conn: Any) -> None:
    await conn.execute(PRUNE_FINISHED_SQL)


# The lease keeps other replicas off a row while one sends it; a crash frees it when it ends.
CLAIM_DUE_SQL = """
UPDATE alert_deliveries AS d
SET attempts = d.attempts + 1, next_attempt_at = now() + $1::interval
FROM (
    SELECT id FROM alert_deliveries
    WHERE state = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
) AS due
WHERE d.id = due.id
RETURNING d.id, d.event, d.url, d.payload, d.attempts, d.created_at
"""
DELIVERED_SQL = """
UPDATE alert_deliveries SET state = 'delivered', delivered_at = now(), last_status = $2,
    last_error = NULL
WHERE id = $1
"""
RETRY_SQL = """
UPDATE alert_deliveries SET next_attempt_at = now() + $2::interval, last_status = $3,
    last_error = $4
WHERE id = $1
"""
FAILED_SQL = """
UPDATE alert_deliveries SET state = 'failed', last_status = $2, last_error = $3 WHERE id = $1
"""


class WebhookSender:
    """Sends due notifications: woken when one is queued here, polling for everyone else's."""

    def __init__(self, pool: Any, settings: AlertSettings, metrics: Metrics) -> None:
        self.pool = pool
        self.delivery = settings.delivery
        self.secrets = {hook.url: hook.secret for hook in settings.webhooks}
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.delivery.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._session = session
            while True:
                try:
                    while await self.deliver_due() == _CLAIM_BATCH:
                        pass
                except Exception:
                    # Postgres away or a bug: the rows stay pending; try again next round.
                    log.exception("alert webhooks: delivery round failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.delivery.poll_interval_seconds):
                        await self._wake.wait()

    async def deliver_due(self) -> int:
        lease = self.delivery.timeout_seconds + 5.0
        rows = await self.pool.fetch(CLAIM_DUE_SQL, _seconds(lease), _CLAIM_BATCH)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: Mapping[str, Any]) -> None:
        delivery_id, url, attempts = row["id"], row["url"], row["attempts"]
        if url not in self.secrets:
            await self._give_up(delivery_id, None, "the webhook is no longer configured")
            return
        body = orjson.dumps(
            {
                "id": str(delivery_id),
                "event": row["event"],
                "created_at": row["created_at"].isoformat(),
                "alert": orjson.loads(row["payload"]),
            }
        )
        headers = {
            "content-type": "application/json",
            "user-agent": "warden-alerts",
            EVENT_HEADER: row["event"],
            DELIVERY_HEADER: str(delivery_id),
        }
        secret = self.secrets[url]
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, int(time.time()), body)
        status, error, retry_after = await self._post(url, body, headers)
        if status is not None and 200 <= status < 300:
            await self.pool.execute(DELIVERED_SQL, delivery_id, status)
            self.metrics.webhook_deliveries.labels("delivered").inc()
            return
        retriable = status is None or status in _RETRY_STATUSES
        if not retriable or attempts >= self.delivery.max_attempts:
            await self._give_up(delivery_id, status, error)
            return
        wait = backoff_seconds(attempts, self.delivery)
        if retry_after is not None:
            wait = min(max(wait, retry_after), self.delivery.max_backoff_seconds)
        await self.pool.execute(RETRY_SQL, delivery_id, _seconds(wait), status, error)
        self.metrics.webhook_deliveries.labels("retry").inc()

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None, float | None]:
        """(status, error, Retry-After seconds); status None when nothing came back."""
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                retry_after = response.headers.get("retry-after", "")
                error = None if response.status < 300 else f"HTTP {response.status}"
                wait = (
                    float(retry_after) if retry_after.isascii() and retry_after.isdigit() else None
                )
                return response.status, error, wait
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500], None

    async def _give_up(self, delivery_id: int, status: int | None, error: str | None) -> None:
        await self.pool.execute(FAILED_SQL, delivery_id, status, error)
        self.metrics.webhook_deliveries.labels("failed").inc()
        log.warning("alert webhook delivery %s failed for good: %s", delivery_id, error)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
