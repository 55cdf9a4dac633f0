"""The request log line: JsonFormatter's shape, written in whole lines."""

from __future__ import annotations

import os

import orjson
import pytest

from proxy.logs import REQUEST_LOGGER, RequestLog, _ms


def lines_written(*entries: dict[str, object]) -> list[bytes]:
    read, write = os.pipe()
    log = RequestLog(write)
    for fields in entries:
        log.write(fields)
    log.flush()
    os.close(write)
    with os.fdopen(read, "rb") as out:
        return out.read().splitlines()


def test_a_line_is_the_fixed_fields_then_the_request_fields() -> None:
    lines = lines_written({"request_id": "r1", "status": 200, "model": None}, {})
    first, empty = (orjson.loads(line) for line in lines)
    assert list(first) == ["ts", "level", "logger", "msg", "request_id", "status", "model"]
    assert first["level"] == "info" and first["logger"] == REQUEST_LOGGER
    assert first["msg"] == "request" and first["request_id"] == "r1" and first["model"] is None
    assert round(first["ts"], 3) == first["ts"]
    assert list(empty) == ["ts", "level", "logger", "msg"]


@pytest.mark.parametrize("seconds", [0.0, 0.0001234, 0.0031, 0.12345649, 1.5, 2.0004996, 86400.1])
def test_milliseconds_to_the_microsecond(seconds: float) -> None:
    assert _ms(seconds) == round(seconds * 1000, 3)
