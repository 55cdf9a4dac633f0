"""PostgreSQL from the pgserver wheel, for `warden dev`, tests and benchmarks."""

import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from proxy.devstack.process import HOST, ServerProcess, logger, stop_leftover

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

PG_SUPERUSER = "postgres"
# Postgres refuses to run as root; pgserver's helpers create and prepare this system user.
PG_OS_USER = "pgserver"
# sun_path holds 108 bytes on Linux and 104 on macOS.
MAX_SOCKET_PATH = 100


class EmbeddedPostgres(ServerProcess):
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
        stop_leftover(self.data_dir / "postmaster.pid", marker, signal.SIGINT)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        sockets = self._socket_dir(user)
        stop_leftover(sockets / f".s.PGSQL.{self.port}.lock", marker, signal.SIGINT)
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
