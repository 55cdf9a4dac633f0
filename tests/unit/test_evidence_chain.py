"""ChainVerifier: links, hashes, signed checkpoints, retention links and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proxy.audit.chained_row import GENESIS_HASH, chained_row, hash_row
from proxy.audit.checkpoint import Checkpoint, CheckpointSigner, trusted_keys
from proxy.audit.record import AuditRecord
from proxy.evidence.chain import ChainReport, ChainVerifier, Link
from proxy.evidence.timespec import parse_age, parse_instant

WRITER = "host-1"
START = datetime(2025, 3, 1, tzinfo=UTC)


def chain(count: int) -> list[dict[str, Any]]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        record = AuditRecord(f"req-{seq}", START + timedelta(seconds=seq), "allow", 200, 1.0)
        row = chained_row(record, WRITER, seq, prev)
        rows.append(orjson.loads(row.line))
        prev = row.row_hash
    return rows


def row_hash(row: dict[str, Any]) -> bytes:
    return bytes.fromhex(row["row_hash"])


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


def trusted_of(signer: CheckpointSigner) -> dict[str, Ed25519PublicKey]:
    return trusted_keys([Ed25519PublicKey.from_public_bytes(signer.public_key)])


def sign(signer: CheckpointSigner, row: dict[str, Any]) -> Checkpoint:
    return signer.sign(WRITER, row["seq"], row_hash(row), START)


def run(rows: list[dict[str, Any]], **options: Any) -> ChainReport:
    verifier = ChainVerifier(WRITER, **options)
    for row in rows:
        verifier.feed(row)
    return verifier.finish()


def test_an_intact_chain_with_checkpoints_verifies(signer):
    rows = chain(10)
    checkpoints = {5: sign(signer, rows[4]), 10: sign(signer, rows[9])}
    trusted = trusted_of(signer)
    report = run(rows, checkpoints=checkpoints, trusted=trusted)
    assert report.broken is None and report.start == "genesis"
    assert (report.rows, report.checkpoints, report.last_signed_seq) == (10, 2, 10)
    assert report.unsigned_rows == 0


def test_an_edited_row_breaks_its_own_hash():
    rows = chain(5)
    rows[2]["decision"] = "block"
    assert run(rows).broken.seq == 3  # type: ignore[union-attr]


def test_a_rewritten_chain_no_longer_matches_its_checkpoint(signer):
    """Edit a row and recompute every later hash: only the signature can tell."""
    rows = chain(6)
    checkpoints = {6: sign(signer, rows[5])}
    rows[1]["decision"] = "block"
    prev = bytes.fromhex(rows[0]["row_hash"])
    for row in rows[1:]:
        row["prev_hash"] = prev.hex()
        row["row_hash"] = hash_row(row).hex()
        prev = row_hash(row)
    trusted = trusted_of(signer)
    assert run(rows).broken is None  # the links alone are consistent
    broken = run(rows, checkpoints=checkpoints, trusted=trusted).broken
    assert broken is not None and broken.seq == 6 and "checkpoint" in broken.reason


def test_a_checkpoint_from_another_key_or_a_forged_signature_is_refused(signer):
    rows = chain(3)
    trusted = trusted_of(signer)
    stranger = CheckpointSigner(Ed25519PrivateKey.generate())
    report = run(rows, checkpoints={3: sign(stranger, rows[2])}, trusted=trusted)
    assert report.broken is not None and "not a trusted key" in report.broken.reason
    genuine = sign(signer, rows[2])
    forged = Checkpoint(
        genuine.writer_id,
        genuine.seq,
        genuine.row_hash,
        genuine.signed_at + timedelta(seconds=1),
        genuine.key_id,
        genuine.signature,
    )
    report = run(rows, checkpoints={3: forged}, trusted=trusted)
    assert (
        report.broken is not None and report.broken.reason == "checkpoint signature does not verify"
    )


def test_missing_rows_in_the_middle_at_the_start_and_at_the_end(signer):
    rows = chain(8)
    assert "rows 4..4 are missing" in run(rows[:3] + rows[4:]).broken.reason  # type: ignore[union-attr]
    assert "rows 1..2 are missing" in run(rows[2:]).broken.reason  # type: ignore[union-attr]
    trusted = trusted_of(signer)
    cut = run(rows[:6], checkpoints={8: sign(signer, rows[7])}, trusted=trusted)
    assert cut.broken is not None and "cut off" in cut.broken.reason
    window = run(rows[:6], checkpoints={8: sign(signer, rows[7])}, to_the_end=False)
    assert window.broken is None


def test_a_window_may_start_mid_chain_or_at_a_checkpoint(signer):
    rows = chain(8)
    report = run(rows[3:], mid_chain=True)
    assert report.broken is None and report.start == "window" and report.first_seq == 4
    trusted = trusted_of(signer)
    anchored = run(rows[3:], checkpoints={3: sign(signer, rows[2])}, trusted=trusted)
    assert anchored.broken is None and anchored.start == "checkpoint"
    rows[3]["prev_hash"] = "00" * 32
    rows[3]["row_hash"] = hash_row(rows[3]).hex()
    relinked = run(rows[3:], checkpoints={3: sign(signer, rows[2])}, trusted=trusted)
    assert relinked.broken is not None and "prev_hash" in relinked.broken.reason


def link_of(row: dict[str, Any]) -> Link:
    return Link(row["seq"], bytes.fromhex(row["prev_hash"]), row_hash(row))


def test_retention_links_anchor_the_kept_rows_and_bridge_stragglers():
    rows = chain(10)
    # Rows 1-4 and 7 were dropped with their month (7 arrived before midnight, finished late).
    kept = rows[4:6] + rows[7:]
    report = run(kept, links=[link_of(rows[3]), link_of(rows[6])])
    assert report.broken is None and report.start == "retention"
    assert report.rows == 5 and report.last_seq == 10
    gap = run(kept, links=[link_of(rows[3])])
    assert gap.broken is not None and gap.broken.seq == 8
    forged_link = Link(7, bytes(32), row_hash(rows[6]))
    assert run(kept, links=[link_of(rows[3]), forged_link]).broken is not None


def test_times_as_operators_type_them():
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert parse_age("90d") == timedelta(days=90)
    assert parse_instant("24h", now) == now - timedelta(hours=24)
    assert parse_instant("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC)
    assert parse_instant("2025-01-31T10:00:00Z").hour == 10
    for bad in ("yesterday", "2025-01-31T10:00:00", "90 days"):
        with pytest.raises(ValueError):
            parse_instant(bad)
