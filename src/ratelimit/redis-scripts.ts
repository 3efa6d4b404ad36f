/**
 * The Lua side of the Redis admission (admission-redis.ts). Redis runs each script
 * atomically, which is what makes a check of several limits of several subjects by
 * many instances admit no more than the limits allow.
 *
 * The bucket arithmetic mirrors `bucket.ts` line for line (`refill`, `takeRequest`, the
 * tpm debit); the contract tests run both backends through the same cases. Numbers are
 * written with `%.0f` because Lua's default `tostring` keeps only 14 significant digits.
 */

const REFILL = `
local W = 60000
local function refill (level, ts, limit, now)
  local full = limit * W
  if level == nil then return full, now end
  if now <= ts then return math.min(level, full), ts end
  return math.min(level + limit * (now - ts), full), now
end
-- Never "-0": HINCRBY takes integers only.
local function fmt (x) if x == 0 then return '0' end return string.format('%.0f', x) end
local function keepFor (key, ms)
  local left = redis.call('PTTL', key)
  if left < ms then redis.call('PEXPIRE', key, ms) end
end
`

/*
 * Admission with reservations (admission-redis.ts). Every subject (a key, a team) keeps
 * its state in one hash tag, the tag of its spend sums in the ledger (ledger-redis.ts),
 * so that one script reads spend, reservations and buckets together and the ledger's
 * write can release reservations in the same step that makes their spend visible:
 *
 *   <tag>:sum  hash  "d:<day>" | "m:<YYYY-MM>" | "t" → spend stored by the ledger (nano-USD)
 *   <tag>:rl   hash  rl, rt = rpm bucket; tl, tt = tpm bucket; on, ok = open reserved
 *                    nano-USD and tokens; pn = settled nano-USD the ledger has not stored yet
 *   <tag>:o    zset  open requests: id → lease expiry (its size is the concurrency)
 *   <tag>:p    zset  settled, not yet stored by the ledger: id → expiry
 *   <tag>:a    hash  id → "<nano-USD>:<tokens>" held by that entry of o or p
 *
 * Spend as budgets see it = sum[period] + pn. A request's money is in exactly one of
 * on (open), pn (settled) or sum (stored) at any moment; each move is one script.
 */
const RESERVATIONS = REFILL + `
local function parseHeld (v)
  local n, t = string.match(v, '^(%d+):(%d+)$')
  return tonumber(n) or 0, tonumber(t) or 0
end
local function expire (h, o, p, a, now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', o, '-inf', now, 'LIMIT', 0, 256)) do
    local v = redis.call('HGET', a, id)
    if v then
      local n, t = parseHeld(v)
      if n > 0 then redis.call('HINCRBY', h, 'on', fmt(-n)) end
      if t > 0 then redis.call('HINCRBY', h, 'ok', fmt(-t)) end
      redis.call('HDEL', a, id)
    end
    redis.call('ZREM', o, id)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', p, '-inf', now, 'LIMIT', 0, 256)) do
    local v = redis.call('HGET', a, id)
    if v then
      local n = parseHeld(v)
      if n > 0 then redis.call('HINCRBY', h, 'pn', fmt(-n)) end
      redis.call('HDEL', a, id)
    end
    redis.call('ZREM', p, id)
  end
end
local function admits (used, open, claim, limit)
  if used >= limit then return false end
  return open == 0 or used + open + claim <= limit
end
`

/**
 * KEYS: per subject sum, rl, o, p, a. ARGV: now, lease expiry, id, claim nano-USD, claim
 * tokens, subjects, key ttl ms, then per subject rpm, tpm, concurrency (0 = none), budget
 * nano-USD (-1 = none), period field.
 * Returns per subject { refused (0 none, 1 budget, 2 rpm, 3 tpm, 4 concurrency), retryMs,
 * rpm level, tpm level less open tokens, in flight, spend (-1 = no budget), open nano-USD }.
 * Refused by any subject: nothing is written (expired entries are still cleared).
 */
export const ADMIT_LUA = RESERVATIONS + `
local now = tonumber(ARGV[1])
local claimN = tonumber(ARGV[4])
local claimT = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local out = {}
local st = {}
local anyRefused = false
for s = 1, n do
  local k = (s - 1) * 5
  local h, o, p, a = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local j = 7 + (s - 1) * 5
  local rpm, tpm, conc, budget = tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4])
  expire(h, o, p, a, now)
  local f = redis.call('HMGET', h, 'rl', 'rt', 'tl', 'tt', 'on', 'ok', 'pn')
  local on, ok, pn = tonumber(f[5]) or 0, tonumber(f[6]) or 0, tonumber(f[7]) or 0
  local refused, retry = 0, 0
  local spent = -1
  if budget >= 0 then
    spent = (tonumber(redis.call('HGET', KEYS[k + 1], ARGV[j + 5])) or 0) + pn
    if not admits(spent, on, claimN, budget) then refused = 1 end
  end
  local rl, rts, tl, tts = 0, now, 0, now
  if rpm > 0 then
    rl, rts = refill(tonumber(f[1]), tonumber(f[2]), rpm, now)
    if rl < W then
      if refused == 0 then refused = 2 end
      retry = math.max(retry, math.ceil((W - rl) / rpm))
    end
  end
  if tpm > 0 then
    tl, tts = refill(tonumber(f[3]), tonumber(f[4]), tpm, now)
    local full = tpm * W
    if not admits(full - tl, ok * W, claimT * W, full) then
      if refused == 0 then refused = 3 end
      local wait
      if ok == 0 then wait = math.floor(-tl / tpm) + 1
      else wait = math.min(W, math.max(1, math.ceil(((ok + claimT) * W - tl) / tpm))) end
      retry = math.max(retry, wait)
    end
  end
  local inFlight = redis.call('ZCARD', o)
  if conc > 0 and inFlight >= conc then
    if refused == 0 then refused = 4 end
    retry = math.max(retry, 1000)
  end
  if refused ~= 0 then anyRefused = true end
  st[s] = { rl = rl, rts = rts, tl = tl, tts = tts, ok = ok, inFlight = inFlight, rpm = rpm, tpm = tpm, conc = conc, budget = budget }
  for _, v in ipairs({ refused, retry, rl, tl - ok * W, inFlight, spent, on }) do out[#out + 1] = v end
end
if anyRefused then
  for s = 1, n do
    local i = (s - 1) * 7
    out[i + 3] = fmt(out[i + 3]); out[i + 4] = fmt(out[i + 4])
  end
  return out
end
for s = 1, n do
  local k = (s - 1) * 5
  local h, o, a = KEYS[k + 2], KEYS[k + 3], KEYS[k + 5]
  local x = st[s]
  local i = (s - 1) * 7
  if x.rpm > 0 then
    local rl = x.rl - W
    redis.call('HSET', h, 'rl', fmt(rl), 'rt', fmt(x.rts))
    keepFor(h, math.ceil((x.rpm * W - rl) / x.rpm) + 1000)
    out[i + 3] = rl
  end
  if x.tpm > 0 then
    redis.call('HSET', h, 'tl', fmt(x.tl), 'tt', fmt(x.tts))
    keepFor(h, math.ceil((x.tpm * W - x.tl) / x.tpm) + 1000)
    out[i + 4] = x.tl - (x.ok + claimT) * W
  end
  if x.conc > 0 or x.tpm > 0 or x.budget >= 0 then
    local heldN, heldT = 0, 0
    if x.budget >= 0 then heldN = claimN end
    if x.tpm > 0 then heldT = claimT end
    redis.call('ZADD', o, ARGV[2], ARGV[3])
    redis.call('HSET', a, ARGV[3], fmt(heldN) .. ':' .. fmt(heldT))
    if heldN > 0 then redis.call('HINCRBY', h, 'on', fmt(heldN)) end
    if heldT > 0 then redis.call('HINCRBY', h, 'ok', fmt(heldT)) end
    keepFor(h, ttl); keepFor(o, ttl); keepFor(a, ttl)
    out[i + 5] = x.inFlight + 1
  end
  out[i + 3] = fmt(out[i + 3]); out[i + 4] = fmt(out[i + 4])
end
return out
`

/**
 * KEYS: per subject sum, rl, o, p, a. ARGV: now, pending expiry, id, actual nano-USD,
 * actual tokens, subjects, key ttl ms, then per subject tpm (0 = none), budgeted (0/1),
 * period field.
 * An open entry leaves o; with a budget and a cost, the actual cost moves to p (pending
 * until the ledger stores it; see SPEND_APPLY). An entry no longer open was either
 * stored by the ledger already (its cost is in sum) or expired (the ledger will add its
 * cost to sum): either way nothing is added here. Tokens are debited from tpm at once.
 * Returns per subject the spend after it (-1 = no budget).
 */
export const SETTLE_RESERVED_LUA = RESERVATIONS + `
local now = tonumber(ARGV[1])
local id = ARGV[3]
local cost = tonumber(ARGV[4])
local tokens = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local out = {}
for s = 1, n do
  local k = (s - 1) * 5
  local h, o, p, a = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local j = 7 + (s - 1) * 3
  local tpm, budgeted = tonumber(ARGV[j + 1]), ARGV[j + 2] == '1'
  if redis.call('ZREM', o, id) == 1 then
    local v = redis.call('HGET', a, id)
    redis.call('HDEL', a, id)
    if v then
      local hn, ht = parseHeld(v)
      if hn > 0 then redis.call('HINCRBY', h, 'on', fmt(-hn)) end
      if ht > 0 then redis.call('HINCRBY', h, 'ok', fmt(-ht)) end
    end
    if budgeted and cost > 0 then
      redis.call('ZADD', p, ARGV[2], id)
      redis.call('HSET', a, id, fmt(cost) .. ':0')
      redis.call('HINCRBY', h, 'pn', fmt(cost))
      keepFor(h, ttl); keepFor(p, ttl); keepFor(a, ttl)
    end
  end
  if tpm > 0 and tokens > 0 then
    local f = redis.call('HMGET', h, 'tl', 'tt')
    local tl, tts = refill(tonumber(f[1]), tonumber(f[2]), tpm, now)
    tl = tl - tokens * W
    redis.call('HSET', h, 'tl', fmt(tl), 'tt', fmt(tts))
    keepFor(h, math.ceil((tpm * W - tl) / tpm) + 1000)
  end
  local spent = -1
  if budgeted then
    spent = (tonumber(redis.call('HGET', KEYS[k + 1], ARGV[j + 3])) or 0) + (tonumber(redis.call('HGET', h, 'pn')) or 0)
  end
  out[s] = fmt(spent)
end
return out
`

/**
 * KEYS: rl, o, a of one subject. ARGV: new expiry, key ttl ms, ids…
 * Pushes back the expiry of entries still open (XX: one that expired stays gone).
 */
export const RENEW_RESERVED_LUA = REFILL + `
for i = 3, #ARGV do redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[i]) end
local ttl = tonumber(ARGV[2])
keepFor(KEYS[1], ttl); keepFor(KEYS[2], ttl); keepFor(KEYS[3], ttl)
return 1
`

/**
 * The release side of the ledger's write (ledger-redis.ts prepends it to its scripts):
 * removes reservation ids from o or p of one subject and their money from on / pn, in
 * the same script that adds the stored cost to sum: `releaseAll(h, o, p, a, ids)` with
 * the subject's rl, o, p, a keys and a Lua table of ids.
 */
export const RELEASE_LUA = `
local function releaseAll (h, o, p, a, ids)
  local function neg (x) return string.format('%.0f', -x) end
  for _, id in ipairs(ids) do
    local v = redis.call('HGET', a, id)
    if v then
      local n, t = string.match(v, '^(%d+):(%d+)$')
      n = tonumber(n) or 0; t = tonumber(t) or 0
      if redis.call('ZREM', o, id) == 1 then
        if n > 0 then redis.call('HINCRBY', h, 'on', neg(n)) end
        if t > 0 then redis.call('HINCRBY', h, 'ok', neg(t)) end
      elseif redis.call('ZREM', p, id) == 1 then
        if n > 0 then redis.call('HINCRBY', h, 'pn', neg(n)) end
      end
      redis.call('HDEL', a, id)
    end
  end
end
`
