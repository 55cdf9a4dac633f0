"""Policy rules several integration tests run with, as YAML list items."""

from __future__ import annotations

ECHO_MODELS_ONLY = """\
  - id: models.allowlist
    description: echo models only
    phase: access
    when: {model_not_in: ["echo-*"]}
    action: block
    severity: high
"""
REDACT_EMAILS = """\
  - id: pii.redact
    description: emails are hidden
    phase: content
    when: {findings: {kinds: [pii.email]}}
    action: redact
    severity: low
"""


def rules(*items: str) -> str:
    """A policy file holding `items`."""
    return "rules:\n" + "".join(items)
