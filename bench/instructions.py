"""Instructions per request: the pass-through, Warden as shipped, and Warden without one part.

Usage: python -m bench.instructions [--requests N] [--workload chat|chat_stream|mixed]
                                    [--without PART ...] [--targets-only]
                                    [--keep-dumps DIR] [--passthrough-loop asyncio|uvloop]

CPU time per request on a shared machine moves by a third from run to run (see
bench/README.md): too much to see a change worth a few percent. Instruction counts barely
move (two runs of the same code agree within 1%). Each server runs alone under
`valgrind --tool=callgrind` (about 50x slower) with the setup of `bench.load --shipped`;
it is warmed up, its counters are zeroed (`callgrind_control -z`), it serves N requests
(CONCURRENCY at a time) and its counters are dumped, so start-up and shutdown never count.

Printed: the pass-through's and Warden's instructions per request, their ratio, and for each
PART switched off (`audit`, `rate_limit`, `policies`, `request_log`) what Warden costs without
it and so what the part costs. Instructions are not microseconds: a system call counts as one
(the kernel is not measured) and valgrind's CPU has no SHA extensions, so hashing weighs more
than on the host. At a fixed mix they move with CPU time, and they compare two versions of the
code exactly: run it from an older checkout's folder the same way.

Needs valgrind (with callgrind_control) on the PATH. Everything listens on 127.0.0.1 only and
is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import load, servers
from proxy.config import settings_from_mapping

CONCURRENCY = 8
WARM_UP_REQUESTS = 600
# Lets the audit writer flush the last batch (and the request log its lines) before the dump.
SETTLE_SECONDS = 1.0
PARTS = ("audit", "rate_limit", "policies", "request_log")


async def drive(url: str, key: str, bodies: list[bytes], requests: int) -> None:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    queue = list(range(requests))
    async with aiohttp.ClientSession() as session:

        async def caller() -> None:
            while queue:
                n = queue.pop()
                async with session.post(
                    url + load.PATH, data=bodies[n % len(bodies)], headers=headers
                ) as reply:
                    await reply.read()
                    if reply.status != 200:
                        sys.exit(f"request failed: {reply.status} {await reply.text()}")

        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {dump}")


async def instructions_per_request(
    role_args: list[str],
    tmp: Path,
    key: str,
    bodies: list[bytes],
    requests: int,
    keep: Path | None = None,
) -> float:
    """A `bench.servers` child under callgrind: instructions per request, warm-up excluded.
    With `keep`, its dump is copied there too, for callgrind_annotate."""
    out = tmp / f"callgrind.{len(list(tmp.glob('callgrind.*')))}"
    process = subprocess.Popen(
        [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            f"--log-file={tmp / 'valgrind.log'}",
            sys.executable, "-m", "bench.servers", *role_args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env={**os.environ, **load.WARDEN_ENV, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        url = (await asyncio.to_thread(process.stdout.readline)).decode().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"{role_args[0]} did not start under valgrind: {url!r}")
        await drive(url, key, bodies, WARM_UP_REQUESTS)
        await asyncio.sleep(SETTLE_SECONDS)
        _control("-z", process.pid)
        await drive(url, key, bodies, requests)
        await asyncio.sleep(SETTLE_SECONDS)
        _control("-d", process.pid)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 600)
    # The dump on demand is the file with a ".1" suffix; the one at exit has none.
    dumps = sorted(out.parent.glob(out.name + ".*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {role_args[0]}")
    if keep is not None:
        kept = keep / f"callgrind.{role_args[0]}.{len(list(keep.glob('callgrind.*')))}"
        shutil.copyfile(dumps[0], kept)
        print(f"  (dump kept as {kept})")
    return _total(dumps[0]) / requests


def _control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def without(config: dict[str, Any], part: str, tmp: Path) -> dict[str, Any]:
    """The shipped config with one part switched off."""
    changed: dict[str, Any] = orjson.loads(orjson.dumps(config))
    if part == "audit":
        changed["audit"]["enabled"] = False
    elif part == "rate_limit":
        changed.pop("rate_limit", None)
    elif part == "policies":
        empty = tmp / "no-policies"
        empty.mkdir(exist_ok=True)
        changed["policies"]["dir"] = str(empty)
    elif part == "request_log":
        changed["logging"]["requests"] = False
    return changed


def workload_bodies(name: str) -> list[bytes]:
    chat, stream = (w.body for w in load.workloads(16))
    return {"chat": [chat], "chat_stream": [stream], "mixed": [chat, stream]}[name]


async def run(
    requests: int, workload: str, parts: Iterable[str], keep: Path | None, passthrough_loop: str
) -> None:
    bodies = workload_bodies(workload)
    with servers.embedded_stack("warden-bench-instr-") as stack:
        tmp = stack.tmp
        upstream = stack.start("upstream")
        config = load.warden_config(
            upstream.url,
            stack.pg.url_for(load.DATABASE),
            stack.redis.url,
            tmp,
            load.SHIPPED_POLICIES,
            True,
        )
        config["rate_limit"] = load.SHIPPED_RATE_LIMIT
        key = await load.prepare_database(stack.pg, settings_from_mapping(config, load.WARDEN_ENV))

        async def warden(cfg: dict[str, Any]) -> float:
            args = ["warden", orjson.dumps(cfg).decode(), str(tmp / "warden.log")]
            return await instructions_per_request(args, tmp, key, bodies, requests, keep)

        passthrough = await instructions_per_request(
            ["passthrough", upstream.url, "--event-loop", passthrough_loop],
            tmp,
            key,
            bodies,
            requests,
            keep,
        )
        print(f"  pass-through               {passthrough / 1000:9.1f} k instructions per request")
        shipped = await warden(config)
        print(
            f"  warden, shipped setup      {shipped / 1000:9.1f} k"
            f"   (x{shipped / passthrough:.2f} the pass-through)"
        )
        for part in parts:
            rest = await warden(without(config, part, tmp))
            print(
                f"  warden without {part:<12}{rest / 1000:9.1f} k   ({part} costs"
                f" {(shipped - rest) / 1000:.1f} k, {(shipped - rest) / shipped:.0%} of Warden)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="measured, per server")
    parser.add_argument("--workload", choices=("chat", "chat_stream", "mixed"), default="chat")
    parser.add_argument(
        "--without",
        choices=PARTS,
        action="append",
        help="also measure Warden without this part (repeat; default: each part in turn)",
    )
    parser.add_argument(
        "--targets-only", action="store_true", help="only the pass-through and shipped Warden"
    )
    parser.add_argument(
        "--keep-dumps",
        type=Path,
        metavar="DIR",
        help="copy each server's callgrind dump here (per-function costs: callgrind_annotate)",
    )
    servers.add_passthrough_loop_option(parser)
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    parts = [] if args.targets_only else (args.without or list(PARTS))
    if args.keep_dumps is not None:
        args.keep_dumps.mkdir(parents=True, exist_ok=True)
    print(
        f"Instructions per request (callgrind), {args.workload}, {args.requests} requests"
        f" per server after {WARM_UP_REQUESTS} to warm up, {CONCURRENCY} at a time"
    )
    asyncio.run(run(args.requests, args.workload, parts, args.keep_dumps, args.passthrough_loop))


if __name__ == "__main__":
    main()
