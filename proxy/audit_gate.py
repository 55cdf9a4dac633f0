"""RequireAudit: with `audit.failure_mode: fail_closed`, no request is served unrecorded."""

from __future__ import annotations

from proxy.audit import AuditWriter
from proxy.exchange import Exchange
from proxy.replies import LocalReply


class RequireAudit:
    """Stage 0 (only in fail_closed mode): 503 while the audit cannot be written."""

    def __init__(self, writer: AuditWriter) -> None:
        self.writer = writer

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        if self.writer.accepting:
            return None
        return LocalReply(
            503,
            "The audit log cannot be written right now, and this deployment refuses requests "
            "it cannot record (audit.failure_mode: fail_closed). Try again shortly.",
            "api_error",
            code="audit_unavailable",
            headers={"retry-after": "5"},
        )
