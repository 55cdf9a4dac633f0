"""ScriptPipe: the limiter's commands pipelined on one Redis connection of its own.

redis-py spends far more CPU around a command than on it: a pool checkout and release, a
retry wrapper, two timeouts, argument encoding one by one. With a reserve on every request
that was most of what rate limiting cost. Here a call is one write and one future. Redis
answers a connection's commands in the order they came, so every call in flight shares the
connection, and under load one read brings back the replies of many. Even a timer per call
was worth saving: one alarm per connection enforces every call's deadline.
"""

from __future__ import annotations

import asyncio
import math
from asyncio import Future
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import hiredis
import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, ResponseError

# Redis silent this long while calls wait on the connection: the peer is taken for dead.
DEAD_AFTER_SECONDS: Final = 2.0


def command(*parts: str | int | bytes) -> bytes:
    """One command in the Redis protocol: an array of bulk strings."""
    return b"*%d\r\n%b" % (len(parts), bulk(*parts))


def bulk(*parts: str | int | bytes) -> bytes:
    """Parts as the protocol's bulk strings, one after another: a command without its header,
    or a piece of one to encode once and reuse."""
    out = []
    for part in parts:
        if isinstance(part, str):
            data = part.encode()
        elif isinstance(part, bytes):
            data = part
        else:
            data = b"%d" % part
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


@dataclass(slots=True)
class _Batch:
    """Commands written together; their replies, once all have come."""

    future: Future[list[Any]]
    size: int
    sent: float  # loop time
    deadline: float  # loop time
    replies: list[Any]


class _Replies(asyncio.Protocol):
    """Replies matched to calls by order. A call whose caller gave up, or whose deadline
    passed, still has its replies read, and dropped, so that the next calls get their own."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = transport
        # Error replies come back as ResponseError values, not raised: one failed command
        # must not hide the replies after it.
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.waiting: deque[_Batch] = deque()
        self.lost = False
        self.heard = self.loop.time()  # when Redis last sent anything
        # Set for the earliest deadline of a call in flight, or later; see _expire().
        self.alarm: asyncio.TimerHandle | None = None
        self.outgoing: list[bytes] = []  # commands to write at the end of this loop turn

    def send(self, commands: Sequence[bytes], now: float, deadline: float) -> _Batch:
        batch = _Batch(self.loop.create_future(), len(commands), now, deadline, [])
        busy = bool(self.waiting)
        self.waiting.append(batch)
        if self.outgoing:
            self.outgoing.extend(commands)
        elif busy:
            # Replies to the calls in flight come first anyway: writing at the end of this
            # turn of the loop costs this call nothing, and the calls made meanwhile (other
            # requests') share one send.
            self.outgoing.extend(commands)
            self.loop.call_soon(self._flush)
        else:
            self.transport.write(commands[0] if len(commands) == 1 else b"".join(commands))
        if self.alarm is None or deadline < self.alarm.when():
            self._set_alarm(deadline)
        return batch

    def _flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if not self.lost:
            self.transport.write(b"".join(outgoing))

    def _set_alarm(self, when: float) -> None:
        if self.alarm is not None:
            self.alarm.cancel()
        self.alarm = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        """Fail the calls past their deadline; wake again at the next one. Calls are few
        (those in flight), and under steady load this runs about once per timeout."""
        self.alarm = None
        now, soonest = self.loop.time(), math.inf
        for batch in self.waiting:
            if batch.future.done():
                continue
            if batch.deadline <= now:
                batch.future.set_exception(TimeoutError("Redis did not answer in time"))
            else:
                soonest = min(soonest, batch.deadline)
        if soonest < math.inf:
            self._set_alarm(soonest)

    def data_received(self, data: bytes) -> None:
        self.heard = self.loop.time()
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            batch = self.waiting[0]
            batch.replies.append(reply)
            if len(batch.replies) == batch.size:
                self.waiting.popleft()
                if not batch.future.done():
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.alarm is not None:
            self.alarm.cancel()
            self.alarm = None
        error = ConnectionError(f"Redis connection lost: {exc or 'closed'}")
        while self.waiting:
            future = self.waiting.popleft().future
            if not future.done():
                future.set_exception(error)

    def abandon(self) -> None:
        """Close from our side; whatever is in flight fails with a ConnectionError."""
        self.lost = True
        self.transport.abort()


class ScriptPipe:
    """Commands on one connection opened like the client's own (same URL, credentials, TLS,
    database), reopened when it drops. Errors: TimeoutError past a call's deadline, and
    redis-py's ConnectionError, TimeoutError while connecting, ResponseError for an error
    reply.

    A connection that sends nothing for `dead_after` seconds while calls wait on it is
    taken for dead and replaced: a Redis that failed over, or a peer gone without a FIN,
    must not hold the limiter forever. The calls themselves fail at their own deadlines
    long before; the default is slow enough that a starved process, ours or Redis's, is not
    mistaken for a dead peer.
    """

    def __init__(self, client: redis.Redis, dead_after: float = DEAD_AFTER_SECONDS) -> None:
        pool = client.connection_pool
        self._connection_class = pool.connection_class
        self._connection_kwargs = dict(pool.connection_kwargs)
        self.dead_after = dead_after
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._replies: _Replies | None = None
        self._closed = False

    async def execute(self, commands: Sequence[bytes], timeout: float) -> list[Any]:
        """Write the commands at once and return their replies, in order; TimeoutError when
        they take longer than `timeout` seconds (connecting included)."""
        now = asyncio.get_running_loop().time()
        deadline = now + timeout
        replies = self._replies
        if replies is None or replies.lost or self._stalled(replies, now):
            async with asyncio.timeout_at(deadline):
                replies = await self._connect()
        return await replies.send(commands, now, deadline).future

    def _stalled(self, replies: _Replies, now: float) -> bool:
        if not replies.waiting:
            return False
        if now - max(replies.waiting[0].sent, replies.heard) <= self.dead_after:
            return False
        replies.abandon()
        return True

    async def _connect(self) -> _Replies:
        async with self._lock:
            if self._closed:
                raise ConnectionError("the rate limiter's Redis connection is closed")
            current = self._replies
            if current is not None and not current.lost:
                return current  # another caller connected while this one waited
            await self._disconnect()
            # redis-py opens it and does the handshake (AUTH, HELLO, SELECT, TLS); then the
            # socket is ours. Its stream writer is the one way to the transport.
            connection = self._connection_class(**self._connection_kwargs)
            self._connection = connection
            await connection.connect()  # type: ignore[no-untyped-call]
            if self._closed:
                await self._disconnect()
                raise ConnectionError("the rate limiter's Redis connection is closed")
            writer = connection._writer
            assert writer is not None
            transport = writer.transport
            replies = _Replies(transport)
            transport.set_protocol(replies)
            self._replies = replies
            return replies

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if self._replies is not None and not self._replies.lost:
            self._replies.abandon()
        self._replies = None
        if connection is not None:
            # nowait: the stream it would wait on no longer receives the socket's events.
            await connection.disconnect(nowait=True)

    async def aclose(self) -> None:
        self._closed = True
        await self._disconnect()
