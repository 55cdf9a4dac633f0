"""Evidence: verify the audit chains and their signed checkpoints, export and prune them."""

from proxy.evidence.chain import BrokenLink, ChainReport, ChainVerifier, VerifyReport, verify
from proxy.evidence.database import verify_database

__all__ = [
    "BrokenLink",
    "ChainReport",
    "ChainVerifier",
    "VerifyReport",
    "verify",
    "verify_database",
]
