"""POST /v1/check: policy decisions for AI work that does not pass through the proxy."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.exchange import Exchange
from proxy.formats import Call
from proxy.formats.segments import Segment
from proxy.policy import PolicyInput
from proxy.policy.model import outcome_of
from proxy.policy_store import PolicyStore
from proxy.replies import LocalReply, bad_request
from proxy.scanning import Scanning

CHECK_PATH = "/v1/check"
_MAX_BODY = 1024 * 1024
_FIELDS = frozenset({"model", "operation", "metadata", "text"})


class ReadCheckRequest:
    """`{"model", "operation", "metadata", "text"?}`, each field checked, the culprit named."""

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        request = exchange.request
        if request.content_length is not None and request.content_length > _MAX_BODY:
            return LocalReply(413, "the check body is too large", "invalid_request_error")
        exchange.body = await request.read()
        try:
            body = orjson.loads(exchange.body)
        except orjson.JSONDecodeError as exc:
            return bad_request(f"malformed JSON body: {exc}", code="invalid_json")
        if not isinstance(body, dict):
            return bad_request("the request body must be a JSON object")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            return bad_request(f"unknown field '{unknown[0]}'", param=unknown[0])
        for field in ("model", "operation"):
            if not isinstance(body.get(field), str) or not body[field]:
                return bad_request(f"'{field}' is required and must be a string", param=field)
        if not isinstance(body.get("metadata", {}), dict):
            return bad_request("'metadata' must be an object", param="metadata")
        if not isinstance(body.get("text", ""), str):
            return bad_request("'text' must be a string", param="text")
        exchange.call = Call(body["operation"], body["model"], payload=body)
        return None


class AnswerCheck:
    """The terminal step: decide access, then content over `text`, and answer 200 either way."""

    def __init__(self, store: PolicyStore, scanning: Scanning) -> None:
        self.store = store
        self.scanning = scanning

    async def __call__(self, exchange: Exchange) -> web.StreamResponse:
        call = exchange.call
        assert call is not None and exchange.api_key is not None
        body: dict[str, Any] = call.payload
        policy = exchange.policy = self.store.active
        inp = PolicyInput(
            tenant=exchange.api_key.tenant,
            route=CHECK_PATH,
            model=call.model,
            operation=call.operation,
            payload=body,
            headers=exchange.request.headers,
            body_bytes=len(exchange.body),
            metadata=body.get("metadata") or {},
        )
        access = policy.decide("access", inp)
        exchange.decisions.append(access)
        risk_score, risk_label = 0.0, "normal"
        if not access.blocks and body.get("text"):
            segments = [Segment(("text",), body["text"])]
            scan = await self.scanning.scan_segments_off_loop(policy, segments, "content")
            exchange.prompt_scan = scan
            risk_score, risk_label = scan.risk.score, scan.risk.label
            content = policy.decide(
                "content", inp.with_findings(scan.all_findings, risk_score, risk_label)
            )
            exchange.decisions.append(content)
        outcome = outcome_of(exchange.decisions)
        answer = {
            "allowed": not outcome.blocks,
            "action": outcome.action,
            "risk_score": risk_score,
            "risk_label": risk_label,
            "reason": outcome.reason,
            "rules": [rule for d in exchange.decisions for rule in d.rules],
            "monitored": [m.rule_id for d in exchange.decisions for m in d.monitored],
            "policy_version": policy.version,
            "request_id": exchange.request_id,
        }
        return web.Response(
            body=orjson.dumps(answer),
            content_type="application/json",
            headers={"x-request-id": exchange.request_id},
        )
