"""Evidence bundles: a window of the audit chains in one zip, for auditors to check offline.

`warden audit verify` checks one with bundle_check.py, without a database.

Members (all UTF-8):
- `rows.ndjson`: one row per line, grouped by writer in seq order, in canonical form: keys
  sorted, no whitespace, times ISO-8601 UTC with microseconds, bytes as hex. A row's
  row_hash is SHA-256 of that line with the row_hash member removed; its prev_hash is
  the previous row's row_hash. Each writer's rows run past `until` to the next checkpoint,
  so every exported row is covered by a signature.
- `checkpoints.ndjson`: {writer_id, seq, row_hash, signed_at, key_id, signature}; the
  Ed25519 signature is over the canonical JSON of the other fields plus
  "type": "warden.audit.checkpoint.v1".
- `links.ndjson`: {writer_id, seq, prev_hash, row_hash} of rows retention dropped that the
  exported rows still point at.
- `public_keys.json`: [{key_id, public_key (base64 of the 32 raw bytes)}].
- `manifest.json`: the window, each writer's seq range, and SHA-256 and size of every
  other member.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.audit.chained_row import canonical_json
from proxy.audit.checkpoint import encode_public_key, public_key_bytes
from proxy.audit.read_back import canonical_row_from_db
from proxy.evidence.chain import Link
from proxy.evidence.database import (
    ChainWindow,
    chain_rows,
    chain_windows,
    checkpoints_of,
    links_of,
)

BUNDLE_FORMAT = "warden.evidence-bundle"
BUNDLE_VERSION = 1
MEMBERS = ("rows.ndjson", "checkpoints.ndjson", "links.ndjson", "public_keys.json")
NEXT_CHECKPOINT_SQL = "SELECT min(seq) FROM audit_checkpoints WHERE writer_id = $1 AND seq >= $2"


class _HashingWriter:
    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.digest, self.size, self.lines = out, hashlib.sha256(), 0, 0

    def line(self, data: bytes) -> None:
        data += b"\n"
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.lines += 1

    def summary(self) -> dict[str, Any]:
        return {"sha256": self.digest.hexdigest(), "bytes": self.size, "lines": self.lines}


@dataclass(slots=True)
class ExportSummary:
    path: Path
    writers: int = 0
    rows: int = 0
    checkpoints: int = 0
    links: int = 0
    sha256: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "bundle": str(self.path),
            "writers": self.writers,
            "rows": self.rows,
            "checkpoints": self.checkpoints,
            "links": self.links,
            "sha256": self.sha256,
        }


async def export_bundle(
    conn: Any,
    path: Path,
    since: datetime | None,
    until: datetime | None,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> ExportSummary:
    """Write the window's chains to `path` (atomically: a temp file renamed at the end).

    Rows stream from a server-side cursor straight into the zip; only the small tables
    (checkpoints, links) are held in memory until their members are written.
    """
    summary = ExportSummary(path)
    tmp = path.with_name(path.name + ".partial")
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "writers": [],
        "files": {},
    }
    checkpoints: list[bytes] = []
    links: list[bytes] = []
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            with bundle.open("rows.ndjson", "w", force_zip64=True) as member:
                rows_out = _HashingWriter(member)
                for window in await chain_windows(conn, since, until):
                    last = await _signed_end(conn, window)
                    described = {**window.as_json(), "exported_last_seq": last}
                    async with conn.transaction(readonly=True):
                        async for chunk in chain_rows(
                            conn, window.writer_id, window.first_seq, last
                        ):
                            for record in chunk:
                                row = canonical_row_from_db(record)
                                rows_out.line(canonical_json(row))
                    described["rows"] = rows_out.lines - summary.rows
                    summary.rows = rows_out.lines
                    manifest["writers"].append(described)
                    for c in await checkpoints_of(conn, window, last):
                        checkpoints.append(orjson.dumps(c.as_json(), option=orjson.OPT_SORT_KEYS))
                    for link in await links_of(conn, window, last):
                        links.append(_link_line(window.writer_id, link))
                manifest["files"]["rows.ndjson"] = rows_out.summary()
            keys = [
                {"key_id": key_id, "public_key": encode_public_key(public_key_bytes(k))}
                for key_id, k in sorted(public_keys.items())
            ]
            for name, lines in (("checkpoints.ndjson", checkpoints), ("links.ndjson", links)):
                manifest["files"][name] = _write_member(bundle, name, lines)
            manifest["files"]["public_keys.json"] = _write_member(
                bundle, "public_keys.json", [orjson.dumps(keys, option=orjson.OPT_INDENT_2)]
            )
            bundle.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    summary.writers, summary.checkpoints, summary.links = (
        len(manifest["writers"]),
        len(checkpoints),
        len(links),
    )
    summary.sha256 = _file_sha256(path)
    return summary


async def _signed_end(conn: Any, window: ChainWindow) -> int:
    """The window's last seq, or the next checkpoint after it: rows up to there are signed."""
    if window.to_the_end:
        return window.last_seq
    checkpoint = await conn.fetchval(NEXT_CHECKPOINT_SQL, window.writer_id, window.last_seq)
    return int(checkpoint) if checkpoint is not None else window.last_seq


def _link_line(writer_id: str, link: Link) -> bytes:
    data = {
        "writer_id": writer_id,
        "seq": link.seq,
        "prev_hash": link.prev_hash.hex(),
        "row_hash": link.row_hash.hex(),
    }
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def _write_member(bundle: zipfile.ZipFile, name: str, lines: list[bytes]) -> dict[str, Any]:
    with bundle.open(name, "w", force_zip64=True) as member:
        out = _HashingWriter(member)
        for line in lines:
            out.line(line)
    return out.summary()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
