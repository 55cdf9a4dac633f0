"""Running Warden: both listeners in one process, and N such processes on one port."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import replace

from aiohttp import web
from prometheus_client.multiprocess import mark_process_dead

import proxy
from proxy import event_loop
from proxy.app import create_admin_app, create_app
from proxy.config import Settings
from proxy.db import create_pool, migrate
from proxy.keys import DRAINING
from proxy.metrics import MULTIPROCESS_ENV

log = logging.getLogger(__name__)

# The cyclic collector's young-generation threshold for a serving process (Python's is 700).
# Requests leave no reference cycles behind (the exchange lets go of its request when the
# response is prepared), so young-generation passes found nothing to free; yet under load
# the objects a request holds for a moment (parsed bodies, an audit batch) crossed 700 about
# 40 times a second, and each pass cost ~0.7 ms: some 5% of the process's time.
GC_YOUNG_THRESHOLD = 7000


class WardenServer:
    """The proxy and admin apps served on their listeners; `port=0` picks free ports.

    Stopping drains: /readyz turns 503, the proxy listener stops accepting, requests in
    flight (streams included) get `listen.shutdown_grace_seconds` to finish, then the admin
    listener closes and the proxy app's cleanup flushes the audit rows and closes the pools.
    """

    def __init__(self, settings: Settings, *, reuse_port: bool = False) -> None:
        self.settings = settings
        self.reuse_port = reuse_port
        self.app = create_app(settings)
        self.admin_app = create_admin_app(self.app)
        # handler_cancellation: a caller that hangs up cancels its handler, and with it the
        # upstream request, instead of leaving the model generating for nobody.
        self._runner = web.AppRunner(
            self.app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=settings.listen.shutdown_grace_seconds,
        )
        self._admin_runner = web.AppRunner(self.admin_app, access_log=None, shutdown_timeout=5.0)
        # The admin listener reads state (pools, key store) that the proxy app's cleanup
        # closes, so it stops first; cleanup comes after the in-flight requests are done,
        # which keeps /readyz and /metrics answering through the drain.
        self.app.on_cleanup.insert(0, self._stop_admin)
        self._admin_stopped = False

    async def start(self) -> None:
        listen = self.settings.listen
        await self._runner.setup()
        await web.TCPSite(
            self._runner, listen.proxy.host, listen.proxy.port, reuse_port=self.reuse_port
        ).start()
        await self._admin_runner.setup()
        await web.TCPSite(
            self._admin_runner, listen.admin.host, listen.admin.port, reuse_port=self.reuse_port
        ).start()

    async def stop(self) -> None:
        if self.app[DRAINING].is_set():
            return  # stopping or stopped already
        self.app[DRAINING].set()
        await self._runner.cleanup()
        await self._stop_admin(self.app)

    async def _stop_admin(self, _app: web.Application) -> None:
        if not self._admin_stopped:
            self._admin_stopped = True
            await self._admin_runner.cleanup()

    @property
    def proxy_url(self) -> str:
        return _url_of(self._runner)

    @property
    def admin_url(self) -> str:
        return _url_of(self._admin_runner)


def _url_of(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def tune_gc_for_serving() -> None:
    """Once a serving process has started: what startup built (compiled policies, the injection
    model, caches) is frozen out of the collector's full passes, which no longer walk it, and
    young-generation passes run at GC_YOUNG_THRESHOLD. Only for a process that serves until it
    exits; frozen objects are never collected."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


async def serve_until_signalled(settings: Settings, *, reuse_port: bool = False) -> None:
    server = WardenServer(settings, reuse_port=reuse_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    tune_gc_for_serving()
    log.info(
        "warden serving",
        extra={
            "fields": {
                "proxy": server.proxy_url,
                "admin": server.admin_url,
                "pid": os.getpid(),
                "event_loop": event_loop.loop_name(loop),
                "build": proxy.BUILD.describe(),
            }
        },
    )
    await stop.wait()
    log.info("warden stopping", extra={"fields": {"pid": os.getpid()}})
    await server.stop()


async def migrate_once(settings: Settings) -> list[str]:
    pool = await create_pool(settings.postgres)
    try:
        return await migrate(pool)
    finally:
        await pool.close()


def _worker_main(settings: Settings, log_level: str) -> None:
    from proxy.logs import configure_logging

    configure_logging(log_level)
    event_loop.run(serve_until_signalled(settings, reuse_port=True), settings.listen.event_loop)


def run_workers(settings: Settings, workers: int) -> int:
    """N processes accept on the same ports (SO_REUSEPORT); the kernel spreads connections.

    Migrations run once here, before any worker starts, instead of N times under the lock.
    If a worker dies on its own, the rest are stopped too and the exit status is non-zero,
    so the service manager restarts a whole, healthy set.
    """
    if settings.postgres.migrate_on_start:
        asyncio.run(migrate_once(settings))
        settings = replace(settings, postgres=replace(settings.postgres, migrate_on_start=False))
    with shared_metrics_dir():
        return _supervise(settings, workers)


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[None]:
    """Workers write metric values to files here, so any one of them can answer a scrape
    with the totals. An operator's own PROMETHEUS_MULTIPROC_DIR is used and kept."""
    if os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="warden-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_ENV]
        shutil.rmtree(directory, ignore_errors=True)


def _supervise(settings: Settings, workers: int) -> int:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_worker_main,
            args=(settings, settings.logging.level),
            name=f"warden-worker-{i}",
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    running = {p.sentinel: p for p in processes}
    failed = False
    while running:
        for sentinel in multiprocessing.connection.wait(list(running)):
            assert isinstance(sentinel, int)
            process = running.pop(sentinel)
            process.join()
            if process.pid is not None:
                # Its gauges stop counting towards the live totals.
                mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
            if not stopping:
                log.error(
                    "worker exited unexpectedly; stopping the others",
                    extra={"fields": {"pid": process.pid, "exitcode": process.exitcode}},
                )
                failed = True
                stop_all()
            elif process.exitcode not in (0, -signal.SIGTERM):
                failed = True
    return 1 if failed else 0
