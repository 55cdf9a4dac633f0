"""Times as operators type them: ISO 8601 instants, or ages such as 90d, 24h, 30m."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `2w`, `45s`."""
    match = _AGE.match(text.strip())
    if not match:
        raise ValueError(f"expected an age such as 90d, 24h or 30m, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_instant(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time with a zone (a bare date means midnight UTC), or an age before now."""
    text = text.strip()
    if _AGE.match(text):
        return (now or datetime.now(UTC)) - parse_age(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time (2025-01-31T12:00:00Z) or an age (24h, 7d), got {text!r}"
        ) from None
    if when.tzinfo is None:
        if len(text) > 10:
            raise ValueError(f"{text!r} needs a time zone, e.g. ...Z or +02:00")
        when = when.replace(tzinfo=UTC)
    return when
