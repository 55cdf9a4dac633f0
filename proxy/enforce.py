"""Enforcement: decisions become replies, rewritten bodies and decision headers. Only here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from proxy.exchange import Exchange
from proxy.formats import Call
from proxy.formats.rewrite import KeyCollision, replace_segments
from proxy.formats.segments import KEY, JsonPath, Segment
from proxy.formats.texts import TEXT_READERS
from proxy.policy import Decision, PolicyInput
from proxy.policy.conditions import glob_matcher
from proxy.policy.model import most_severe
from proxy.policy_store import PolicyStore
from proxy.redact import KindPredicate, Redactor
from proxy.replies import LocalReply
from proxy.restore import Restorer
from proxy.scanners import Finding
from proxy.scanning import Scanning, TextScan

if TYPE_CHECKING:
    from proxy.ml.risk import MlRisk

EXCHANGE = web.RequestKey("warden_exchange", Exchange)


def policy_violation(decision: Decision, detail: str = "") -> LocalReply:
    """403 with `type: policy_violation` and the rule id as `code`: SDKs raise PermissionDenied.

    A broken input contract is the caller's input error instead: 400 naming the feature.
    """
    rule = decision.rule_id or "default"
    violation = decision.violation
    if violation is not None:
        return LocalReply(
            400,
            f"Input contract '{rule}': {violation.message}",
            "invalid_request_error",
            code="contract_violation",
            param=violation.param,
        )
    return LocalReply(
        403,
        f"Blocked by policy rule '{rule}': {decision.reason}{detail}",
        "policy_violation",
        code=rule,
    )


# A redacted object key that would take another key's name cannot be sent without losing data.
_KEY_COLLISION = " (a redacted object key would replace another key of the same object)"


def access_input(exchange: Exchange, scan: TextScan | None = None) -> PolicyInput:
    """What rules see of the exchange; content and response rules also what `scan` found."""
    key, route, call = exchange.api_key, exchange.route, exchange.call
    if scan is None:
        findings: Sequence[Finding] = ()
        risk_score, risk_label = 0.0, "normal"
    else:
        findings, risk_score, risk_label = scan.all_findings, scan.risk.score, scan.risk.label
    return PolicyInput(
        tenant=key.tenant if key else "",
        route=route.prefix if route else None,
        model=call.model if call else None,
        operation=call.operation if call else None,
        payload=call.payload if call else None,
        headers=exchange.request.headers,
        body_bytes=len(exchange.body),
        findings=findings,
        risk_score=risk_score,
        risk_label=risk_label,
        prediction=exchange.prediction,
        ml_risk=exchange.ml_risk,
    )


class CheckAccess:
    """Stage 4: access rules (models, parameters, headers, fields) before any other work."""

    def __init__(self, store: PolicyStore) -> None:
        self.store = store

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        policy = exchange.policy = self.store.active
        decision = policy.decide("access", access_input(exchange))
        exchange.decisions.append(decision)
        if decision.blocks:
            return policy_violation(decision)
        return None


class EnforceContent:
    """Stage 7: content rules over what ScanPrompt found: block, redact the body, or flag."""

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        scan, policy = exchange.prompt_scan, exchange.policy
        if scan is None or policy is None:
            return None
        decision = policy.decide("content", access_input(exchange, scan))
        exchange.decisions.append(decision)
        if decision.blocks:
            return policy_violation(decision)
        if decision.action == "redact":
            return redact_request(exchange, decision)
        return None


def redact_request(exchange: Exchange, decision: Decision) -> LocalReply | None:
    """Rewrite the body with placeholders for the findings the redact rules named, and keep
    the ones restore rules named for the answer."""
    scan, call = exchange.prompt_scan, exchange.call
    assert scan is not None and call is not None
    restorable = glob_matcher(decision.restore_kinds) if decision.restore_kinds else None
    replacements = _redactions(exchange, scan, decision, restorable)
    if not replacements:
        return None
    try:
        payload = replace_segments(call.payload, replacements)
    except KeyCollision:
        return policy_violation(decision, _KEY_COLLISION)
    exchange.call = Call(call.operation, call.model, call.stream, payload)
    exchange.body = orjson.dumps(payload)
    if restorable is not None and exchange.redactor is not None:
        exchange.restorer = exchange.redactor.restorer()
    return None


# A prediction's ML risk from the parsed answer (proxy.ml.scoring.PredictionScorer).
ScorePrediction = Callable[[Exchange, Any], "MlRisk | None"]


class EnforceResponse:
    """Response rules over a whole (non-streamed) answer, before a byte of it is sent.

    Returns the body to send (rewritten when redacted) or a 403 LocalReply on block. A
    prediction's answer is scored for ML risk first, so response rules can act on it.
    """

    def __init__(self, scanning: Scanning, score_prediction: ScorePrediction | None = None) -> None:
        self.scanning = scanning
        self.score_prediction = score_prediction

    async def __call__(self, exchange: Exchange, status: int, body: bytes) -> bytes | LocalReply:
        policy, call, route = exchange.policy, exchange.call, exchange.route
        if policy is None or call is None or route is None or not 200 <= status < 300 or not body:
            return body
        scoring = exchange.prediction is not None and self.score_prediction is not None
        deciding, restorer = policy.decides("response"), exchange.restorer
        if not scoring and not deciding and restorer is None:
            return body
        try:
            payload = exchange.response_payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # not JSON: nothing a format reader can find text in
        if scoring and self.score_prediction is not None:
            exchange.ml_risk = self.score_prediction(exchange, payload)
        # Rules on a prediction's ML risk alone read no answer text: nothing to scan for them.
        scans = policy.scans("response")
        segments = []
        if scans or restorer is not None:
            segments = TEXT_READERS[route.format].response_segments(call.operation, payload)
        replacements: dict[JsonPath, str] = {}
        checked: Any = payload
        if deciding:
            scanned = segments if scans else []
            scan = await self.scanning.scan_segments_off_loop(policy, scanned, "response")
            exchange.response_scan = scan
            decision = policy.decide("response", access_input(exchange, scan))
            exchange.decisions.append(decision)
            if decision.blocks:
                return policy_violation(decision)
            if decision.action == "redact":
                replacements = _redactions(exchange, scan, decision)
                try:
                    checked = replace_segments(payload, replacements)
                except KeyCollision:
                    return policy_violation(decision, _KEY_COLLISION)
        if restorer is not None:
            # After the answer's own redaction: its new placeholders are not the prompt's.
            replacements = _restored(restorer, segments, replacements)
            checked = _replace_keys_if_possible(payload, replacements)
        if not replacements:
            return body
        return orjson.dumps(checked)


def _redactions(
    exchange: Exchange,
    scan: TextScan,
    decision: Decision,
    restorable: KindPredicate | None = None,
) -> dict[JsonPath, str]:
    """Placeholders for the findings the redact rules named; one mapping per request."""
    wanted = glob_matcher(decision.redact_kinds)
    redactor = exchange.redactor = exchange.redactor or Redactor()
    replacements: dict[JsonPath, str] = {}
    for segment, findings in zip(scan.segments, scan.findings, strict=True):
        chosen = [f for f in findings if wanted(f.kind)]
        if chosen:
            replacements[segment.path] = redactor.redact(segment.text, chosen, restorable)
    return replacements


def _restored(
    restorer: Restorer, segments: list[Segment], replacements: dict[JsonPath, str]
) -> dict[JsonPath, str]:
    """`replacements` plus the segments whose (possibly redacted) text had placeholders."""
    restored = dict(replacements)
    for segment in segments:
        text = replacements.get(segment.path, segment.text)
        back = restorer.restore(text)
        if back != text:
            restored[segment.path] = back
    return restored


def _replace_keys_if_possible(payload: Any, replacements: dict[JsonPath, str]) -> Any:
    """Restored keys that would collide with another key keep their placeholder."""
    try:
        return replace_segments(payload, replacements)
    except KeyCollision:
        values = {p: t for p, t in replacements.items() if not _is_key_path(p)}
        return replace_segments(payload, values)


def _is_key_path(path: JsonPath) -> bool:
    return len(path) >= 2 and isinstance(path[-2], int) and path[-2] == KEY


def overall_action(decisions: list[Decision]) -> str:
    return most_severe(d.action for d in decisions)


def add_decision_headers(exchange: Exchange, headers: CIMultiDict[str]) -> None:
    """Every response, streamed or local, carries what was decided (on_response_prepare)."""
    if exchange.policy is None:
        return
    headers["x-warden-decision"] = overall_action(exchange.decisions)
    rules = [rule for d in exchange.decisions for rule in d.rules]
    if rules:
        headers["x-warden-rules"] = ",".join(dict.fromkeys(rules))
    headers["x-warden-policy-version"] = exchange.policy.version[:12]
    if exchange.ml_risk is not None:
        headers["x-warden-ml-risk"] = f"{exchange.ml_risk.score:.4f}"
        headers["x-warden-ml-risk-label"] = exchange.ml_risk.label
