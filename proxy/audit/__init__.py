"""Audit: metadata-only rows, hash-chained per writer, written to Postgres without loss."""

from proxy.audit.record import AuditRecord
from proxy.audit.settings import AuditSettings
from proxy.audit.writer import AuditWriter

__all__ = ["AuditRecord", "AuditSettings", "AuditWriter"]
