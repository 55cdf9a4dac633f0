"""Alerts: rules over recent traffic, evaluated periodically, deduplicated, sent to webhooks."""

from proxy.alerts.evaluator import AlertEvaluator
from proxy.alerts.settings import AlertSettings
from proxy.alerts.webhooks import WebhookSender

__all__ = ["AlertEvaluator", "AlertSettings", "WebhookSender"]
