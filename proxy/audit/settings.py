"""AuditSettings: the `audit:` section of config.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureMode = Literal["spool", "fail_closed"]
JournalFsync = Literal["batch", "interval", "off"]


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
