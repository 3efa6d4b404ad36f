/**
 * The Lua side of the Redis limiter. Each script touches only the two keys of one gateway
 * key, both in the hash tag `{rl:<keyId>}` so they live in one Cluster slot:
 *
 *   {rl:<keyId>}     hash  rl, rt = RPM bucket level and time; tl, tt = TPM bucket (see bucket.ts)
 *   {rl:<keyId>}:c   zset  concurrency leases: member = lease id, score = expiry (epoch ms)
 *
 * The bucket arithmetic mirrors `bucket.ts` line for line (`refill`, `takeRequest`,
 * `admitTokens`, `debitTokens`); the contract tests run both backends through the same
 * cases. Numbers are written with `%.0f` because Lua's default `tostring` keeps only 14
 * significant digits. Redis runs each script atomically, which is what makes a check of
 * three limits by many instances admit no more than the limits allow.
 */

const REFILL = `
local W = 60000
local function refill (level, ts, limit, now)
  local full = limit * W
  if level == nil then return full, now end
  if now <= ts then return math.min(level, full), ts end
  return math.min(level + limit * (now - ts), full), now
end
local function fmt (x) return string.format('%.0f', x) end
local function keepFor (key, ms)
  local left = redis.call('PTTL', key)
  if left < ms then redis.call('PEXPIRE', key, ms) end
end
`

/**
 * KEYS: bucket hash, lease zset. ARGV: now, rpm, tpm, maxConcurrency (0 = none), lease id,
 * lease expiry, lease zset ttl.
 * Returns { refused (0 none, 1 rpm, 2 tpm, 3 concurrency), retryMs, rpm level, tpm level, in flight }.
 * Refused: nothing is written.
 */
export const ACQUIRE_LUA = REFILL + `
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local conc = tonumber(ARGV[4])
local st = redis.call('HMGET', KEYS[1], 'rl', 'rt', 'tl', 'tt')
local refused, retry = 0, 0
local rl, rts, tl, tts = 0, now, 0, now
if rpm > 0 then
  rl, rts = refill(tonumber(st[1]), tonumber(st[2]), rpm, now)
  if rl < W then refused = 1; retry = math.ceil((W - rl) / rpm) end
end
if tpm > 0 then
  tl, tts = refill(tonumber(st[3]), tonumber(st[4]), tpm, now)
  if tl <= 0 then
    if refused == 0 then refused = 2 end
    retry = math.max(retry, math.floor(-tl / tpm) + 1)
  end
end
local inFlight = 0
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  inFlight = redis.call('ZCARD', KEYS[2])
  if inFlight >= conc then
    if refused == 0 then refused = 3 end
    retry = math.max(retry, 1000)
  end
end
if refused == 0 then
  if rpm > 0 then
    rl = rl - W
    redis.call('HSET', KEYS[1], 'rl', fmt(rl), 'rt', fmt(rts))
    keepFor(KEYS[1], math.ceil((rpm * W - rl) / rpm) + 1000)
  end
  if tpm > 0 then
    redis.call('HSET', KEYS[1], 'tl', fmt(tl), 'tt', fmt(tts))
    keepFor(KEYS[1], math.ceil((tpm * W - tl) / tpm) + 1000)
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
    keepFor(KEYS[2], tonumber(ARGV[7]))
    inFlight = inFlight + 1
  end
end
return { refused, retry, rl, tl, inFlight }
`

/**
 * KEYS: bucket hash, lease zset. ARGV: now, tpm (0 = none), tokens, lease id ('' = none).
 * Releases the lease and debits the tokens (the level may go below zero).
 */
export const SETTLE_LUA = REFILL + `
local now = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
if tpm > 0 and tokens > 0 then
  local st = redis.call('HMGET', KEYS[1], 'tl', 'tt')
  local tl, tts = refill(tonumber(st[1]), tonumber(st[2]), tpm, now)
  tl = tl - tokens * W
  redis.call('HSET', KEYS[1], 'tl', fmt(tl), 'tt', fmt(tts))
  keepFor(KEYS[1], math.ceil((tpm * W - tl) / tpm) + 1000)
end
return 1
`

/**
 * KEYS: lease zset. ARGV: new expiry, zset ttl, lease ids…
 * Pushes back the expiry of leases still held (XX: a lease already expired and removed
 * stays removed; its request keeps running, but another may have taken its slot).
 */
export const RENEW_LUA = `
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i]) end
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`
