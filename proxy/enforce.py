"""Enforcement: decisions become replies, rewritten bodies and decision headers. Only here."""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.policy import ACTION_RANK, Decision, PolicyInput
from proxy.policy_store import PolicyStore
from proxy.replies import LocalReply

EXCHANGE = web.RequestKey("warden_exchange", Exchange)


def policy_violation(decision: Decision) -> LocalReply:
    """403 with `type: policy_violation` and the rule id as `code`: SDKs raise PermissionDenied."""
    rule = decision.rule_id or "default"
    return LocalReply(
        403,
        f"Blocked by policy rule '{rule}': {decision.reason}",
        "policy_violation",
        code=rule,
    )


def access_input(exchange: Exchange) -> PolicyInput:
    key, route, call = exchange.api_key, exchange.route, exchange.call
    return PolicyInput(
        tenant=key.tenant if key else "",
        route=route.prefix if route else None,
        model=call.model if call else None,
        operation=call.operation if call else None,
        payload=call.payload if call else None,
        headers=exchange.request.headers,
        body_bytes=len(exchange.body),
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


def overall_action(decisions: list[Decision]) -> str:
    if not decisions:
        return "allow"
    return max((d.action for d in decisions), key=ACTION_RANK.__getitem__)


async def add_decision_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streamed or local, carries what was decided."""
    exchange = request.get(EXCHANGE)
    if exchange is None or exchange.policy is None:
        return
    response.headers["x-warden-decision"] = overall_action(exchange.decisions)
    rules = [rule for d in exchange.decisions for rule in d.rules]
    if rules:
        response.headers["x-warden-rules"] = ",".join(dict.fromkeys(rules))
    response.headers["x-warden-policy-version"] = exchange.policy.version[:12]
