"""What both embedded servers share: one child process per start(), its log, leftovers of
hard-killed earlier runs, and readiness polling."""

import logging
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

logger = logging.getLogger("proxy.devstack")

HOST = "127.0.0.1"
LEFTOVER_STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
LOG_TAIL_LINES = 40


class DevStackError(RuntimeError):
    """An embedded server failed to start or to stop."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed process nobody reaps (a container without an init) stays a zombie forever.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:  # no /proc on macOS
        ps = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True)
        return ps.stdout.decode(errors="replace")


def stop_leftover(pidfile: Path, marker: str, sig: signal.Signals) -> None:
    """Stop a server that a hard-killed earlier run left behind, then remove its pid file.

    That process is not our child, so it can only be signalled and polled, never waited on.
    A dead pid, or one reused by an unrelated process, just means the file is stale.
    """
    try:
        first_line = pidfile.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return
    pid = int(first_line) if first_line.isdigit() else 0
    if pid > 0 and _pid_alive(pid) and marker in _cmdline(pid):
        logger.warning("stopping leftover server pid %d found via %s", pid, pidfile)
        try:
            os.kill(pid, sig)
            deadline, killed = time.monotonic() + LEFTOVER_STOP_TIMEOUT, False
            while _pid_alive(pid):
                if time.monotonic() >= deadline:
                    if killed:
                        raise DevStackError(f"leftover server pid {pid} survived SIGKILL")
                    os.kill(pid, signal.SIGKILL)
                    deadline, killed = time.monotonic() + 5.0, True
                time.sleep(POLL_INTERVAL)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            raise DevStackError(f"cannot stop leftover server pid {pid}: {exc}") from exc
    pidfile.unlink(missing_ok=True)


def _run_as(user: pwd.struct_passwd | None) -> tuple[int | None, int | None, list[int] | None]:
    """Popen's user, group and extra_groups; dropping root's supplementary groups too."""
    return (None, None, None) if user is None else (user.pw_uid, user.pw_gid, [])


class ServerProcess:
    """Process ownership shared by both servers: one child per start(), in its own session."""

    _name = "server"
    _stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None, log_path: Path) -> None:
        self.data_dir = data_dir
        # Chosen once so URLs already handed out stay valid across stop() and start().
        self.port = port if port is not None else free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self, timeout: float = 30.0) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self._stop_signal)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s pid %d ignored shutdown; killing it", self._name, proc.pid)
                # The whole group, so Postgres backends do not outlive their postmaster.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        logger.info("%s stopped (pid %d)", self._name, proc.pid)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, argv: list[str], user: pwd.struct_passwd | None = None) -> None:
        uid, gid, groups = _run_as(user)
        with self.log_path.open("ab") as log:
            # A session of its own keeps the terminal's Ctrl-C away from the server, so the
            # dev command decides the shutdown order instead of the server dying under it.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )

    def _wait_ready(self, ready: Callable[[int], bool], timeout: float, started: float) -> None:
        assert self._proc is not None
        pid = self._proc.pid
        try:
            while not ready(pid):
                code = self._proc.poll()
                if code is not None:
                    raise self._error(f"exited with code {code} during startup")
                if time.monotonic() - started >= timeout:
                    raise self._error(f"was not ready after {timeout:.1f}s")
                time.sleep(POLL_INTERVAL)
        except BaseException:
            self.stop(timeout=5.0)
            raise
        elapsed = time.monotonic() - started
        logger.info("%s ready on port %d (pid %d) in %.2fs", self._name, self.port, pid, elapsed)

    def _error(self, what: str) -> DevStackError:
        tail = log_tail(self.log_path)
        return DevStackError(f"{self._name} {what}; last lines of {self.log_path}:\n{tail}")
