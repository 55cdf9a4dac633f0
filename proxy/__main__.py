"""The `warden` command: serve, dev, migrate, keys, policies, scan, audit."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from proxy import apikeys
from proxy.audit_cli import add_audit_commands, cmd_evidence_init
from proxy.config import ConfigError, Settings, load_settings
from proxy.errors import WardenError
from proxy.logs import configure_logging


def _out(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _load(args: argparse.Namespace, *, require_secrets: bool = True) -> Settings:
    return load_settings(args.config, require_secrets=require_secrets)


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from proxy import event_loop
    from proxy.server import run_workers, serve_until_signalled

    settings = _load(args)
    configure_logging(settings.logging.level)
    if args.no_migrate:
        settings = replace(settings, postgres=replace(settings.postgres, migrate_on_start=False))
    if args.workers > 1:
        return run_workers(settings, args.workers)
    event_loop.run(serve_until_signalled(settings), settings.listen.event_loop)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from proxy.dev import DevOptions, run_dev

    configure_logging("warning")
    options = DevOptions(
        config=Path(args.config),
        port=args.port,
        admin_port=args.admin_port,
        state_dir=Path(args.state_dir),
        demo_upstream=not args.no_demo,
    )
    asyncio.run(run_dev(options))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from proxy.server import migrate_once

    settings = _load(args, require_secrets=False)
    configure_logging(settings.logging.level)
    applied = asyncio.run(migrate_once(settings))
    _out({"applied": applied})
    return 0


async def _with_connection(
    args: argparse.Namespace, action: Callable[[asyncpg.Connection], Awaitable[int]]
) -> int:
    url = args.database_url or _load(args, require_secrets=False).postgres.url
    conn = await asyncpg.connect(url)
    try:
        return await action(conn)
    finally:
        await conn.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    async def create(conn: asyncpg.Connection) -> int:
        key, full_key = await apikeys.create_key(conn, args.tenant, args.name)
        _out({**key.public(), "key": full_key})
        sys.stderr.write(
            "Store this key now: Warden keeps only its hash and cannot show it again.\n"
        )
        return 0

    return asyncio.run(_with_connection(args, create))


def cmd_keys_list(args: argparse.Namespace) -> int:
    async def list_(conn: asyncpg.Connection) -> int:
        keys = await apikeys.list_keys(
            conn, args.tenant, include_revoked=args.include_revoked, limit=10_000
        )
        _out([k.public() for k in keys])
        return 0

    return asyncio.run(_with_connection(args, list_))


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    async def revoke(conn: asyncpg.Connection) -> int:
        key = await apikeys.revoke_key(conn, args.key_id)
        if key is None:
            sys.stderr.write(f"no such key: {args.key_id}\n")
            return 1
        _out(key.public())
        return 0

    return asyncio.run(_with_connection(args, revoke))


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    async def rotate(conn: asyncpg.Connection) -> int:
        rotated = await apikeys.rotate_key(conn, args.key_id, args.grace_seconds)
        if rotated is None:
            sys.stderr.write(f"no such active key: {args.key_id}\n")
            return 1
        key, full_key = rotated
        _out({**key.public(), "key": full_key})
        return 0

    return asyncio.run(_with_connection(args, rotate))


def _compile_policy_folder(args: argparse.Namespace) -> Any:
    """The folder's PolicySet, compiled as `warden serve` would; PolicyError if it does not."""
    from proxy.resources import policy_compile_options

    config_path = Path(args.config)
    if config_path.exists():
        settings = _load(args, require_secrets=False)
        folder = Path(args.dir) if args.dir else Path(settings.base_dir) / settings.policies.dir
        options = policy_compile_options(settings)
    else:
        from proxy.scanners import KNOWN_KINDS
        from proxy.scanning import compile_custom

        folder = Path(args.dir or "policies")
        options = {"known_kinds": KNOWN_KINDS, "custom_compiler": compile_custom}
    from proxy.policy import compile_directory

    return compile_directory(folder, **options)


def _report_policy_problems(exc: Exception) -> int:
    from proxy.policy import PolicyError

    assert isinstance(exc, PolicyError)
    for problem in exc.problems:
        sys.stderr.write(f"{problem}\n")
    sys.stderr.write(f"{len(exc.problems)} problem(s); nothing was loaded\n")
    return 1


def cmd_policies_check(args: argparse.Namespace) -> int:
    from proxy.policy import PolicyError

    try:
        policy = _compile_policy_folder(args)
    except PolicyError as exc:
        return _report_policy_problems(exc)
    sys.stdout.write(
        f"ok: {policy.rule_count} rules in {len(policy.files)} files, "
        f"{len(policy.tests)} tests, version {policy.version}\n"
    )
    return 0


def cmd_policies_test(args: argparse.Namespace) -> int:
    from proxy.policy import PolicyError
    from proxy.policy.evaluate import run_policy_tests
    from proxy.scanning import Scanning

    try:
        policy = _compile_policy_folder(args)
    except PolicyError as exc:
        return _report_policy_problems(exc)
    scanning = Scanning()
    outcomes = run_policy_tests(policy, scan=scanning.scan, request_texts=scanning.request_texts)
    for outcome in outcomes:
        where = f"{outcome.file}:{outcome.line}"
        if outcome.passed:
            sys.stdout.write(f"PASS {where} {outcome.name}\n")
        else:
            sys.stdout.write(
                f"FAIL {where} {outcome.name}\n     expected {outcome.expected}\n"
                f"     got      {outcome.got}\n"
            )
    failed = sum(not o.passed for o in outcomes)
    sys.stdout.write(f"policy tests: {len(outcomes) - failed} passed, {failed} failed\n")
    return 1 if failed else 0


def cmd_scan(args: argparse.Namespace) -> int:
    """JSON Lines in ({"text": ...}), findings and risk out: try the scanners on your data."""
    from proxy.risk import assess
    from proxy.scanners import scan_text

    status = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            sys.stderr.write(f"line {number}: expected a JSON object with a string 'text'\n")
            status = 1
            continue
        findings = scan_text(text)
        risk = assess(findings)
        result = {
            "findings": [
                {"kind": f.kind, "start": f.start, "end": f.end, "score": f.score} for f in findings
            ],
            "risk_score": risk.score,
            "risk_label": risk.label,
        }
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warden", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=os.environ.get("WARDEN_CONFIG", "config.yaml"))
        return p

    serve = with_config(commands.add_parser("serve", help="run the proxy (production mode)"))
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate on start")
    serve.set_defaults(func=cmd_serve)

    dev = with_config(commands.add_parser("dev", help="run on embedded Postgres/Redis locally"))
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument("--admin-port", type=int, default=8081)
    dev.add_argument("--state-dir", default=".warden")
    dev.add_argument("--no-demo", action="store_true", help="use the configured upstreams")
    dev.set_defaults(func=cmd_dev)

    migrate = with_config(commands.add_parser("migrate", help="apply database migrations"))
    migrate.set_defaults(func=cmd_migrate)

    scan = commands.add_parser("scan", help='scan JSON Lines {"text"} from stdin')
    scan.set_defaults(func=cmd_scan)

    policies = commands.add_parser("policies", help="check and test policy files")
    policy_commands = policies.add_subparsers(dest="policies_command", required=True)
    for name, func, help_text in (
        ("check", cmd_policies_check, "compile the folder; exit 1 listing every problem"),
        ("test", cmd_policies_test, "run the tests kept beside the rules"),
    ):
        sub = with_config(policy_commands.add_parser(name, help=help_text))
        sub.add_argument("dir", nargs="?", help="policy folder (default: the config's)")
        sub.set_defaults(func=func)

    keys = commands.add_parser("keys", help="manage Warden API keys").add_subparsers(
        dest="keys_command", required=True
    )

    def key_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = with_config(keys.add_parser(name, help=help_text))
        p.add_argument("--database-url", help="instead of postgres.url from the config")
        return p

    create = key_command("create", "create a key (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name")
    create.set_defaults(func=cmd_keys_create)
    list_ = key_command("list", "list keys")
    list_.add_argument("--tenant")
    list_.add_argument("--include-revoked", action="store_true")
    list_.set_defaults(func=cmd_keys_list)
    revoke = key_command("revoke", "revoke a key")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_keys_revoke)
    rotate = key_command("rotate", "give a key a new secret")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace-seconds", type=float, default=0.0)
    rotate.set_defaults(func=cmd_keys_rotate)
    evidence_init = with_config(
        keys.add_parser("evidence-init", help="create the Ed25519 key that signs checkpoints")
    )
    evidence_init.add_argument("--out", help="where (default: audit.evidence.signing_key_file)")
    evidence_init.set_defaults(func=partial(cmd_evidence_init, out=_out))

    add_audit_commands(commands, with_config, _out)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except (WardenError, OSError, asyncpg.PostgresError) as exc:
        sys.stderr.write(f"warden: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
