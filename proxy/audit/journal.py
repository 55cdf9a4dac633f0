"""Journal: a writer's append-only log of chained rows on local disk, read back in order."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from proxy.audit.chained_row import GENESIS_HASH, ChainedRow
from proxy.audit.read_back import row_from_journal
from proxy.audit.slots import fsync_dir

log = logging.getLogger(__name__)

_SEGMENT_SUFFIX = ".jsonl"
# Once everything is in Postgres, an active segment past this size is swapped for an empty
# one: a crash then replays at most this much, and the spool stays small while all is well.
# A swap costs two fsyncs on the event loop, so it should not come every few hundred rows.
_COMPACT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Head:
    """The last row of a chain: the next row gets seq + 1 and prev_hash = row_hash."""

    seq: int
    row_hash: bytes


@dataclass(frozen=True, slots=True)
class Position:
    segment: int  # the segment's first seq, which is also its file name
    offset: int


def _write_all(out: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) :]


class Journal:
    """Segments `<first seq>.jsonl` of canonical rows, oldest first; the active one is last.

    Every row the writer chains is appended here before any attempt to insert it, so the
    journal is the single ordered log: Postgres receives rows by reading it from a cursor,
    whether they were appended a moment ago or before an outage or a crash. Each segment
    starts with a header holding the chain head before its first row, so the head survives
    the deletion of older segments. Used from the event loop thread only.
    """

    def __init__(self, directory: Path, *, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._segments: list[int] = []
        self._out: Any = None
        self._out_size = 0
        self.head = Head(0, GENESIS_HASH)
        self.committed_seq = 0
        self._cursor = Position(1, 0)
        self.corrupt_lines = 0
        self.unsynced = False
        # The last appends, still in memory with where the cursor goes after each: while
        # Postgres keeps up, rows are sent from here and never read back from disk.
        self._tail: deque[tuple[list[ChainedRow], Position]] = deque()
        self._tail_rows = 0

    def _path(self, first_seq: int) -> Path:
        return self.directory / f"{first_seq:020d}{_SEGMENT_SUFFIX}"

    def open(self) -> Head:
        """Recover after any kind of exit: drop a torn last line, find the chain head."""
        self.directory.mkdir(parents=True, exist_ok=True)
        found = sorted(
            int(p.name.removesuffix(_SEGMENT_SUFFIX))
            for p in self.directory.glob(f"*{_SEGMENT_SUFFIX}")
            if p.name.removesuffix(_SEGMENT_SUFFIX).isdigit()
        )
        head: Head | None = None
        while found and head is None:
            head = self._recover_tail(self._path(found[-1]))
            if head is None:  # created but not even its header written: a crash at rotation
                self._path(found.pop()).unlink()
        self._segments = found
        if head is None:
            self.head = Head(0, GENESIS_HASH)
            self._start_segment()
        else:
            self.head = head
            path = self._path(self._segments[-1])
            self._out = path.open("ab", buffering=0)
            self._out_size = path.stat().st_size
        self.committed_seq = self._segments[0] - 1
        self._cursor = Position(self._segments[0], 0)
        return self.head

    def _recover_tail(self, path: Path) -> Head | None:
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning("audit journal %s: dropping a torn last line (%d bytes)", path, len(data))
            with path.open("r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        lines = data[:end].splitlines()
        while lines:
            try:
                last = orjson.loads(lines.pop())
            except orjson.JSONDecodeError:
                continue
            if "head_seq" in last:
                return Head(int(last["head_seq"]), bytes.fromhex(last["head_hash"]))
            return Head(int(last["seq"]), bytes.fromhex(last["row_hash"]))
        return None

    def _start_segment(self) -> None:
        first_seq = self.head.seq + 1
        path = self._path(first_seq)
        # Unbuffered: every write goes straight to the OS, so a failed one can be cut off.
        out = path.open("ab", buffering=0)
        _write_all(out, self._header_line())
        os.fsync(out.fileno())
        fsync_dir(self.directory)
        self._out, self._out_size = out, out.tell()
        self._segments.append(first_seq)

    def _header_line(self) -> bytes:
        header = {"head_seq": self.head.seq, "head_hash": self.head.row_hash.hex()}
        return orjson.dumps(header) + b"\n"

    def append(self, rows: list[ChainedRow], *, keep: int = 0) -> None:
        """Write whole lines and hand them to the OS; `sync()` makes them durable.

        The rows also stay in memory for next_batch() unless `keep` rows are held already.
        """
        if self._out_size >= self.segment_bytes:
            self._rotate()
        data = b"".join([row.line for row in rows])
        try:
            _write_all(self._out, data)
        except OSError:
            # Disk full or gone: cut a partial write off so the next append starts a line.
            self._truncate_to(self._out_size)
            raise
        self._out_size += len(data)
        last = rows[-1]
        self.head = Head(last.seq, last.row_hash)
        self.unsynced = True
        if self._tail_rows < keep:
            self._tail.append((rows, Position(self._segments[-1], self._out_size)))
            self._tail_rows += len(rows)

    def forget_tail(self) -> None:
        """Postgres is down: the rows wait on disk only, and memory is not held for them."""
        self._tail.clear()
        self._tail_rows = 0

    def next_batch(self, limit: int) -> tuple[list[ChainedRow], Position]:
        """The oldest unsent rows and where the cursor goes once they are stored: from
        memory when they are next in line, read from disk otherwise (a backlog)."""
        tail = self._tail
        while tail and tail[0][0][-1].seq <= self.committed_seq:
            self._tail_rows -= len(tail.popleft()[0])
        if tail and tail[0][0][0].seq == self.committed_seq + 1 and len(tail[0][0]) <= limit:
            rows, end = tail.popleft()
            self._tail_rows -= len(rows)
            return rows, end
        return self.peek(limit)

    def _rotate(self) -> None:
        os.fsync(self._out.fileno())
        self._out.close()
        self._start_segment()

    def _truncate_to(self, size: int) -> None:
        try:
            self._out.truncate(size)
        except (OSError, ValueError):
            log.exception("audit journal %s: cannot truncate a partial write", self.directory)

    async def sync(self) -> None:
        """fsync off the event loop, on a duplicate descriptor that a rotation cannot close."""
        self.unsynced = False
        fd = os.dup(self._out.fileno())
        try:
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)

    @property
    def pending_rows(self) -> int:
        """Rows appended but not yet known to be in Postgres."""
        return self.head.seq - self.committed_seq

    def peek(self, limit: int) -> tuple[list[ChainedRow], Position]:
        """Up to `limit` rows after the cursor, and where the cursor goes once they are stored."""
        rows: list[ChainedRow] = []
        index = self._segments.index(self._cursor.segment)
        offset = self._cursor.offset
        while True:
            with self._path(self._segments[index]).open("rb") as f:
                f.seek(offset)
                while len(rows) < limit:
                    line = f.readline()
                    if not line.endswith(b"\n"):
                        break
                    offset += len(line)
                    row = self._parse(line)
                    if row is not None and row.seq > self.committed_seq:
                        rows.append(row)
            if len(rows) >= limit or index == len(self._segments) - 1:
                return rows, Position(self._segments[index], offset)
            index, offset = index + 1, 0

    def _parse(self, line: bytes) -> ChainedRow | None:
        try:
            row: dict[str, Any] = orjson.loads(line)
        except orjson.JSONDecodeError:
            # Only a disk fault gets here (appends are whole lines); the chain will show the gap.
            self.corrupt_lines += 1
            log.error("audit journal %s: skipping a corrupt line", self.directory)
            return None
        return None if "head_seq" in row else row_from_journal(row, line)

    def advance(self, position: Position, last_seq: int) -> None:
        """Rows up to last_seq are in Postgres: move on, delete segments wholly behind us."""
        self._cursor = position
        self.committed_seq = max(self.committed_seq, last_seq)
        if self.pending_rows == 0 and self._out_size >= _COMPACT_BYTES:
            self._compact()
        while self._segments[0] != self._cursor.segment:
            self._path(self._segments.pop(0)).unlink(missing_ok=True)

    def _compact(self) -> None:
        """Everything is stored: continue in a fresh segment that holds only the head."""
        self._rotate()
        self._cursor = Position(self._segments[-1], 0)

    def close(self, *, compact: bool = False) -> None:
        """With compact and nothing pending, the next start has nothing to replay."""
        if self._out is not None and compact and self.pending_rows == 0:
            if self._out_size > len(self._header_line()):
                self._compact()
            while self._segments[0] != self._cursor.segment:
                self._path(self._segments.pop(0)).unlink(missing_ok=True)
        if self._out is not None:
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None
