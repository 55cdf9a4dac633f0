"""Checkpoints: a writer's Ed25519 signature over its chain head, and how to check one."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from proxy.audit.chained_row import canonical_json

# Domain separation: a checkpoint signature can never be mistaken for (or replayed as) a
# signature over anything else made with the same key.
CHECKPOINT_TYPE = "warden.audit.checkpoint.v1"


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_key: bytes) -> str:
    """A short, stable name for a public key, stored with every checkpoint it signs."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def encode_public_key(public_key: bytes) -> str:
    return base64.b64encode(public_key).decode()


def decode_public_key(text: str) -> Ed25519PublicKey:
    """A public key as `warden keys evidence-init` prints it: base64 of the 32 raw bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError("expected an Ed25519 public key: base64 of 32 bytes") from exc


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Row `seq` of chain `writer_id` has `row_hash`, signed by `key_id` at `signed_at`."""

    writer_id: str
    seq: int
    row_hash: bytes
    signed_at: datetime
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(
            self.writer_id, self.seq, self.row_hash, self.signed_at, self.key_id
        )

    def as_json(self) -> dict[str, Any]:
        """The bundle's form: hex for bytes, ISO-8601 UTC with microseconds for the time."""
        return {
            "writer_id": self.writer_id,
            "seq": self.seq,
            "row_hash": self.row_hash.hex(),
            "signed_at": self.signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(
            writer_id=str(data["writer_id"]),
            seq=int(data["seq"]),
            row_hash=bytes.fromhex(data["row_hash"]),
            signed_at=datetime.fromisoformat(data["signed_at"]),
            key_id=str(data["key_id"]),
            signature=bytes.fromhex(data["signature"]),
        )

    @classmethod
    def from_db(cls, record: Mapping[str, Any]) -> Checkpoint:
        return cls(
            writer_id=record["writer_id"],
            seq=record["seq"],
            row_hash=bytes(record["row_hash"]),
            signed_at=record["signed_at"],
            key_id=record["key_id"],
            signature=bytes(record["signature"]),
        )


def checkpoint_message(
    writer_id: str, seq: int, row_hash: bytes, signed_at: datetime, key_id: str
) -> bytes:
    """The bytes signed: canonical JSON, the same rules as the rows' (keys sorted, no spaces)."""
    return canonical_json(
        {
            "type": CHECKPOINT_TYPE,
            "writer_id": writer_id,
            "seq": seq,
            "row_hash": row_hash.hex(),
            "signed_at": signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "key_id": key_id,
        }
    )


class CheckpointSigner:
    """Holds the private key; the writer asks it to sign its chain head now and then."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = public_key_bytes(private_key.public_key())
        self.key_id = key_id_of(self.public_key)

    def sign(self, writer_id: str, seq: int, row_hash: bytes, at: datetime) -> Checkpoint:
        signed_at = at.astimezone(UTC)  # microseconds, as Postgres keeps them
        message = checkpoint_message(writer_id, seq, row_hash, signed_at, self.key_id)
        return Checkpoint(writer_id, seq, row_hash, signed_at, self.key_id, self._key.sign(message))


def signature_problem(
    checkpoint: Checkpoint, trusted: Mapping[str, Ed25519PublicKey]
) -> str | None:
    """None when a trusted key made this signature; otherwise why not, for the report."""
    public_key = trusted.get(checkpoint.key_id)
    if public_key is None:
        known = ", ".join(sorted(trusted)) or "none configured"
        return f"checkpoint signed by {checkpoint.key_id}, not a trusted key ({known})"
    try:
        public_key.verify(checkpoint.signature, checkpoint.message())
    except InvalidSignature:
        return "checkpoint signature does not verify"
    return None


def trusted_keys(public_keys: list[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    return {key_id_of(public_key_bytes(k)): k for k in public_keys}


class CheckpointSchedule:
    """When a writer signs its chain: at every `every_rows`-th row, and at the head once rows
    have waited `interval_seconds` since the last checkpoint (then even while idle)."""

    def __init__(self, signer: CheckpointSigner, every_rows: int, interval_seconds: float) -> None:
        self.signer = signer
        self.every_rows = every_rows
        self.interval_seconds = interval_seconds
        self.unsigned_rows = 0
        self.last_at = time.monotonic()
        self.written = 0

    def _overdue(self) -> bool:
        return time.monotonic() >= self.last_at + self.interval_seconds

    def over(self, writer_id: str, rows: Sequence[Signable]) -> list[Checkpoint]:
        """The checkpoints to store with this batch: the rows that end an interval of
        every_rows, or the last row when the time is up."""
        if not rows:
            return []
        first = max(self.every_rows - self.unsigned_rows - 1, 0)
        picks = list(range(first, len(rows), self.every_rows))
        if not picks and self._overdue():
            picks = [len(rows) - 1]
        now = datetime.now(UTC)
        return [self.signer.sign(writer_id, rows[i].seq, rows[i].row_hash, now) for i in picks]

    def idle_head(
        self, writer_id: str, seq: int, row_hash: bytes, *, final: bool
    ) -> Checkpoint | None:
        """A checkpoint over the head alone: rows stored unsigned for too long (or at exit)."""
        if not self.unsigned_rows or not (final or self._overdue()):
            return None
        return self.signer.sign(writer_id, seq, row_hash, datetime.now(UTC))

    def deadline(self) -> float | None:
        """When an idle writer should sign what it stored; None when nothing is unsigned."""
        return self.last_at + self.interval_seconds if self.unsigned_rows else None

    def stored(self, last_seq: int, rows: int, checkpoints: Sequence[Checkpoint]) -> None:
        """Rows up to last_seq, and these checkpoints over them, are in Postgres."""
        if checkpoints:
            self.unsigned_rows = last_seq - checkpoints[-1].seq
            self.last_at = time.monotonic()
            self.written += len(checkpoints)
        else:
            self.unsigned_rows += rows


class Signable(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def row_hash(self) -> bytes: ...
