"""GET /admin/audit: the audit rows, filtered, newest first; a JSON page or a streamed export.
GET /admin/audit/verify: the chains recomputed over a window and their signatures checked."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from proxy.admin.common import AdminInputError, admin_error, json_response, proxy_app
from proxy.admin.query import (
    decode_cursor,
    encode_cursor,
    page_limit,
    parse_choice,
    parse_time_range,
)
from proxy.audit.chained_row import COLUMNS, OPTIONAL_COLUMNS
from proxy.audit.read_back import canonical_row_from_db
from proxy.evidence import verify_database
from proxy.evidence.keyfile import trusted_public_keys
from proxy.evidence.timespec import parse_instant
from proxy.keys import AUDIT_VERIFY_LOCK, DB_POOL, SETTINGS

_COLUMN_LIST = ", ".join(COLUMNS)
_ORDER = "ORDER BY event_time DESC, writer_id DESC, seq DESC"
# Equality filters: query parameter -> column.
_EQUAL = {
    "tenant": "tenant",
    "key_id": "key_id",
    "route": "route",
    "upstream": "upstream",
    "model": "model",
    "decision": "decision",
    "request_id": "request_id",
    "session_id": "session_id",
    "writer_id": "writer_id",
}
RISK_LABELS = frozenset({"normal", "suspicious", "risky"})
_STATUS = re.compile(r"^([1-5])xx$")
_FORMATS = frozenset({"json", "ndjson", "csv"})
_MAX_PAGE = 1000
_EXPORT_BATCH = 500


class AuditQuery:
    """The WHERE clause and its arguments, built from the query string."""

    def __init__(
        self, query: Mapping[str, str], default_window: dt.timedelta | None = None
    ) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []
        for name, column in _EQUAL.items():
            value = query.get(name)
            if value:
                self._add(f"{column} = {{}}", value)
        risk_label = parse_choice(query, "risk_label", RISK_LABELS)
        if risk_label:
            self._add("risk_label = {}", risk_label)
        rule = query.get("rule")
        if rule:
            # Enforced or monitor-only: either way the rule matched this request.
            self._add("({0} = ANY(rule_ids) OR {0} = ANY(monitored_rule_ids))", rule)
        status = query.get("status")
        if status:
            self._status(status)
        since, until = parse_time_range(query, default_window)
        self.since, self.until = since, until
        if since is not None:
            self._add("event_time >= {}", since)
        if until is not None:
            self._add("event_time < {}", until)

    def _add(self, template: str, value: Any) -> None:
        self.args.append(value)
        self.conditions.append(template.format(f"${len(self.args)}"))

    def _status(self, text: str) -> None:
        status_class = _STATUS.match(text)
        if status_class:
            low = int(status_class.group(1)) * 100
            self._add("status >= {}", low)
            self._add("status < {}", low + 100)
            return
        if not (text.isascii() and text.isdigit()) or not 100 <= int(text) <= 599:
            raise AdminInputError(
                "'status' must be an HTTP status (429) or a class (5xx)", "status"
            )
        self._add("status = {}", int(text))

    def after(self, position: list[Any]) -> None:
        """Keyset pagination: rows strictly older than the last one of the previous page."""
        try:
            when, writer_id, seq = dt.datetime.fromisoformat(position[0]), position[1], position[2]
        except (TypeError, ValueError):
            raise AdminInputError("'cursor' is not one this API handed out", "cursor") from None
        self.args.extend((when, str(writer_id), int(seq)))
        n = len(self.args)
        self.conditions.append(f"(event_time, writer_id, seq) < (${n - 2}, ${n - 1}, ${n})")

    def where(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)} " if self.conditions else ""

    def sql(self, limit: int | None = None) -> str:
        where = self.where()
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        return f"SELECT {_COLUMN_LIST} FROM audit_events {where}{_ORDER}{tail}"


async def list_audit(request: web.Request) -> web.StreamResponse:
    query = request.query
    output = parse_choice(query, "format", _FORMATS, "json")
    audit = AuditQuery(query)
    if output != "json":
        return await _export(request, audit, output or "ndjson")
    limit = page_limit(query, most=_MAX_PAGE)
    position = decode_cursor(query, 3)
    if position is not None:
        audit.after(position)
    rows = await proxy_app(request)[DB_POOL].fetch(audit.sql(limit + 1), *audit.args)
    page = [public_row(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor([last["event_time"], last["writer_id"], last["seq"]])
    return json_response({"data": page, "next_cursor": next_cursor})


async def _export(request: web.Request, audit: AuditQuery, output: str) -> web.StreamResponse:
    """Every matching row, streamed from a server-side cursor: memory stays flat."""
    content_type = "application/x-ndjson" if output == "ndjson" else "text/csv"
    response = web.StreamResponse(
        headers={
            "content-type": f"{content_type}; charset=utf-8",
            "content-disposition": f'attachment; filename="warden-audit.{output}"',
        }
    )
    await response.prepare(request)
    if output == "csv":
        await response.write(_csv_line(list(COLUMNS)))
    async with proxy_app(request)[DB_POOL].acquire() as conn, conn.transaction():
        batch: list[bytes] = []
        async for record in conn.cursor(audit.sql(), *audit.args, prefetch=_EXPORT_BATCH):
            row = public_row(record)
            batch.append(orjson.dumps(row) + b"\n" if output == "ndjson" else _csv_row(row))
            if len(batch) >= _EXPORT_BATCH:
                await response.write(b"".join(batch))
                batch.clear()
        await response.write(b"".join(batch))
    await response.write_eof()
    return response


def public_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Every column, in its canonical (hashed) form; columns a row's hash leaves out while at
    their default show that default."""
    canonical = canonical_row_from_db(record)
    return {name: canonical.get(name, OPTIONAL_COLUMNS.get(name)) for name in COLUMNS}


def _csv_row(row: Mapping[str, Any]) -> bytes:
    """Lists and objects as JSON inside the cell, so a spreadsheet round-trips them."""
    cells = []
    for name in COLUMNS:
        value = row[name]
        if isinstance(value, list | dict):
            cells.append(orjson.dumps(value).decode())
        elif value is None:
            cells.append("")
        else:
            cells.append(str(value))
    return _csv_line(cells)


def _csv_line(cells: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode()


def _instant(request: web.Request, field: str) -> dt.datetime | None:
    text = request.query.get(field)
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise AdminInputError(f"'{field}': {exc}", field) from None


async def verify_audit(request: web.Request) -> web.Response:
    """GET /admin/audit/verify?since=&until=: ok, or each broken chain's first bad link.

    One verification at a time per process: it reads and hashes every row of the window.
    """
    since, until = _instant(request, "since"), _instant(request, "until")
    if since is not None and until is not None and until <= since:
        raise AdminInputError("'until' must be later than 'since'", "until")
    app = proxy_app(request)
    try:
        trusted = trusted_public_keys(app[SETTINGS])
    except ValueError as exc:
        return admin_error(503, f"cannot load the evidence keys: {exc}")
    lock = request.app[AUDIT_VERIFY_LOCK]
    if lock.locked():
        return admin_error(409, "a verification is already running; try again when it ends")
    async with lock, app[DB_POOL].acquire() as conn:
        report = await verify_database(conn, since, until, trusted)
    return json_response(
        {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "trusted_keys": sorted(trusted),
            **report.as_json(),
        }
    )


def add_routes(app: web.Application) -> None:
    app[AUDIT_VERIFY_LOCK] = asyncio.Lock()
    app.router.add_get("/admin/audit", list_audit)
    app.router.add_get("/admin/audit/verify", verify_audit)
