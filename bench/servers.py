"""The measured servers as child processes: `python -m bench.servers ROLE`, and their control.

Each server gets its own interpreter and event loop: on one loop the upstream, the proxy and
the load generator would queue behind each other and the comparison would mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import web

from bench.passthrough import create_passthrough_app
from proxy import event_loop
from proxy.config import settings_from_mapping
from proxy.demo_upstream import create_demo_upstream_app
from proxy.devstack import EmbeddedPostgres, EmbeddedRedis
from proxy.logs import configure_logging
from proxy.server import WardenServer, tune_gc_for_serving

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_REPO_ROOT = Path(__file__).resolve().parent.parent
# The pass-through's event loops: asyncio's own (bare aiohttp, what the targets are set
# against) or uvloop, which Warden runs on by default. Warden runs on its config's.
PASSTHROUGH_LOOPS = ("asyncio", "uvloop")


def add_passthrough_loop_option(parser: argparse.ArgumentParser) -> None:
    """`--passthrough-loop`, for the benchmarks that start a pass-through."""
    parser.add_argument(
        "--passthrough-loop",
        choices=PASSTHROUGH_LOOPS,
        default=PASSTHROUGH_LOOPS[0],
        help="the pass-through's event loop: asyncio's own (default: the bare aiohttp"
        " pass-through the targets are set against) or uvloop, which Warden runs on by"
        " default, for a like-for-like ratio",
    )


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    process: subprocess.Popen[bytes]
    url: str


def start_child(role: str, *args: str, env: Mapping[str, str] | None = None) -> Child:
    """Run `python -m bench.servers ROLE ARGS...`; return once it prints the URL it serves."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.servers", role, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=_REPO_ROOT,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    try:
        readable, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
        line = process.stdout.readline().decode().strip() if readable else ""
        if not line.startswith("http://"):
            raise RuntimeError(f"{role} did not start (exit code {process.poll()}): {line!r}")
    except BaseException:
        stop_child(process)
        raise
    finally:
        process.stdout.close()
    return Child(role, process, line)


def stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


@dataclass(slots=True)
class Stack:
    """A benchmark's embedded Postgres and Redis, its temp dir, and the servers it started."""

    tmp: Path
    pg: EmbeddedPostgres
    redis: EmbeddedRedis
    children: list[Child] = field(default_factory=list)

    def start(self, role: str, *args: str, env: Mapping[str, str] | None = None) -> Child:
        """`start_child`, stopped with the stack."""
        child = start_child(role, *args, env=env)
        self.children.append(child)
        return child


@contextlib.contextmanager
def embedded_stack(prefix: str) -> Iterator[Stack]:
    """Postgres (fsync off) and Redis in a new temp dir; on the way out every server started
    through the stack stops, newest first, then Redis, Postgres and the temp dir go."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(
        tmp, EmbeddedPostgres(tmp / "postgres", fsync=False), EmbeddedRedis(tmp / "redis")
    )
    try:
        stack.pg.start()
        stack.redis.start()
        yield stack
    finally:
        for child in reversed(stack.children):
            stop_child(child.process)
        stack.redis.stop()
        stack.pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def _serve(start: Callable[[], Awaitable[str]], stop: Callable[[], Awaitable[None]]) -> None:
    """Serve until SIGTERM (the parent's stop) or SIGINT (Ctrl-C reaches the whole group)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    # The one line the parent waits for; nothing else is ever written to stdout.
    print(await start(), flush=True)
    try:
        await stopping.wait()
    finally:
        await stop()


async def _serve_app(app: web.Application) -> None:
    # The same runner options as Warden's proxy listener, so only the handlers differ.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)

    async def start() -> str:
        await runner.setup()
        await web.TCPSite(runner, HOST, 0).start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    await _serve(start, runner.cleanup)


def _serve_warden(config_json: str, log_path: str, profile_path: str | None) -> None:
    # Secrets in the config are ${ENV} references; the parent passes their values in ours.
    settings = settings_from_mapping(orjson.loads(config_json), os.environ)
    # Production writes a JSON line per request to stderr; pointing fd 2 at a file keeps that
    # cost in the measurement without flooding the terminal.
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    configure_logging(settings.logging.level)

    async def serve() -> None:
        server = WardenServer(settings)

        async def start() -> str:
            await server.start()
            tune_gc_for_serving()  # as `warden serve` does
            return server.proxy_url

        await _serve(start, server.stop)

    choice = settings.listen.event_loop  # as `warden serve` runs it
    if profile_path is None:
        event_loop.run(serve(), choice)
        return
    profiler = cProfile.Profile()
    try:
        profiler.runcall(event_loop.run, serve(), choice)
    finally:
        profiler.dump_stats(profile_path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser("upstream", help="the demo model server")
    passthrough = roles.add_parser("passthrough", help="the bare aiohttp reverse proxy")
    passthrough.add_argument("upstream_url")
    passthrough.add_argument("--event-loop", choices=PASSTHROUGH_LOOPS, default="asyncio")
    warden = roles.add_parser("warden", help="Warden from a JSON config mapping")
    warden.add_argument("config_json")
    warden.add_argument("log_path")
    warden.add_argument("--profile", metavar="PATH", help="write cProfile stats here on exit")
    args = parser.parse_args(argv)
    if args.role == "upstream":
        asyncio.run(_serve_app(create_demo_upstream_app()))
    elif args.role == "passthrough":
        event_loop.run(_serve_app(create_passthrough_app(args.upstream_url)), args.event_loop)
    else:
        _serve_warden(args.config_json, args.log_path, args.profile)


if __name__ == "__main__":
    main()
