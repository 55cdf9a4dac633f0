"""The two Lua scripts (reserve, settle) and how they run: EVALSHA, falling back to EVAL."""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as redis
from redis.exceptions import NoScriptError, ResponseError

from proxy.ratelimit.pipe import ScriptPipe, bulk

# Every script's ARGV[1]: the time in ms, or 0 for Redis's own clock, which is what replicas
# share (a test passes its own, to move time by hand).
NOW_LUA: Final = """
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

# ARGV: now (0 = Redis's clock), member, then the checks, in the order of KEYS (one key per
# check), as big-endian doubles: ARGV[3] kind (1 g, 2 c, 3 b), limit and span per check (the
# same in every call of a plan, packed once), ARGV[4] the cost per check. Packed numbers,
# because Redis's Lua unpacks them in one C call; splitting words with string.gmatch, and
# encoding many arguments on the client, each cost more than the checks.
#   g (GCRA window):  limit = count per period, cost = requests or tokens, span = period ms
#   c (in flight):    limit = max concurrent, cost = slots, span = lease ms; one slot is the
#                     member itself, n slots (a replica's share, shares.py) member.1 to member.n
#   b (USD budget):   limit = micro-USD, cost = micro-USD reserved, span = window end (epoch ms)
# It returns 1 when it reserved (else 0) and the time, then per check: status (0 fits, 1 over
# the limit now, 2 larger than the limit itself), remaining after this request, ms until the
# scope is back to full, ms to wait before a retry; packed as doubles too. A string, not an
# array: Redis 6 sends a script's array reply in write() calls of its own (several per batch
# of calls, each waking the reader), a string with the batch's other replies in one.
#
# GCRA keeps one number per scope, the theoretical arrival time (TAT): the instant at which the
# scope would be back to full. A cost of n moves it n * period / limit later; a request fits
# when the new TAT is at most one period ahead of now. So a full burst of `limit` is possible,
# and after that the allowance comes back continuously: there is no window edge to exploit.
# All checks run before any write, so a request reserves in every scope or in none.
RESERVE_LUA: Final = (
    NOW_LUA
    + """
local member = ARGV[2]
local limits = {struct.unpack('>' .. string.rep('d', 3 * #KEYS), ARGV[3])}
local costs = {struct.unpack('>' .. string.rep('d', #KEYS), ARGV[4])}
-- Floating point slack: limit * (period / limit) may round just above the period.
local eps = 0.001
local out = {1, math.floor(now)}
local writes = {}
for i = 1, #KEYS do
  local base = (i - 1) * 3
  local kind, limit, span = limits[base + 1], limits[base + 2], limits[base + 3]
  local cost = costs[i]
  local key = KEYS[i]
  local status, remaining, reset, wait = 0, 0, 0, 0
  if kind == 1 then
    local interval = span / limit
    local tat = tonumber(redis.call('GET', key)) or now
    if tat < now then tat = now end
    local new_tat = tat + cost * interval
    if cost > limit then
      status, wait = 2, span
    elseif new_tat - now > span + eps then
      status, wait = 1, math.ceil(new_tat - span - now)
    end
    local ahead = new_tat - now
    if status ~= 0 then ahead = tat - now end
    remaining = math.floor((span - ahead) / interval + 1e-6)
    reset = math.ceil(ahead)
    writes[i] = new_tat
  elseif kind == 2 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local count = redis.call('ZCARD', key)
    if count + cost > limit then
      -- Nobody knows when another request ends; a second is a fair hint to come back.
      status, wait, remaining = 1, 1000, 0
    else
      remaining = limit - count - cost
    end
    reset = 0
  else
    local spent = tonumber(redis.call('GET', key)) or 0
    if cost > limit then
      status, wait = 2, math.ceil(span - now)
    elseif spent + cost > limit then
      status, wait = 1, math.ceil(span - now)
    end
    remaining = limit - spent - cost
    reset = math.ceil(span - now)
  end
  if status ~= 0 then out[1] = 0 end
  out[#out + 1] = status
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = wait
end
if out[1] == 1 then
  for i = 1, #KEYS do
    local base = (i - 1) * 3
    local kind, span = limits[base + 1], limits[base + 3]
    local cost = costs[i]
    local key = KEYS[i]
    if kind == 1 then
      if writes[i] > now then
        -- %.17g round-trips a double exactly, so repeated writes do not drift.
        redis.call('SET', key, string.format('%.17g', writes[i]),
                   'PX', math.ceil(writes[i] - now) + 1)
      end
    elseif kind == 2 then
      if cost == 1 then
        redis.call('ZADD', key, now + span, member)
      else
        local pairs = {}
        for j = 1, cost do
          pairs[2 * j - 1] = now + span
          pairs[2 * j] = member .. '.' .. j
        end
        redis.call('ZADD', key, unpack(pairs))
      end
      redis.call('PEXPIRE', key, math.ceil(span))
    elseif cost > 0 then
      redis.call('INCRBY', key, cost)
      -- Kept an hour past the window so that late settlements still find it.
      redis.call('PEXPIRE', key, math.ceil(span - now) + 3600000)
    end
  end
end
return struct.pack('>' .. string.rep('d', #out), unpack(out))
"""
)

# KEYS[1] is the "settled" marker, then one KEY per adjustment; ARGV: now, member, marker ttl,
# the checks' kinds, limits and spans and then their signed deltas, packed as in RESERVE_LUA,
# then any more in-flight members to free with the first (a share's unused slots).
# Returns 1 when applied, 0 when this reservation was settled before: settling twice changes
# nothing.
SETTLE_LUA: Final = (
    NOW_LUA
    + """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) == false then
  return 0
end
local member = ARGV[2]
local checks = #KEYS - 1
local limits = {struct.unpack('>' .. string.rep('d', 3 * checks), ARGV[4])}
local deltas = {struct.unpack('>' .. string.rep('d', checks), ARGV[5])}
for i = 2, #KEYS do
  local base = (i - 2) * 3
  local kind, limit, span = limits[base + 1], limits[base + 2], limits[base + 3]
  local delta = deltas[i - 1]
  local key = KEYS[i]
  if kind == 1 and delta ~= 0 then
    local tat = tonumber(redis.call('GET', key)) or now
    if tat < now then tat = now end
    -- A refund gives back at most what is still owed: a full scope stays full.
    local new_tat = tat + delta * span / limit
    if new_tat > now then
      redis.call('SET', key, string.format('%.17g', new_tat), 'PX', math.ceil(new_tat - now) + 1)
    else
      redis.call('DEL', key)
    end
  elseif kind == 2 then
    redis.call('ZREM', key, member, unpack(ARGV, 6))
  elseif kind == 3 and delta ~= 0 then
    local spent = redis.call('INCRBY', key, delta)
    if spent <= 0 then
      redis.call('DEL', key)
    else
      redis.call('PEXPIRE', key, math.ceil(span - now) + 3600000)
    end
  end
end
return 1
"""
)


@dataclass(frozen=True, slots=True)
class Keys:
    """A script call's KEYS, encoded: a plan's keys are the same in all its calls, so they are
    encoded once, with the plan."""

    count: int
    encoded: bytes

    @classmethod
    def of(cls, names: Sequence[str]) -> Keys:
        return cls(len(names), bulk(*names))

    def __add__(self, other: Keys) -> Keys:
        return Keys(self.count + other.count, self.encoded + other.encoded)


# One script call: its KEYS and its ARGV.
Call = tuple[Keys, Sequence[str | int | bytes]]


class Script:
    """A Lua script run by its SHA-1; a server that does not know it (restarted, failed over,
    flushed) gets the full text once via EVAL, which also caches it there."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        self._by_sha = bulk("EVALSHA", self.sha)
        self._by_text = bulk("EVAL", self.text)

    async def run(self, client: redis.Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One call through a redis-py client (off the request path)."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.text, len(keys), *keys, *args)

    async def call(
        self, pipe: ScriptPipe, keys: Keys, args: Sequence[str | int | bytes], timeout: float
    ) -> Any:
        """One call on the limiter's own connection."""
        return (await self.call_many(pipe, [(keys, args)], timeout))[0]

    async def call_many(self, pipe: ScriptPipe, calls: Sequence[Call], timeout: float) -> list[Any]:
        """Several calls in one round trip, each atomic on its own (their keys may lie in
        different hash slots), all within `timeout` seconds. An error reply raises, after
        every reply has been read."""
        started = time.monotonic()
        commands = [self._command(self._by_sha, *call) for call in calls]
        results = await pipe.execute(commands, timeout)
        unknown = [i for i, r in enumerate(results) if _no_script(r)]
        if unknown:
            texts = [self._command(self._by_text, *calls[i]) for i in unknown]
            left = timeout - (time.monotonic() - started)
            for i, result in zip(unknown, await pipe.execute(texts, left), strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, ResponseError):
                raise result
        return results

    @staticmethod
    def _command(head: bytes, keys: Keys, args: Sequence[str | int | bytes]) -> bytes:
        size = 3 + keys.count + len(args)  # EVALSHA sha numkeys KEYS... ARGV...
        return b"*%d\r\n%b%b%b%b" % (size, head, bulk(keys.count), keys.encoded, bulk(*args))


def _no_script(result: Any) -> bool:
    return isinstance(result, ResponseError) and str(result).startswith("NOSCRIPT")


def unpack_numbers(reply: bytes) -> list[int]:
    """A script's packed doubles as integers, truncated as Redis makes a Lua number one."""
    return [int(n) for n in struct.unpack(f">{len(reply) // 8}d", reply)]


RESERVE: Final = Script(RESERVE_LUA)
SETTLE: Final = Script(SETTLE_LUA)


def create_client(url: str, timeout: float, max_connections: int = 64) -> redis.Redis:
    """A client whose pool makes callers queue for a connection when all are busy.

    redis-py's default pool raises MaxConnectionsError past 100 connections in use, which a
    burst of requests reaches easily. The limiter's own connection (pipe.py) is opened with
    this client's settings. Connections open lazily, so this works while Redis is down.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return redis.Redis.from_pool(pool)
