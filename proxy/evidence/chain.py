"""Chain verification: one writer's rows in seq order against their links and checkpoints.

Pure: rows come in as canonical dicts (from Postgres or from a bundle), checkpoints and the
links retention kept are given up front, and the result is a report. A row is trustworthy
when its own hash holds, every link from it to a signed checkpoint holds, and that
checkpoint's signature verifies under a trusted key; rows after the last checkpoint are
linked but not yet signed (the "unsigned tail", at most one checkpoint interval long).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.audit.chained_row import GENESIS_HASH, hash_row
from proxy.audit.checkpoint import Checkpoint, signature_problem
from proxy.audit.read_back import canonical_row_from_db

# How the first row of the checked range is tied down: to the zero hash of a new chain, to
# a link kept by retention, to a signed checkpoint just before it, or to nothing (a window
# that starts mid-chain, where the first row's prev_hash is taken as it is).
Start = Literal["genesis", "retention", "checkpoint", "window"]


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Where a chain stops verifying, and why."""

    writer_id: str
    seq: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"writer_id": self.writer_id, "seq": self.seq, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Link:
    """A pruned row's place in the chain, without its content: seq and its two hashes."""

    seq: int
    prev_hash: bytes
    row_hash: bytes


@dataclass(slots=True)
class ChainReport:
    writer_id: str
    start: Start | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    rows: int = 0
    checkpoints: int = 0
    last_signed_seq: int | None = None
    broken: BrokenLink | None = None

    @property
    def unsigned_rows(self) -> int:
        """Rows after the last verified checkpoint: linked, not yet covered by a signature."""
        if self.last_seq is None:
            return 0
        signed = self.last_signed_seq if self.last_signed_seq is not None else 0
        first = self.first_seq if self.first_seq is not None else 1
        return self.last_seq - max(signed, first - 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "writer_id": self.writer_id,
            "ok": self.broken is None,
            "start": self.start,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "rows": self.rows,
            "checkpoints": self.checkpoints,
            "last_signed_seq": self.last_signed_seq,
            "unsigned_rows": self.unsigned_rows,
            "broken": self.broken.as_json() if self.broken else None,
        }


@dataclass(slots=True)
class VerifyReport:
    """Every chain in the checked range; ok when none is broken."""

    chains: list[ChainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.broken is None for c in self.chains)

    @property
    def broken(self) -> list[BrokenLink]:
        return [c.broken for c in self.chains if c.broken is not None]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "writers": len(self.chains),
            "rows": sum(c.rows for c in self.chains),
            "checkpoints": sum(c.checkpoints for c in self.chains),
            "broken": [b.as_json() for b in self.broken],
            "chains": [c.as_json() for c in self.chains],
        }


class ChainVerifier:
    """Feed one writer's rows in seq order, then call finish(); stops at the first break.

    `mid_chain` says the range was cut by a time window: a first row that is not the
    chain's first is then accepted as it is. Without it the start must be the genesis hash,
    a retention link or a checkpoint. `to_the_end` says the range runs to the chain's
    current end, so a checkpoint past the last row means rows were cut off the end.
    """

    def __init__(
        self,
        writer_id: str,
        *,
        checkpoints: Mapping[int, Checkpoint] | None = None,
        links: Iterable[Link] = (),
        trusted: Mapping[str, Ed25519PublicKey] | None = None,
        mid_chain: bool = False,
        to_the_end: bool = True,
    ) -> None:
        self.report = ChainReport(writer_id)
        self._checkpoints = checkpoints or {}
        self._links = deque(sorted(links, key=lambda link: link.seq))
        self._trusted = trusted or {}
        self._mid_chain = mid_chain
        self._to_the_end = to_the_end
        self._seq = 0
        self._prev: bytes | None = None

    def _break(self, seq: int, reason: str) -> None:
        if self.report.broken is None:
            self.report.broken = BrokenLink(self.report.writer_id, seq, reason)

    def feed_db_row(self, record: Mapping[str, Any]) -> bool:
        return self.feed(canonical_row_from_db(record))

    def feed(self, row: Mapping[str, Any]) -> bool:
        """One canonical row (row_hash included); False once the chain is broken."""
        if self.report.broken is not None:
            return False
        seq = row["seq"]
        while self._links and self._links[0].seq <= seq:
            link = self._links.popleft()
            if link.seq < seq and not self._step_link(link):
                return False
        row_hash = bytes.fromhex(row["row_hash"])
        if not self._step(seq, bytes.fromhex(row["prev_hash"]), row_hash, retention=False):
            return False
        if hash_row(row) != row_hash:
            self._break(seq, "row_hash does not match the row's fields (the row was edited)")
            return False
        self.report.rows += 1
        return self._check_checkpoint(seq, row_hash)

    def _step_link(self, link: Link) -> bool:
        return self._step(link.seq, link.prev_hash, link.row_hash, retention=True) and (
            self._check_checkpoint(link.seq, link.row_hash)
        )

    def _step(self, seq: int, prev_hash: bytes, row_hash: bytes, *, retention: bool) -> bool:
        report = self.report
        if report.start is None:
            if not self._begin(seq, retention):
                return False
        elif seq != self._seq + 1:
            if seq <= self._seq:
                self._break(seq, "seq repeats")
            else:
                self._break(seq, f"rows {self._seq + 1}..{seq - 1} are missing")
            return False
        if self._prev is not None and prev_hash != self._prev:
            self._break(seq, "prev_hash does not match the previous row")
            return False
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        self._seq, self._prev = seq, row_hash
        return True

    def _begin(self, seq: int, retention: bool) -> bool:
        """Decide what the first element's prev_hash must be."""
        before = self._checkpoints.get(seq - 1)
        if seq == 1:
            self.report.start, self._prev = "genesis", GENESIS_HASH
        elif before is not None:
            problem = signature_problem(before, self._trusted)
            if problem is not None:
                self._break(seq - 1, problem)
                return False
            self.report.start, self._prev = "checkpoint", before.row_hash
            self.report.checkpoints += 1
            self.report.last_signed_seq = seq - 1
        elif retention:
            self.report.start, self._prev = "retention", None
        elif self._mid_chain:
            self.report.start, self._prev = "window", None
        else:
            self._break(seq, f"rows 1..{seq - 1} are missing (no retention link explains them)")
            return False
        self._seq = seq - 1
        return True

    def _check_checkpoint(self, seq: int, row_hash: bytes) -> bool:
        checkpoint = self._checkpoints.get(seq)
        if checkpoint is None:
            return True
        if checkpoint.row_hash != row_hash:
            self._break(
                seq,
                "the signed checkpoint does not match this row's hash "
                "(the row or the chain before it was rewritten)",
            )
            return False
        problem = signature_problem(checkpoint, self._trusted)
        if problem is not None:
            self._break(seq, problem)
            return False
        self.report.checkpoints += 1
        self.report.last_signed_seq = seq
        return True

    def finish(self) -> ChainReport:
        """Links after the last row (pruned stragglers) and checkpoints past the end."""
        while self._links and self.report.broken is None:
            self._step_link(self._links.popleft())
        if self.report.broken is None and self._to_the_end:
            beyond = [s for s in self._checkpoints if s > self._seq]
            if beyond:
                last = max(beyond)
                self._break(
                    self._seq + 1,
                    f"rows {self._seq + 1}..{last} are missing: a signed checkpoint covers "
                    "them (the end of the chain was cut off)",
                )
        return self.report


def verify(
    rows: Iterable[Mapping[str, Any]],
    *,
    checkpoints: Mapping[int, Checkpoint] | None = None,
    trusted: Mapping[str, Ed25519PublicKey] | None = None,
) -> BrokenLink | None:
    """Check one writer's whole chain as read from audit_events (seq 1 onwards)."""
    verifier: ChainVerifier | None = None
    for record in rows:
        if verifier is None:
            verifier = ChainVerifier(record["writer_id"], checkpoints=checkpoints, trusted=trusted)
        if not verifier.feed_db_row(record):
            break
    return verifier.finish().broken if verifier is not None else None
