"""Query-string parameters every admin list shares: time ranges, page sizes, opaque cursors."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Collection, Mapping
from typing import Any

import orjson

from proxy.admin.common import AdminInputError

_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(query: Mapping[str, str], name: str) -> dt.datetime | None:
    """An ISO 8601 time with a zone, or a duration back from now (`15m`, `24h`, `7d`)."""
    text = query.get(name)
    if text is None or text == "":
        return None
    relative = _RELATIVE.match(text)
    if relative:
        seconds = int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        try:
            return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
        except OverflowError:  # 999999d is before year 1
            raise AdminInputError(f"'{name}' reaches back before year 1", name) from None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AdminInputError(
            f"'{name}' must be an ISO 8601 time (2026-01-31T12:00:00Z) or a duration "
            "back from now (15m, 24h, 7d)",
            name,
        ) from None
    if when.tzinfo is None:
        raise AdminInputError(f"'{name}' needs a time zone (e.g. ...Z)", name)
    return when


def parse_time_range(
    query: Mapping[str, str], default_since: dt.timedelta | None = None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    since, until = parse_time(query, "since"), parse_time(query, "until")
    if since is None and default_since is not None:
        try:
            since = (until or dt.datetime.now(dt.UTC)) - default_since
        except OverflowError:
            raise AdminInputError("'until' is too early for the default window", "until") from None
    if since is not None and until is not None and until <= since:
        raise AdminInputError("'until' must be later than 'since'", "until")
    return since, until


def parse_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise AdminInputError(f"'{name}' must be an integer", name) from None
    if not low <= value <= high:
        raise AdminInputError(f"'{name}' must be between {low} and {high}", name)
    return value


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_bool(query: Mapping[str, str], name: str, *, default: bool) -> bool:
    text = query.get(name)
    if text is None:
        return default
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise AdminInputError(f"'{name}' must be true or false", name)


def parse_choice(
    query: Mapping[str, str], name: str, choices: Collection[str], default: str | None = None
) -> str | None:
    value = query.get(name, default)
    if value is not None and value not in choices:
        listed = ", ".join(sorted(choices))
        raise AdminInputError(f"'{name}' must be one of: {listed}", name)
    return value


def encode_cursor(position: list[Any]) -> str:
    """Where the next page starts, opaque to clients (they only pass it back)."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str], size: int) -> list[Any] | None:
    text = query.get("cursor")
    if not text:
        return None
    try:
        position = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        position = None
    if not isinstance(position, list) or len(position) != size:
        raise AdminInputError("'cursor' is not one this API handed out", "cursor")
    return position


MAX_PAGE = 500


def page_limit(query: Mapping[str, str], default: int = 100, most: int = MAX_PAGE) -> int:
    return parse_int(query, "limit", default, 1, most)


def id_cursor(query: Mapping[str, str]) -> int | None:
    """The `cursor` of an id-ordered page: the last id the previous page showed."""
    text = query.get("cursor")
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit() and len(text) < 19):
        raise AdminInputError("'cursor' must be a next_cursor value from a previous page", "cursor")
    return int(text)


def query_choices(
    query: Mapping[str, str], field: str, allowed: Collection[str]
) -> list[str] | None:
    """A comma-separated list of known values (`status=open,acknowledged`), lower-cased."""
    text = query.get(field)
    if not text:
        return None
    values = [v.strip().lower() for v in text.split(",") if v.strip()]
    for value in values:
        if value not in allowed:
            raise AdminInputError(
                f"'{field}' must be one or more of {', '.join(allowed)} (comma-separated)", field
            )
    return values or None
