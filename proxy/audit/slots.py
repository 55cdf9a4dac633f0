"""Spool slots: one `writer-N` folder per process, held with flock, with a lasting writer id."""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from proxy.audit.chained_row import MAX_ID

_MAX_SLOTS = 1024


@dataclass(frozen=True, slots=True)
class Slot:
    """A spool sub-directory owned by one process through an exclusive lock."""

    directory: Path
    writer_id: str
    lock_fd: int

    def release(self) -> None:
        os.close(self.lock_fd)  # closing the descriptor drops the flock


def claim_slot(spool_dir: Path) -> Slot:
    """Take the first free `writer-N` directory under spool_dir, creating it if needed.

    N worker processes on one host share the configured spool_dir; each gets a slot of its
    own, and after a restart takes a slot back with its journal and writer id, so whatever
    a previous process left unsent is replayed and its chain continues. The writer id is
    the hostname plus a random id created once per slot (hostnames alone repeat across pods).
    """
    spool_dir.mkdir(parents=True, exist_ok=True)
    for n in range(_MAX_SLOTS):
        directory = spool_dir / f"writer-{n}"
        directory.mkdir(exist_ok=True)
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(directory, _writer_id(directory), fd)
    raise OSError(f"no free audit spool slot under {spool_dir}")


def _writer_id(directory: Path) -> str:
    path = directory / "writer_id"
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing[:MAX_ID]
    writer_id = f"{socket.gethostname()[:100]}-{secrets.token_hex(8)}"
    tmp = directory / "writer_id.tmp"
    with tmp.open("w", encoding="utf-8") as out:
        out.write(writer_id + "\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    fsync_dir(directory)
    return writer_id


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
