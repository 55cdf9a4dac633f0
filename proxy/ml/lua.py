"""The Redis side of model statistics: keys, and the scripts that merge, freeze and reset.

Each model has three keys under one hash tag (`{model}`), so every script touches one slot
(Redis Cluster): `stats` (a hash: counters, Welford moments `n`/`mean`/`m2` and a recent
moving average per numeric feature `f:<name>:*` and for latency `lat:*`), `baseline` (a frozen
copy of the moments) and `latency` (the last samples, for percentiles). The model names are a
set of their own, written beside the scripts, never from inside one.

A replica adds up its observations for a flush interval with Welford's algorithm, then one
script merges that partial state into the shared one with Chan et al.'s formula (Welford's
update for a batch), atomically: replicas never lose each other's updates.
"""

from __future__ import annotations

from typing import Final

from proxy.ratelimit.lua import Script

MODELS_KEY: Final = "warden:ml:models"


def model_keys(model: str) -> tuple[str, str, str]:
    """stats, baseline and latency keys; the shared `{model}` hash tag keeps them in one slot."""
    tag = f"warden:ml:{{{model}}}"
    return f"{tag}:stats", f"{tag}:baseline", f"{tag}:latency"


# Shared by the scripts: formatting, and freezing the current moments as the baseline.
_PRELUDE: Final = """
local function fmt(x) return string.format('%.17g', x) end
local function is_moment(field)
  local kind = string.match(field, ':([^:]+)$')
  return (string.sub(field, 1, 2) == 'f:' or string.sub(field, 1, 4) == 'lat:')
    and (kind == 'n' or kind == 'mean' or kind == 'm2')
end
local function freeze(stats, baseline, now, source)
  local all = redis.call('HGETALL', stats)
  redis.call('DEL', baseline)
  local requests = 0
  for i = 1, #all, 2 do
    if is_moment(all[i]) then
      redis.call('HSET', baseline, all[i], all[i + 1])
    elseif all[i] == 'stat_requests' then
      requests = all[i + 1]
    end
  end
  redis.call('HSET', baseline, 'frozen_at', now, 'source', source, 'requests', requests)
end
"""

# KEYS: stats, baseline, latency.
# ARGV: now ms, auto-freeze after N requests (0: never), alpha of the moving averages,
#   latency samples kept, ttl ms, requests, rows, errors, risk normal, suspicious, risky,
#   latency n, mean, m2, sample count, the samples, then per feature: name, n, mean, m2.
# Returns {stats, baseline} as HGETALL lists: the merged state of every replica.
MERGE_LUA: Final = (
    _PRELUDE
    + """
local stats, baseline, latency = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local auto_n = tonumber(ARGV[2])
local alpha = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local requests = tonumber(ARGV[6])
local errors = tonumber(ARGV[8])

-- Chan et al.: (n_b, mean_b, m2_b) merged into the stored moments under `prefix`; the recent
-- mean moves as an exponential average would after n_b values of mean_b.
local function merge(prefix, n_b, mean_b, m2_b)
  if n_b <= 0 then return end
  local cur = redis.call('HMGET', stats, prefix .. 'n', prefix .. 'mean', prefix .. 'm2',
                         prefix .. 'recent')
  local n_a = tonumber(cur[1]) or 0
  local mean_a = tonumber(cur[2]) or 0
  local m2_a = tonumber(cur[3]) or 0
  local recent = tonumber(cur[4])
  local n = n_a + n_b
  local delta = mean_b - mean_a
  local mean = mean_a + delta * n_b / n
  local m2 = m2_a + m2_b + delta * delta * n_a * n_b / n
  local keep = (1 - alpha) ^ n_b
  if recent == nil then recent = mean_b else recent = recent * keep + mean_b * (1 - keep) end
  redis.call('HSET', stats, prefix .. 'n', fmt(n), prefix .. 'mean', fmt(mean),
             prefix .. 'm2', fmt(m2), prefix .. 'recent', fmt(recent))
end

redis.call('HINCRBY', stats, 'requests', requests)
redis.call('HINCRBY', stats, 'stat_requests', requests)
redis.call('HINCRBY', stats, 'rows', tonumber(ARGV[7]))
redis.call('HINCRBY', stats, 'errors', errors)
redis.call('HINCRBY', stats, 'risk:normal', tonumber(ARGV[9]))
redis.call('HINCRBY', stats, 'risk:suspicious', tonumber(ARGV[10]))
redis.call('HINCRBY', stats, 'risk:risky', tonumber(ARGV[11]))
redis.call('HSETNX', stats, 'first_seen', now)
redis.call('HSET', stats, 'last_seen', now)
local calls = requests + errors
if calls > 0 then
  local old = tonumber(redis.call('HGET', stats, 'err_recent'))
  local keep = (1 - alpha) ^ calls
  local rate = errors / calls
  if old == nil then old = rate end
  redis.call('HSET', stats, 'err_recent', fmt(old * keep + rate * (1 - keep)))
end
merge('lat:', tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]))
local samples = tonumber(ARGV[15])
local at = 16
if samples > 0 then
  for i = at, at + samples - 1 do redis.call('LPUSH', latency, ARGV[i]) end
  redis.call('LTRIM', latency, 0, cap - 1)
end
at = at + samples
while at + 3 <= #ARGV do
  merge('f:' .. ARGV[at] .. ':', tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]),
        tonumber(ARGV[at + 3]))
  at = at + 4
end
if auto_n > 0 and redis.call('EXISTS', baseline) == 0
    and tonumber(redis.call('HGET', stats, 'stat_requests')) >= auto_n then
  freeze(stats, baseline, now, 'auto')
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
return {redis.call('HGETALL', stats), redis.call('HGETALL', baseline)}
"""
)

# KEYS: stats, baseline. ARGV: now ms, source. Freezes what the statistics hold now.
# Returns {0} when there is nothing to freeze, else {1, stats, baseline}.
FREEZE_LUA: Final = (
    _PRELUDE
    + """
local requests = tonumber(redis.call('HGET', KEYS[1], 'stat_requests')) or 0
if requests == 0 then return {0} end
freeze(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {1, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""
)

# KEYS: stats, baseline. Drops the baseline and the moments, keeps the counters: the next
# `baseline_requests` predictions make a new baseline. Returns {0} for an unknown model.
RESET_LUA: Final = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
redis.call('DEL', KEYS[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local field = all[i]
  if string.sub(field, 1, 2) == 'f:' or string.sub(field, 1, 4) == 'lat:' then
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('HSET', KEYS[1], 'stat_requests', 0)
return {1, redis.call('HGETALL', KEYS[1]), {}}
"""
)

MERGE: Final = Script(MERGE_LUA)
FREEZE: Final = Script(FREEZE_LUA)
RESET: Final = Script(RESET_LUA)
