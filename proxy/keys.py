"""Every typed application key, and nothing else."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import redis.asyncio as redis
from aiohttp import web

from proxy.alerts import AlertEvaluator, WebhookSender
from proxy.audit import AuditWriter
from proxy.audit.checkpoint import CheckpointSigner
from proxy.auth import KeyStore
from proxy.config import Settings
from proxy.events import EventFeed
from proxy.incidents.notices import IncidentNotices
from proxy.logs import RequestLog
from proxy.metrics import Metrics
from proxy.ml.observer import ModelObserver
from proxy.ml.registry import ModelRegistry
from proxy.pipeline import ProxyHandler
from proxy.policy_store import PolicyStore
from proxy.ratelimit import RateLimiter
from proxy.routing import RouteTable
from proxy.scanning import Scanning
from proxy.settlement import Settlements

SETTINGS = web.AppKey("settings", Settings)
ROUTES = web.AppKey("routes", RouteTable)
METRICS = web.AppKey("metrics", Metrics)
DB_POOL: web.AppKey[asyncpg.Pool] = web.AppKey("db_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", redis.Redis)
KEY_STORE = web.AppKey("key_store", KeyStore)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
PROXY_HANDLER = web.AppKey("proxy_handler", ProxyHandler)
CHECK_HANDLER = web.AppKey("check_handler", ProxyHandler)
EVIDENCE_HANDLER = web.AppKey("evidence_handler", ProxyHandler)
REQUEST_LOG = web.AppKey("request_log", RequestLog)
POLICIES = web.AppKey("policies", PolicyStore)
POLICY_SCAN = web.AppKey("policy_scan", Scanning)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
SETTLEMENTS = web.AppKey("settlements", Settlements)
AUDIT_WRITER = web.AppKey("audit_writer", AuditWriter)
EVENT_FEED = web.AppKey("event_feed", EventFeed)
# Set when a stop begins: /readyz answers 503 so load balancers move traffic elsewhere.
DRAINING = web.AppKey("draining", asyncio.Event)
ALERT_EVALUATOR = web.AppKey("alert_evaluator", AlertEvaluator)
WEBHOOK_SENDER = web.AppKey("webhook_sender", WebhookSender)
MODEL_OBSERVER = web.AppKey("model_observer", ModelObserver)
MODEL_REGISTRY = web.AppKey("model_registry", ModelRegistry)
INCIDENT_NOTICES = web.AppKey("incident_notices", IncidentNotices)
# Set only when audit.evidence configures a key.
EVIDENCE_SIGNER = web.AppKey("evidence_signer", CheckpointSigner)
# One audit verification at a time on the admin listener: it hashes every row of its window.
AUDIT_VERIFY_LOCK = web.AppKey("audit_verify_lock", asyncio.Lock)
# The admin app reads shared state (pools, key store, metrics) from the proxy app it serves.
PROXY_APP = web.AppKey("proxy_app", web.Application)
