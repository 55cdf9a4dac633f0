"""Exchange: the record of one proxied request that the stages fill in as it goes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web import Request

from proxy.formats.texts import TEXT_READERS
from proxy.ids import random_hex

if TYPE_CHECKING:
    from hashlib import _Hash

    from proxy.apikeys import ApiKey
    from proxy.formats import Call
    from proxy.formats.segments import Segment, Usage
    from proxy.ml.features import Prediction
    from proxy.ml.risk import MlRisk
    from proxy.policy import Decision, PolicySet
    from proxy.redact import Redactor
    from proxy.replies import LocalReply
    from proxy.restore import Restorer
    from proxy.routing import Route
    from proxy.scanning import TextScan

_MAX_REQUEST_ID = 128


@dataclass(slots=True, eq=False)
class Exchange:
    request: Request
    request_id: str
    started: float = field(default_factory=time.perf_counter)
    received_at: float = field(default_factory=time.time)
    api_key: ApiKey | None = None
    route: Route | None = None
    upstream_path: str = ""
    body: bytes = b""
    call: Call | None = None
    # The policy set in force when the request arrived: every phase of it uses the same one.
    policy: PolicySet | None = None
    decisions: list[Decision] = field(default_factory=list)
    prompt_scan: TextScan | None = None
    # ML routes: the model called and its inputs; the prediction's risk once answered.
    prediction: Prediction | None = None
    ml_risk: MlRisk | None = None
    response_scan: TextScan | None = None
    # Token counts the upstream reported in a streamed answer (usage events, merged).
    stream_usage: Usage | None = None
    # Characters of text the upstream streamed (before any redaction), for settling without usage.
    streamed_text_chars: int = 0
    # The whole (non-streamed) answer as sent, for its hash and usage; never logged or stored.
    response_body: bytes = b""
    # That answer as parsed by the response rules (before any redaction, which rewrites text
    # only): its usage is read from it rather than parsed again. Never logged or stored.
    response_payload: Any = None
    # SHA-256 of a streamed answer as sent, fed chunk by chunk (the body is never kept).
    response_hash: _Hash | None = None
    # Read once by the recorder, for the audit row and the rate-limit settlement.
    usage: Usage | None = None
    # Placeholders given in this request; never logged, never stored.
    redactor: Redactor | None = None
    # The prompt's placeholders that rules let the answer turn back into the original values.
    restorer: Restorer | None = None
    reply: LocalReply | None = None
    status: int = 0
    # What happened upstream; all None when Warden answered by itself.
    upstream_status: int | None = None
    upstream_started: float | None = None
    upstream_first_byte: float | None = None
    upstream_finished: float | None = None
    streamed: bool = False
    stream_cut: bool = False
    client_disconnected: bool = False
    response_bytes: int = 0
    error: str | None = None
    # The terminal wrote the exchange's audit row itself (POST /v1/evidence).
    audit_recorded: bool = False
    # What prompt_segments() read, kept: the rate limit's estimate and the scan both need it.
    _prompt_segments: list[Segment] | None = None

    @classmethod
    def begin(cls, request: web.Request) -> Exchange:
        return cls(request, request_id_for(request))

    @property
    def model(self) -> str | None:
        return self.call.model if self.call else None

    def prompt_segments(self) -> list[Segment]:
        """The request's text, read from its payload once; the call and route must be known.
        Raises TooDeeplyNested, every time it is asked, for a payload nested too deep."""
        segments = self._prompt_segments
        if segments is None:
            call, route = self.call, self.route
            assert call is not None and route is not None
            reader = TEXT_READERS[route.format]
            segments = self._prompt_segments = reader.request_segments(call.operation, call.payload)
        return segments


def request_id_for(request: web.Request) -> str:
    """Keep the caller's x-request-id when it is sane, so traces join up; otherwise make one."""
    given = request.headers.get("x-request-id", "")
    if 0 < len(given) <= _MAX_REQUEST_ID and given.isprintable() and given.isascii():
        return given
    return random_hex(16)
