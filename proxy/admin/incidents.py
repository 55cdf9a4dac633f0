"""Admin API for incidents: create, list with filters and cursor, show, update, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proxy.admin.common import (
    AdminInputError,
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
from proxy.admin.query import id_cursor, page_limit, parse_time, query_choices
from proxy.incidents import store
from proxy.incidents.settings import MAX_LINKED_REQUEST_IDS
from proxy.keys import DB_POOL, EVENT_FEED, METRICS
from proxy.triage import SEVERITIES, STATUSES, Severity, Status, parse_severity, transition_error

_CREATE_FIELDS = (
    "title", "description", "severity", "tenant", "rule_id", "assignee", "request_ids",
)  # fmt: skip
_UPDATE_FIELDS = ("status", *store.EDITABLE)
_LIMITS = {"title": 200, "description": 4000, "assignee": 200, "notes": 10000}


def _title(data: dict[str, Any]) -> str:
    title = optional_string(data, "title", _LIMITS["title"])
    if title is None or not title.strip():
        raise AdminInputError("'title' is required: a non-empty string", "title")
    return title


def _severity(data: dict[str, Any]) -> Severity:
    severity = parse_severity(data.get("severity"))
    if severity is None:
        raise AdminInputError("'severity' must be one of Low, Medium, High, Critical", "severity")
    return severity


def _request_ids(data: dict[str, Any]) -> list[str]:
    ids = data.get("request_ids", [])
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_LINKED_REQUEST_IDS
        or not all(isinstance(i, str) and 0 < len(i) <= 200 for i in ids)
    ):
        raise AdminInputError(
            f"'request_ids' must be a list of at most {MAX_LINKED_REQUEST_IDS} request ids",
            "request_ids",
        )
    return ids


async def create_incident(request: web.Request) -> web.Response:
    data = await read_json_object(request)
    reject_unknown_fields(data, _CREATE_FIELDS)
    app = proxy_app(request)
    incident = await store.create_incident(
        app[DB_POOL],
        title=_title(data),
        severity=_severity(data),
        description=optional_string(data, "description", _LIMITS["description"]),
        tenant=optional_string(data, "tenant"),
        rule_id=optional_string(data, "rule_id"),
        assignee=optional_string(data, "assignee", _LIMITS["assignee"]),
        request_ids=_request_ids(data),
    )
    app[METRICS].incidents_opened.labels("manual", incident["severity"]).inc()
    app[EVENT_FEED].publish_change("incident", "opened", incident)
    return json_response(
        incident, status=201, headers={"location": f"/admin/incidents/{incident['id']}"}
    )


async def list_incidents(request: web.Request) -> web.Response:
    query = request.query
    limit = page_limit(query)
    source = query.get("source")
    if source is not None and source not in ("auto", "manual"):
        raise AdminInputError("'source' must be auto or manual", "source")
    where = store.IncidentFilter(
        statuses=query_choices(query, "status", STATUSES),
        severities=query_choices(query, "severity", SEVERITIES),
        source=source,
        tenant=query.get("tenant"),
        rule_id=query.get("rule"),
        since=parse_time(query, "since"),
        until=parse_time(query, "until"),
    )
    rows = await store.list_incidents(
        proxy_app(request)[DB_POOL], where, before_id=id_cursor(query), limit=limit + 1
    )
    return id_page(rows, limit)


async def show_incident(request: web.Request) -> web.Response:
    found = await fetch_by_path_id(request, "incident_id", store.fetch_incident)
    if found is None:
        return admin_error(404, "no such incident", "incident_id")
    return json_response(found)


def _changes(data: dict[str, Any]) -> tuple[dict[str, Any], Status | None]:
    reject_unknown_fields(data, _UPDATE_FIELDS)
    if not data:
        raise AdminInputError(f"nothing to change: send one of {', '.join(_UPDATE_FIELDS)}")
    status = data.get("status")
    if status is not None and status not in STATUSES:
        raise AdminInputError(f"'status' must be one of {', '.join(STATUSES)}", "status")
    changes: dict[str, Any] = {}
    if "title" in data:
        changes["title"] = _title(data)
    if "severity" in data:
        changes["severity"] = _severity(data)
    for name in ("description", "assignee", "notes"):
        if name in data:  # null clears the field
            changes[name] = optional_string(data, name, _LIMITS[name])
    return changes, status


async def update_incident(request: web.Request) -> web.Response:
    changes, status = _changes(await read_json_object(request))
    incident_id = path_id(request, "incident_id")
    db = proxy_app(request)[DB_POOL]
    if incident_id is None:
        return admin_error(404, "no such incident", "incident_id")
    updated = await store.update_incident(db, incident_id, changes, status)
    if updated is not None:
        incident = updated.incident
        moved = incident["status"] != updated.previous_status
        action = incident["status"] if moved else "updated"
        proxy_app(request)[EVENT_FEED].publish_change("incident", action, incident)
        return json_response(incident)
    current = await store.fetch_incident(db, incident_id)
    if current is None:
        return admin_error(404, "no such incident", "incident_id")
    assert status is not None  # only a transition can make the update match nothing
    problem = transition_error(current["status"], status)
    if problem is None:  # another administrator moved it meanwhile
        return admin_error(409, "the incident changed meanwhile; read it and retry", "status")
    return admin_error(400, problem, "status")


async def delete_incident(request: web.Request) -> web.Response:
    incident_id = path_id(request, "incident_id")
    app = proxy_app(request)
    deleted = None
    if incident_id is not None:
        deleted = await store.delete_incident(app[DB_POOL], incident_id)
    if deleted is None:
        return admin_error(404, "no such incident", "incident_id")
    app[EVENT_FEED].publish_change("incident", "deleted", deleted)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/incidents", create_incident)
    app.router.add_get("/admin/incidents", list_incidents)
    app.router.add_get("/admin/incidents/{incident_id}", show_incident)
    app.router.add_patch("/admin/incidents/{incident_id}", update_incident)
    app.router.add_delete("/admin/incidents/{incident_id}", delete_incident)
