"""AuditRecord: one request's metadata, built on the request path and never changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

HASH_SIZE = 32


@dataclass(slots=True)
class AuditRecord:
    """What Warden decided for one request, or what happened after it. Metadata only: no
    field can carry prompt text.

    Built on the request path, so building it does no work: strings are clamped to the
    database limits and numbers coerced to the column types by chained_row(), in the
    writer's batch, so the canonical JSON hashed there equals the one rebuilt from the row.
    A value, never changed once built; not frozen only because a frozen dataclass sets each
    of its 44 fields through object.__setattr__, which made building it 4x slower.
    """

    request_id: str
    event_time: datetime  # timezone-aware; when the request arrived
    decision: str  # allow | redact | flag | block, or a local outcome (rate_limited, error, …)
    status: int
    latency_ms: float
    tenant: str | None = None
    key_id: str | None = None
    route: str | None = None
    upstream: str | None = None
    format: str | None = None
    model: str | None = None
    monitor_action: str | None = None  # what monitor-mode rules would have done
    rule_ids: tuple[str, ...] = ()
    monitored_rule_ids: tuple[str, ...] = ()
    finding_counts: Mapping[str, int] = field(default_factory=dict)
    risk_score: float | None = None
    risk_label: str | None = None
    upstream_status: int | None = None
    streamed: bool = False
    stream_cut: bool = False
    request_bytes: int = 0
    response_bytes: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    upstream_ms: float | None = None
    overhead_ms: float | None = None
    request_sha256: bytes | None = None
    response_sha256: bytes | None = None
    policy_version: str | None = None
    session_id: str | None = None
    human_review_required: bool | None = None
    human_reviewer: str | None = None
    data_sources: tuple[str, ...] = ()
    model_version: str | None = None
    # The decision that settled the outcome: its rule and that rule's severity (0003).
    winning_rule: str | None = None
    severity: str | None = None
    # Evidence records (POST /v1/evidence): what happened after a request, linked to it.
    kind: str = "request"  # request | human_review | business_decision | session_end
    subject_request_id: str | None = None
    outcome: str | None = None
    reason: str | None = None
    reference: str | None = None
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        # Only what no clamp can repair; straight-line, since this runs on the request path.
        if self.event_time.tzinfo is None:
            raise ValueError("AuditRecord.event_time must be timezone-aware")
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise ValueError("AuditRecord.occurred_at must be timezone-aware")
        if self.request_sha256 is not None and len(self.request_sha256) != HASH_SIZE:
            raise ValueError("AuditRecord.request_sha256 must be a SHA-256 digest (32 bytes)")
        if self.response_sha256 is not None and len(self.response_sha256) != HASH_SIZE:
            raise ValueError("AuditRecord.response_sha256 must be a SHA-256 digest (32 bytes)")
