"""Offline verification of an evidence bundle (see bundle.py for the format): no database."""

from __future__ import annotations

import hashlib
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.audit.checkpoint import Checkpoint, decode_public_key, key_id_of, public_key_bytes
from proxy.evidence.bundle import BUNDLE_FORMAT, BUNDLE_VERSION, MEMBERS
from proxy.evidence.chain import ChainVerifier, Link, VerifyReport


class BundleError(Exception):
    """The file is not a readable evidence bundle (as opposed to one that fails to verify)."""


@dataclass(slots=True)
class BundleReport:
    """Chains verified, plus problems with the bundle itself (member hashes, counts)."""

    report: VerifyReport = field(default_factory=VerifyReport)
    problems: list[str] = field(default_factory=list)
    trusted: list[str] = field(default_factory=list)
    pinned: bool = False

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            **self.report.as_json(),
            "ok": self.ok,
            "problems": self.problems,
            "trusted_keys": self.trusted,
            "keys_pinned": self.pinned,
        }


def _lines(bundle: zipfile.ZipFile, name: str) -> Iterator[Any]:
    with bundle.open(name) as member:
        for number, line in enumerate(member, start=1):
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                raise BundleError(f"{name} line {number}: not JSON") from None


def verify_bundle(path: Path, pinned: list[Ed25519PublicKey] | None = None) -> BundleReport:
    """Check a bundle without a database: member hashes, then every chain and checkpoint.

    Signatures are checked against `pinned` keys when given (obtained from the operator by
    another channel), otherwise against the keys the bundle carries, which only shows
    the bundle is consistent with itself.
    """
    result = BundleReport()
    try:
        with zipfile.ZipFile(path) as bundle:
            manifest = _manifest(bundle)
            for name in MEMBERS:
                expected = manifest["files"].get(name, {}).get("sha256")
                if _member_sha256(bundle, name) != expected:
                    result.problems.append(f"{name}: SHA-256 differs from the manifest")
            if pinned:
                keys, result.pinned = pinned, True
            else:
                with bundle.open("public_keys.json") as member:
                    keys = [decode_public_key(k["public_key"]) for k in orjson.loads(member.read())]
            trusted = {key_id_of(public_key_bytes(k)): k for k in keys}
            result.trusted = sorted(trusted)
            _verify_chains(bundle, manifest, trusted, result)
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"not a readable evidence bundle: {exc!r}") from exc
    return result


def _manifest(bundle: zipfile.ZipFile) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads(bundle.read("manifest.json"))
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("version") != BUNDLE_VERSION:
        raise BundleError(f"not a {BUNDLE_FORMAT} version {BUNDLE_VERSION} file")
    return manifest


def _member_sha256(bundle: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with bundle.open(name) as member:
        for block in iter(lambda: member.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_chains(
    bundle: zipfile.ZipFile,
    manifest: dict[str, Any],
    trusted: dict[str, Ed25519PublicKey],
    result: BundleReport,
) -> None:
    checkpoints: dict[str, dict[int, Checkpoint]] = defaultdict(dict)
    for data in _lines(bundle, "checkpoints.ndjson"):
        checkpoint = Checkpoint.from_json(data)
        checkpoints[checkpoint.writer_id][checkpoint.seq] = checkpoint
    links: dict[str, list[Link]] = defaultdict(list)
    for data in _lines(bundle, "links.ndjson"):
        link = Link(data["seq"], bytes.fromhex(data["prev_hash"]), bytes.fromhex(data["row_hash"]))
        links[data["writer_id"]].append(link)
    windows = {w["writer_id"]: w for w in manifest["writers"]}
    verifiers: dict[str, ChainVerifier] = {}
    for row in _lines(bundle, "rows.ndjson"):
        writer_id = row.get("writer_id")
        verifier = verifiers.get(writer_id)
        if verifier is None:
            window = windows.get(writer_id)
            if window is None:
                result.problems.append(f"rows of writer {writer_id!r}, not in the manifest")
                continue
            verifier = verifiers[writer_id] = ChainVerifier(
                writer_id,
                checkpoints=checkpoints[writer_id],
                links=links[writer_id],
                trusted=trusted,
                mid_chain=window["mid_chain"],
                to_the_end=window["to_the_end"],
            )
        verifier.feed(row)
    for writer_id, window in windows.items():
        verifier = verifiers.get(writer_id)
        if verifier is None:
            result.problems.append(
                f"writer {writer_id}: no rows, the manifest lists {window['rows']}"
            )
            continue
        chain = verifier.finish()
        if chain.broken is None and chain.rows != window["rows"]:
            result.problems.append(
                f"writer {writer_id}: {chain.rows} rows checked, the manifest says {window['rows']}"
            )
        result.report.chains.append(chain)
