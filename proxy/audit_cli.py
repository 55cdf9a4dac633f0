"""`warden audit export|verify|prune` and `warden keys evidence-init`: evidence by hand."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.audit.checkpoint import decode_public_key, encode_public_key
from proxy.config import ConfigError, Settings, load_settings
from proxy.evidence.bundle import export_bundle
from proxy.evidence.bundle_check import BundleError, BundleReport, verify_bundle
from proxy.evidence.keyfile import create_key_file, signing_key_path, trusted_public_keys
from proxy.evidence.retention import prune
from proxy.evidence.timespec import parse_age, parse_instant

Out = Callable[[Any], None]


def _settings(args: argparse.Namespace, *, required: bool) -> Settings | None:
    if not required and not Path(args.config).exists():
        return None
    return load_settings(args.config, require_secrets=False)


async def _connect(args: argparse.Namespace, settings: Settings | None) -> Any:
    if args.database_url:
        return await asyncpg.connect(args.database_url)
    if settings is None:
        raise ConfigError(args.config, [])
    return await asyncpg.connect(settings.postgres.url)


def _instant(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise SystemExit(f"warden: {flag}: {exc}") from None


def cmd_export(args: argparse.Namespace, out: Out) -> int:
    since, until = _instant(args.since, "--since"), _instant(args.until, "--until")
    path = Path(args.output)
    if path.exists() and not args.force:
        sys.stderr.write(f"warden: {path} exists (use --force to replace it)\n")
        return 1
    settings = _settings(args, required=not args.database_url)
    keys = trusted_public_keys(settings) if settings is not None else {}
    if not keys:
        sys.stderr.write("note: no evidence keys configured; the bundle carries no public key\n")

    async def export() -> int:
        conn = await _connect(args, settings)
        try:
            summary = await export_bundle(conn, path, since, until, keys)
        finally:
            await conn.close()
        out(summary.as_json())
        return 0

    return asyncio.run(export())


def _public_key(text: str) -> Ed25519PublicKey:
    candidate = Path(text)
    if candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
    try:
        return decode_public_key(text)
    except ValueError as exc:
        raise SystemExit(f"warden: --public-key: {exc}") from None


def _print_report(path: str, result: BundleReport) -> None:
    write = sys.stdout.write
    source = "pinned with --public-key" if result.pinned else "carried by the bundle itself"
    write(f"bundle: {path}\n")
    write(f"trusted keys ({source}): {', '.join(result.trusted) or 'none'}\n")
    for chain in result.report.chains:
        if chain.broken is not None:
            b = chain.broken
            write(f"writer {chain.writer_id}: BROKEN at seq {b.seq}: {b.reason}\n")
            continue
        write(
            f"writer {chain.writer_id}: ok, seq {chain.first_seq}..{chain.last_seq} "
            f"({chain.rows} rows, from {chain.start}), {chain.checkpoints} checkpoint(s), "
            f"{chain.unsigned_rows} row(s) after the last one\n"
        )
    for problem in result.problems:
        write(f"problem: {problem}\n")
    write("result: OK\n" if result.ok else "result: FAILED\n")


def cmd_verify(args: argparse.Namespace, out: Out) -> int:
    pinned = [_public_key(text) for text in args.public_key or []]
    try:
        result = verify_bundle(Path(args.bundle), pinned or None)
    except (BundleError, OSError) as exc:
        sys.stderr.write(f"warden: {args.bundle}: {exc}\n")
        return 2
    if args.json:
        out(result.as_json())
    else:
        _print_report(args.bundle, result)
    return 0 if result.ok else 1


def cmd_prune(args: argparse.Namespace, out: Out) -> int:
    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        sys.stderr.write(f"warden: --older-than: {exc}\n")
        return 2
    settings = _settings(args, required=not args.database_url)

    async def run() -> int:
        conn = await _connect(args, settings)
        try:
            result = await prune(conn, datetime.now(UTC) - age, dry_run=args.dry_run)
        finally:
            await conn.close()
        out(result.as_json())
        if result.skipped:
            sys.stderr.write("another prune is running; nothing was done\n")
        return 0

    return asyncio.run(run())


def cmd_evidence_init(args: argparse.Namespace, out: Out) -> int:
    if args.out:
        path = Path(args.out)
    else:
        settings = _settings(args, required=False)
        configured = signing_key_path(settings) if settings is not None else None
        if configured is None:
            sys.stderr.write(
                "warden: say where to write the key: --out PATH, or set "
                "audit.evidence.signing_key_file in the config\n"
            )
            return 2
        path = configured
    try:
        signer = create_key_file(path)
    except FileExistsError:
        sys.stderr.write(
            f"warden: {path} exists; a signing key is never overwritten (its checkpoints "
            "would no longer verify). To rotate: write the new key elsewhere, point "
            "signing_key_file at it, and add the old public key to trusted_public_keys.\n"
        )
        return 1
    out(
        {
            "path": str(path),
            "key_id": signer.key_id,
            "public_key": encode_public_key(signer.public_key),
        }
    )
    sys.stderr.write(
        "Set audit.evidence.signing_key_file to this path (or put the file's content in the "
        "environment variable audit.evidence.signing_key names). Give the public key to your "
        "auditors: `warden audit verify BUNDLE --public-key <public_key>`.\n"
    )
    return 0


def add_audit_commands(
    commands: Any,
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    out: Out,
) -> None:
    audit = commands.add_parser("audit", help="evidence: export, verify, prune").add_subparsers(
        dest="audit_command", required=True
    )
    export = with_config(audit.add_parser("export", help="write an evidence bundle (zip)"))
    export.add_argument("--since", help="ISO 8601 time or age (7d); default: the beginning")
    export.add_argument("--until", help="ISO 8601 time or age; default: now")
    export.add_argument("-o", "--output", required=True, help="the bundle file to write")
    export.add_argument("--force", action="store_true", help="replace an existing file")
    export.add_argument("--database-url", help="instead of postgres.url from the config")
    export.set_defaults(func=partial(cmd_export, out=out))
    verify = audit.add_parser("verify", help="verify a bundle offline; exit 1 if broken")
    verify.add_argument("bundle")
    verify.add_argument(
        "--public-key",
        action="append",
        help="trust only this key (base64, or a file holding it); repeatable",
    )
    verify.add_argument("--json", action="store_true", help="the full report as JSON")
    verify.set_defaults(func=partial(cmd_verify, out=out))
    prune_ = with_config(audit.add_parser("prune", help="drop months older than an age"))
    prune_.add_argument("--older-than", required=True, help="an age such as 90d")
    prune_.add_argument("--dry-run", action="store_true", help="report, drop nothing")
    prune_.add_argument("--database-url", help="instead of postgres.url from the config")
    prune_.set_defaults(func=partial(cmd_prune, out=out))
