"""What the audit costs per request, in CPU instructions of the Warden process (valgrind).

Usage: python -m bench.audit_instructions [--requests N]

CPU time per request on a shared machine moves by a third or more from run to run (see
bench/README.md), too much to see a change of a few tens of microseconds. Instruction counts
do not move: Warden runs under `valgrind --tool=cachegrind` (about 50x slower), serves N
chat completions (half of them streamed, four at a time) through the same setup as
bench.load, and stops; the same with zero requests cancels start-up and shutdown. With and
without the audit writer, the difference is the audit's own cost per request:

    audit = ((on, N) - (on, 0) - (off, N) + (off, 0)) / N

Needs valgrind on the PATH. Takes a few minutes. Everything listens on 127.0.0.1 only and is
stopped before it exits. Runs against whichever `proxy` and `bench` packages are on the path,
so an older checkout is measured the same way from inside its folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import orjson

from bench import load, servers
from proxy.config import settings_from_mapping
from proxy.devstack import EmbeddedPostgres, EmbeddedRedis

_REFS = re.compile(rb"I\s+refs:\s+([\d,]+)")
CONCURRENCY = 4


async def drive(url: str, key: str, requests: int) -> None:
    bodies = [w.body for w in load.workloads(16)]
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    queue = list(range(requests))
    async with aiohttp.ClientSession() as session:

        async def caller() -> None:
            while queue:
                n = queue.pop()
                async with session.post(
                    url + load.PATH, data=bodies[n % 2], headers=headers
                ) as reply:
                    await reply.read()
                    if reply.status != 200:
                        sys.exit(f"request failed: {reply.status}")

        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))


async def instructions(config: dict[str, object], tmp: Path, key: str, requests: int) -> int:
    """Warden under cachegrind for `requests` requests; its total instruction count."""
    log = tmp / "valgrind.log"
    process = subprocess.Popen(
        [
            "valgrind", "--tool=cachegrind", "--cache-sim=no",
            "--cachegrind-out-file=/dev/null", f"--log-file={log}",
            sys.executable, "-m", "bench.servers", "warden",
            orjson.dumps(config).decode(), str(tmp / "warden.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env={**os.environ, **load.WARDEN_ENV},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        url = (await asyncio.to_thread(process.stdout.readline)).decode().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"Warden did not start under valgrind: {url!r}")
        await drive(url, key, requests)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 600)
    match = _REFS.search(log.read_bytes())
    if match is None:
        raise RuntimeError(f"no instruction count in {log}")
    return int(match.group(1).replace(b",", b""))


async def run(requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="warden-bench-instr-") as name:
        tmp = Path(name)
        pg = EmbeddedPostgres(tmp / "pg", fsync=False)
        redis_server = EmbeddedRedis(tmp / "redis")
        await asyncio.to_thread(pg.start)
        await asyncio.to_thread(redis_server.start)
        upstream = servers.start_child("upstream")
        try:
            policies = tmp / "policies"
            policies.mkdir()
            database = pg.url_for(load.DATABASE)

            def config(audit: bool) -> dict[str, object]:
                return load.warden_config(
                    upstream.url, database, redis_server.url, tmp, policies, audit
                )

            key = await load.prepare_database(
                pg, settings_from_mapping(config(True), load.WARDEN_ENV)
            )
            counts = {}
            for audit in (True, False):
                for n in (0, requests):
                    counts[audit, n] = await instructions(config(audit), tmp, key, n)
                    print(f"  audit {'on ' if audit else 'off'} {n:5d} requests: "
                          f"{counts[audit, n]:>15,} instructions")  # fmt: skip
        finally:
            servers.stop_child(upstream.process)
            await asyncio.to_thread(redis_server.stop)
            await asyncio.to_thread(pg.stop)
    per_on = (counts[True, requests] - counts[True, 0]) / requests
    per_off = (counts[False, requests] - counts[False, 0]) / requests
    print(f"per request: audit on {per_on:,.0f}, off {per_off:,.0f}; "
          f"the audit's own cost {per_on - per_off:,.0f} instructions")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
