"""Admin API for alerts: list with filters and cursor, show, acknowledge, resolve."""

from __future__ import annotations

from aiohttp import web

from proxy.admin.common import (
    admin_error,
    fetch_by_path_id,
    id_page,
    json_response,
    optional_string,
    path_id,
    proxy_app,
    read_json_object,
    reject_unknown_fields,
)
from proxy.admin.query import id_cursor, page_limit, parse_bool, parse_time, query_choices
from proxy.alerts import store
from proxy.alerts.rules import ALERT_TYPES
from proxy.alerts.webhooks import enqueue
from proxy.keys import DB_POOL, EVENT_FEED, METRICS, SETTINGS, WEBHOOK_SENDER
from proxy.triage import SEVERITIES, STATUSES


async def list_alerts(request: web.Request) -> web.Response:
    query = request.query
    limit = page_limit(query)
    statuses = query_choices(query, "status", STATUSES)
    if query.get("resolved") is not None:
        # `resolved=false` is the common question: what is still going on.
        wanted = parse_bool(query, "resolved", default=False)
        statuses = [s for s in statuses or STATUSES if (s == "resolved") == wanted]
    where = store.AlertFilter(
        statuses=statuses,
        severities=query_choices(query, "severity", SEVERITIES),
        types=query_choices(query, "type", ALERT_TYPES),
        tenant=query.get("tenant"),
        model=query.get("model"),
        since=parse_time(query, "since"),
        until=parse_time(query, "until"),
    )
    rows = await store.list_alerts(
        proxy_app(request)[DB_POOL], where, before_id=id_cursor(query), limit=limit + 1
    )
    return id_page(rows, limit)


async def show_alert(request: web.Request) -> web.Response:
    found = await fetch_by_path_id(request, "alert_id", store.fetch_alert)
    if found is None:
        return admin_error(404, "no such alert", "alert_id")
    return json_response(found)


async def _who(request: web.Request) -> str | None:
    data = await read_json_object(request)
    reject_unknown_fields(data, ("by",))
    return optional_string(data, "by")


async def acknowledge_alert(request: web.Request) -> web.Response:
    by = await _who(request)
    alert_id = path_id(request, "alert_id")
    db = proxy_app(request)[DB_POOL]
    if alert_id is None:
        return admin_error(404, "no such alert", "alert_id")
    acknowledged = await store.acknowledge(db, alert_id, by)
    if acknowledged is not None:
        proxy_app(request)[EVENT_FEED].publish_change("alert", "acknowledged", acknowledged)
        return json_response(acknowledged)
    current = await store.fetch_alert(db, alert_id)
    if current is None:
        return admin_error(404, "no such alert", "alert_id")
    if current["status"] == "resolved":
        return admin_error(409, "the alert is resolved; it cannot be acknowledged", "status")
    return json_response(current)  # already acknowledged: nothing changes


async def resolve_alert(request: web.Request) -> web.Response:
    by = await _who(request) or "admin"
    alert_id = path_id(request, "alert_id")
    app = proxy_app(request)
    if alert_id is None:
        return admin_error(404, "no such alert", "alert_id")
    async with app[DB_POOL].acquire() as conn, conn.transaction():
        resolved = await store.resolve(conn, alert_id, by)
        queued = 0
        if resolved is not None:
            webhooks = app[SETTINGS].alerts.webhooks
            queued = await enqueue(conn, webhooks, "resolved", resolved)
    if resolved is None:
        current = await store.fetch_alert(app[DB_POOL], alert_id)
        if current is None:
            return admin_error(404, "no such alert", "alert_id")
        return json_response(current)  # already resolved: nothing changes
    app[METRICS].alerts_resolved.labels(resolved["type"], "admin").inc()
    app[EVENT_FEED].publish_change("alert", "resolved", resolved)
    sender = app.get(WEBHOOK_SENDER)
    if queued and sender is not None:
        sender.wake()
    return json_response(resolved)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/alerts", list_alerts)
    app.router.add_get("/admin/alerts/{alert_id}", show_alert)
    app.router.add_post("/admin/alerts/{alert_id}/acknowledge", acknowledge_alert)
    app.router.add_post("/admin/alerts/{alert_id}/resolve", resolve_alert)
