"""AuditSettings: the `audit:` section of config.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from proxy.typed_yaml import SECRET

FailureMode = Literal["spool", "fail_closed"]
JournalFsync = Literal["batch", "interval", "off"]


@dataclass(frozen=True, slots=True)
class EvidenceSettings:
    """`audit.evidence`: the Ed25519 key that signs checkpoints of every writer's chain."""

    # A PEM file made by `warden keys evidence-init` (relative to the config file), or the
    # key itself from the environment (PEM, or base64 of the 32-byte seed). Neither: rows
    # are still chained, but no checkpoint is signed.
    signing_key_file: str | None = None
    signing_key: str | None = field(default=None, metadata=SECRET)
    # Sign the head after this many rows, or this long after the last checkpoint.
    checkpoint_every_rows: int = 1000
    checkpoint_interval_seconds: float = 60.0
    # Earlier keys' public halves (base64), so their checkpoints still verify after a rotation.
    trusted_public_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """`audit.retention`: prune on a schedule, as `warden audit prune --older-than` does."""

    # None: keep everything (prune by hand). Whole months older than this are dropped.
    older_than_days: int | None = None
    interval_hours: float = 24.0


@dataclass(frozen=True, slots=True)
class AuditSettings:
    enabled: bool = True
    # spool: keep serving while Postgres is down, rows wait in the journal.
    # fail_closed: the writer reports `accepting = False` while Postgres is down, and the
    # pipeline refuses new requests; rows of requests already served are journaled anyway.
    failure_mode: FailureMode = "spool"
    # Relative paths are resolved from the config file's folder. Must be a local disk: one
    # `writer-N` slot per process is claimed with flock, which network filesystems break.
    spool_dir: str = ".warden/spool"
    batch_size: int = 500
    # The longest a row waits in memory before it is journaled and sent.
    flush_interval_seconds: float = 0.2
    # Rows held in memory; when full, submit() journals them at once instead of waiting.
    queue_size: int = 10_000
    # batch: fsync the journal before each send (a row survives a power loss once sent);
    # interval: at most every journal_fsync_interval_seconds; off: leave it to the OS.
    journal_fsync: JournalFsync = "batch"
    journal_fsync_interval_seconds: float = 1.0
    journal_segment_bytes: int = 64 * 1024 * 1024
    connect_timeout_seconds: float = 3.0
    # A batch slower than this counts as a failure: Postgres is treated as down and retried.
    write_timeout_seconds: float = 5.0
    retry_max_seconds: float = 2.0
    # How long shutdown keeps trying to send what is left; the journal keeps the rest.
    shutdown_timeout_seconds: float = 5.0
    evidence: EvidenceSettings = EvidenceSettings()
    retention: RetentionSettings = RetentionSettings()


def audit_problems(audit: AuditSettings) -> list[tuple[str, str]]:
    """(path, message) for values the types alone do not rule out."""
    from proxy.audit.checkpoint import decode_public_key

    problems: list[tuple[str, str]] = []
    evidence, retention = audit.evidence, audit.retention
    if evidence.signing_key_file and evidence.signing_key:
        problems.append(
            ("audit.evidence.signing_key", "give signing_key_file or signing_key, not both")
        )
    if evidence.checkpoint_every_rows < 1:
        problems.append(("audit.evidence.checkpoint_every_rows", "must be at least 1"))
    if evidence.checkpoint_interval_seconds <= 0:
        problems.append(("audit.evidence.checkpoint_interval_seconds", "must be above 0"))
    for i, text in enumerate(evidence.trusted_public_keys):
        try:
            decode_public_key(text)
        except ValueError as exc:
            problems.append((f"audit.evidence.trusted_public_keys[{i}]", str(exc)))
    if retention.older_than_days is not None and retention.older_than_days < 1:
        problems.append(("audit.retention.older_than_days", "must be at least 1 (day)"))
    if retention.interval_hours <= 0:
        problems.append(("audit.retention.interval_hours", "must be above 0"))
    return problems
