"""The RateLimit stage: a request's context from the exchange, a 429 or 503 when refused."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from proxy.apikeys import ApiKey
from proxy.exchange import Exchange
from proxy.formats.segments import Segment, TooDeeplyNested, Usage
from proxy.formats.texts import TEXT_READERS
from proxy.ratelimit.admission import Admission
from proxy.ratelimit.limiter import RateLimiter
from proxy.ratelimit.plan import RequestContext
from proxy.ratelimit.settings import KeyLimits, RateLimitSettings, parse_key_limits
from proxy.replies import LocalReply

# The admission of this request, for the response headers and for settle() after the answer:
# `request[ADMISSION]`. Absent when the stage did not run (no key, e.g. a 401).
ADMISSION: Final = web.RequestKey("warden_ratelimit_admission", Admission)

# Request fields holding the most output tokens the model may write, by how common they are.
_MAX_OUTPUT_FIELDS: Final = ("max_completion_tokens", "max_tokens", "max_output_tokens")
# Operations that write no tokens back (their cost is the input alone).
_NO_OUTPUT: Final = frozenset({"embeddings", "moderations", "models", "infer"})
# Keys whose parsed limits are kept; past this many the cache starts over.
KEY_LIMITS_CACHE_SIZE: Final = 10_000


class RateLimit:
    """Stage 5: reserve in every limit that applies, or answer 429 (503 when closed and Redis
    is down). The admission goes on the request under ADMISSION."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.settings = limiter.settings
        # Decided once: with no limits anywhere, only keys with their own limits pay for this.
        self.configured = limiter.settings.configured
        # Key id -> its row's `rate_limit` and their parse. The key cache hands out the same
        # row until it reloads it, so a key's limits are parsed once per load, not per request.
        self._key_limits: dict[str, tuple[dict[str, Any], KeyLimits | None]] = {}

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        key = exchange.api_key
        if key is None or not self.limiter.settings.enabled:
            return None
        if not self.configured and key.rate_limit is None:
            return None
        context = request_context(exchange, self.settings, self._limits_of(key))
        admission = await self.limiter.reserve(context)
        exchange.request[ADMISSION] = admission
        if admission.allowed:
            return None
        return refusal(admission)

    def _limits_of(self, key: ApiKey) -> KeyLimits | None:
        raw = key.rate_limit
        if raw is None:
            return None
        cached = self._key_limits.get(key.id)
        if cached is not None and cached[0] is raw:
            return cached[1]
        if len(self._key_limits) >= KEY_LIMITS_CACHE_SIZE:
            self._key_limits.clear()
        limits = key_limits_of(raw)
        self._key_limits[key.id] = (raw, limits)
        return limits


def refusal(admission: Admission) -> LocalReply:
    denial = admission.denial
    assert denial is not None
    headers = admission.headers()
    if denial.type == "rate_limit_unavailable":
        return LocalReply(
            503, denial.message, "api_error", code="rate_limit_unavailable", headers=headers
        )
    # OpenAI's type names: the SDKs raise RateLimitError on 429 whatever the type says.
    return LocalReply(429, denial.message, denial.type, code=denial.code, headers=headers)


def request_context(
    exchange: Exchange, settings: RateLimitSettings, key_limits: KeyLimits | None
) -> RequestContext:
    """`key_limits`: the key's own, parsed (`key_limits_of`)."""
    key = exchange.api_key
    assert key is not None
    call = exchange.call
    route = exchange.route
    prompt_tokens, output_tokens = 0, 0
    if call is not None and route is not None:
        read = exchange.prompt_segments if route.format in TEXT_READERS else None
        prompt_tokens = estimate_prompt_tokens(read, len(exchange.body), settings)
        output_tokens = requested_output_tokens(call.operation, call.payload, settings)
    return RequestContext(
        tenant=key.tenant,
        key_id=key.id,
        model=call.model if call is not None else None,
        route=route.prefix if route is not None else None,
        prompt_tokens=prompt_tokens,
        max_output_tokens=output_tokens,
        key_limits=key_limits,
    )


def key_limits_of(raw: dict[str, Any] | None) -> KeyLimits | None:
    """A key row's limits; the admin API validated them, so a bad row is ignored, not fatal."""
    if raw is None:
        return None
    parsed = parse_key_limits(raw)
    return parsed if isinstance(parsed, KeyLimits) else None


def estimate_prompt_tokens(
    read: Callable[[], list[Segment]] | None, body_size: int, settings: RateLimitSettings
) -> int:
    """About chars / 4 of the text the model reads: cheap, and settle() corrects it later.

    `read()` gives the request's text segments; None for a format without a text reader.
    Only text segments count, so a base64 image does not reserve a million tokens.
    """
    if read is None:
        return math.ceil(body_size / settings.chars_per_token)
    try:
        segments = read()
    except TooDeeplyNested:
        return math.ceil(body_size / settings.chars_per_token)
    chars = sum(len(segment.text) for segment in segments)
    return math.ceil(chars / settings.chars_per_token)


def requested_output_tokens(operation: str, payload: Any, settings: RateLimitSettings) -> int:
    """The request's own output cap (times `n` choices), else the configured default."""
    if operation in _NO_OUTPUT:
        return 0
    if not isinstance(payload, dict):
        return settings.default_max_tokens
    cap = settings.default_max_tokens
    for name in _MAX_OUTPUT_FIELDS:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            cap = value
            break
    choices = payload.get("n")
    if isinstance(choices, int) and not isinstance(choices, bool) and choices > 1:
        cap *= choices
    return cap


def usage_of(exchange: Exchange, usage: Usage | None, chars_per_token: float) -> Usage | None:
    """What settle() should charge for this exchange, given the usage read from the answer.

    None (everything given back, the request too) when the model never answered: Warden replied
    itself, the upstream failed (5xx) or was unreachable, or the client left first. A 4xx used
    no tokens but still counts as a request, so that invalid requests cannot flood upstream.
    A stream is charged its reported usage; output it did not report (no usage events, or cut
    before the last one) is counted from the streamed text, as admission estimates a prompt.
    Any other answer without usage keeps the reservation as the charge (Usage() = "as
    reserved").
    """
    status = exchange.upstream_status
    # A stream blocked in buffer mode is answered with a 403, but it was read all the same.
    was_streamed = exchange.streamed or exchange.streamed_text_chars > 0
    if was_streamed and status is not None and status < 400:
        usage = usage or Usage()
        counted = math.ceil(exchange.streamed_text_chars / chars_per_token)
        if usage.output_tokens is None:
            return Usage(usage.input_tokens, counted)
        if exchange.stream_cut or exchange.client_disconnected:
            # Cut before its last usage event: an earlier count (Anthropic's message_start
            # says 0) may lag behind the text that did stream.
            return Usage(usage.input_tokens, max(usage.output_tokens, counted))
        return usage
    if usage is not None:
        return usage
    if status is None or status >= 500:
        return None
    if status >= 400:
        return Usage(0, 0)
    return Usage()


def holds_reservation(exchange: Exchange) -> bool:
    admission = exchange.request.get(ADMISSION)
    return admission is not None and admission.reservation is not None


def ratelimit_headers(request: web.BaseRequest) -> dict[str, str]:
    """x-ratelimit-* for a proxied response (an on_response_prepare hook adds these)."""
    admission = request.get(ADMISSION) if isinstance(request, web.Request) else None
    return admission.headers() if admission is not None else {}
