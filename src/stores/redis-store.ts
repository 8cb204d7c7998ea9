import type { Redis } from 'ioredis';
import { EventLimitError, IdempotencyKeyReusedError, StoreUnavailableError, TaskFinishedError, TaskLimitError, TaskNotFoundError } from '../core/errors.js';
import type { DurableLimits, DurableRecord, SentEvent, WaitOutcome, WaitRequest } from '../core/durable.js';
import { checkKeys, count, milliseconds } from '../core/options.js';
import type { Problem } from '../core/problem.js';
import { ACTIVITY_MINUTES, MINUTE, NO_ROUTE, newRouteMinute, type RouteMinute } from '../core/activity.js';
import type { NewTask, StoreListener, TaskListener, TaskStore } from '../core/store.js';
import { MAX_WORDS, SCAN_BUDGET, checkQuery, encodeCursor, matches, startOf, wordsOf, type TaskCounts, type TaskPage, type TaskQuery } from '../core/task-query.js';
import type { Outcome, Reply, Rerun, Task, TaskStatus } from '../core/task.js';

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /** The ioredis client for commands; the store makes a duplicate of it to subscribe. */
  client: Redis;
  /** Prefix of the store's keys and channels. Default `'express-async-api'`. */
  prefix?: string;
  /** Milliseconds a finished task is kept; `Infinity` keeps it. Default 300000. Stored with each task. */
  ttl?: number;
  /** Tasks held at once, live and finished. Default 100000. */
  maxTasks?: number;
  /** Milliseconds a failed, timed-out or canceled task is kept (to be rewound); `Infinity` keeps it. Default: `ttl`. Stored with each task. */
  failedTtl?: number;
}

// A task is one JSON string, with short names:
//   s status, c createdAt, t ttl (-1: kept), o owner, p progress, m message,
//   b startedAt, f finishedAt, r reply, x problem, q read once (1; absent otherwise),
//   k the Redis key of its idempotency key (absent without one), a attempt, n attempts,
//   w when the next attempt starts (between attempts), u route, h method, l url,
//   i the words it is found by, j 1 when its job is kept to run it again (as `job:<id>`),
//   e when it expires, once finished.
// An idempotency key is a string `<task id> <fingerprint>`, kept as long as its task: no
// expiry while the task is live, the task's ttl from its end, deleted with it.
// One string costs Redis less than a hash of the same fields once a value is longer than
// 64 bytes (a reply is), which makes Redis keep the hash as a hash table. Scripts change
// it as a whole; the reply and the problem come as JSON from the store and are appended to
// the encoding as they are (Lua's cjson cannot tell an empty array from an empty object), and
// no script encodes a finished task again. The problem holds the error's record when an error
// handler answers the task (`Problem.error`: plain JSON of the app's, at most 4 KB and 16
// levels deep, so that cjson decodes it), kept as it came.

// Each change is published with the task's state (its JSON), so that watchers need not read
// it; a state too big to send to every watching process (a large reply) is sent empty, and
// read by the watchers that want it; a removed task's is '-'.
//
// The indexes the dashboard lists by are sorted sets scored by creation time, with the id
// as member: `all`, `s:<status>`, `r:<route>`, `o:<owner>`, `w:<word>` (words of the URL and
// the messages, which the task lists in `i`), and `ids`, the ids in lower case for a prefix
// search by lexical range. `index` scores each task by its expiry (+inf while live): a
// finished task expires `ttl` after it finished (its `e`), when the next script's sweep
// takes it out of every index and deletes it; its key itself lives GRACE longer, so that
// the sweep can read what to take it out of, and is gone by then even if no process sweeps.
// `activity:<minute>` counts per route what was submitted and how it ended, and histograms
// of its queue and run times, for the last minutes.
const GRACE = 60_000;
const SWEEP_INTERVAL = 10_000;
const helpers = `
  local P = ARGV[1]
  local function publishState(channel, state)
    if #state > 65536 then state = '' end
    redis.call('PUBLISH', channel, state)
  end
  local function keep(key, state)
    redis.call('SET', key, state, 'KEEPTTL')
  end
  -- A task's key, and the task decoded; nothing but the key when there is none.
  local function load(id)
    local key = P .. 'task:' .. id
    local text = redis.call('GET', key)
    if not text then return key, nil end
    return key, cjson.decode(text)
  end
  local function moveStatus(id, task, to)
    if task.s ~= to then
      redis.call('ZREM', P .. 's:' .. task.s, id)
      redis.call('ZADD', P .. 's:' .. to, task.c, id)
    end
  end
  local function unindex(id, task)
    redis.call('ZREM', P .. 'all', id)
    redis.call('ZREM', P .. 's:' .. task.s, id)
    if task.u then redis.call('ZREM', P .. 'r:' .. task.u, id) end
    if task.o then redis.call('ZREM', P .. 'o:' .. task.o, id) end
    redis.call('ZREM', P .. 'ids', id)
    if task.i then for _, word in ipairs(task.i) do redis.call('ZREM', P .. 'w:' .. word, id) end end
    redis.call('ZREM', P .. 'index', id)
    -- Its idempotency key, unless the key is another task's now (this one expired, unswept).
    if task.k then
      local known = redis.call('GET', task.k)
      if known and string.sub(known, 1, #id + 1) == id .. ' ' then redis.call('DEL', task.k) end
    end
    if task.j then redis.call('DEL', P .. 'job:' .. id) end
    if task.d then redis.call('DEL', P .. 'd:' .. id) end
    redis.call('DEL', P .. 'task:' .. id)
  end
  -- Removes up to max tasks that have expired by now.
  local function sweep(now, max)
    local ids = redis.call('ZRANGEBYSCORE', P .. 'index', '-inf', now, 'LIMIT', 0, max)
    for _, id in ipairs(ids) do
      local _, task = load(id)
      if task then unindex(id, task) else redis.call('ZREM', P .. 'index', id) end
      redis.call('PUBLISH', ARGV[2] .. id, '-')
    end
    return #ids
  end
  local function bucketOf(ms)
    if ms <= 1 then return 0 end
    return math.ceil(math.log(ms) / math.log(${2 ** 0.25}) - 1e-9)
  end
  -- Counts an event of a route in the current minute's activity.
  local function count(now, route, field, by)
    local minute = now - (now % ${MINUTE})
    local key = P .. 'activity:' .. minute
    redis.call('HINCRBY', key, (route or '${NO_ROUTE}') .. '\\n' .. field, by or 1)
    redis.call('PEXPIRE', key, ${(ACTIVITY_MINUTES + 1) * MINUTE})
  end
  local function expired(task, now)
    return task.e ~= nil and task.e <= now
  end`;

// The transitions of core/task.ts canTransition(), as each script checks them. Every script
// takes ARGV[1], the prefix of the store's keys, and ARGV[2], that of its channels.
const scripts = {
  // ARGV: prefixes, now, max (-1: none), id, state, fingerprint, idempotency key ('' for
  // none), words (space-separated).
  // Returns 1 (created), 0 (full), -1 (key used for another request), or the state of the
  // key's task and its id.
  asyncApiCreateTask: {
    lua: `
      local now = tonumber(ARGV[3])
      local id = ARGV[5]
      local keyName = ARGV[8]
      if keyName ~= '' then
        local known = redis.call('GET', keyName)
        if known then
          local space = string.find(known, ' ', 1, true)
          local other = string.sub(known, 1, space - 1)
          if string.sub(known, space + 1) ~= ARGV[7] then return -1 end
          local text = redis.call('GET', P .. 'task:' .. other)
          if text and not expired(cjson.decode(text), now) then return {other, text} end
        end
      end
      sweep(now, 100)
      if ARGV[4] ~= '-1' and redis.call('ZCOUNT', P .. 'index', '(' .. ARGV[3], '+inf') >= tonumber(ARGV[4]) then return 0 end
      local task = cjson.decode(ARGV[6])
      redis.call('ZADD', P .. 'index', '+inf', id)
      redis.call('SET', P .. 'task:' .. id, ARGV[6])
      if keyName ~= '' then redis.call('SET', keyName, id .. ' ' .. ARGV[7]) end
      if ARGV[9] ~= '' then redis.call('SET', P .. 'job:' .. id, ARGV[9]) end
      redis.call('ZADD', P .. 'all', task.c, id)
      redis.call('ZADD', P .. 's:queued', task.c, id)
      if task.u then redis.call('ZADD', P .. 'r:' .. task.u, task.c, id) end
      if task.o then redis.call('ZADD', P .. 'o:' .. task.o, task.c, id) end
      redis.call('ZADD', P .. 'ids', 0, id)
      if task.i then for _, word in ipairs(task.i) do redis.call('ZADD', P .. 'w:' .. word, task.c, id) end end
      count(now, task.u, 'submitted')
      publishState(ARGV[2] .. id, ARGV[6])
      return 1`,
  },
  // ARGV: prefixes, id, at, takeOver.
  asyncApiStartTask: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task then return 0 end
      if task.s == 'queued' or (ARGV[5] == '1' and task.s == 'running') then
        moveStatus(id, task, 'running')
        task.s = 'running'
        task.b = tonumber(ARGV[4])
        task.w = nil
        local state = cjson.encode(task)
        keep(key, state)
        publishState(ARGV[2] .. id, state)
        return 1
      end
      return 0`,
  },
  // ARGV: prefixes, id, attempt, at, now.
  asyncApiRetryTask: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task then return 0 end
      if task.s == 'queued' then
        moveStatus(id, task, 'running')
        task.s = 'running'
        task.b = tonumber(ARGV[6])
      elseif task.s ~= 'running' then
        return 0
      end
      task.a = tonumber(ARGV[4])
      task.w = tonumber(ARGV[5])
      local state = cjson.encode(task)
      keep(key, state)
      publishState(ARGV[2] .. id, state)
      return 1`,
  },
  // ARGV: prefixes, id, fraction, message, hasMessage, words of the message (space-separated).
  asyncApiProgressTask: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task then return 0 end
      if task.s ~= 'queued' and task.s ~= 'running' then return 0 end
      task.p = tonumber(ARGV[4])
      if ARGV[6] == '1' then task.m = ARGV[5] else task.m = nil end
      if ARGV[7] ~= '' then
        -- The task is found by the words of each of its messages, up to a bound.
        local words = task.i or {}
        local known = {}
        for _, word in ipairs(words) do known[word] = true end
        for word in string.gmatch(ARGV[7], '%S+') do
          if not known[word] and #words < ${MAX_WORDS * 4} then
            known[word] = true
            words[#words + 1] = word
            redis.call('ZADD', P .. 'w:' .. word, task.c, id)
          end
        end
        if #words > 0 then task.i = words end
      end
      local state = cjson.encode(task)
      keep(key, state)
      publishState(ARGV[2] .. id, state)
      return 1`,
  },
  // ARGV: prefixes, id, status, at, field ('' for none), JSON value, startedAt ('' for none), now.
  asyncApiFinishTask: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task then return nil end
      local to = ARGV[4]
      local ran = ARGV[8] ~= ''
      if not (task.s == 'running' or (task.s == 'queued' and (to ~= 'succeeded' or ran))) then return nil end
      if ran and task.s == 'queued' then task.b = tonumber(ARGV[8]) end
      moveStatus(id, task, to)
      local now = tonumber(ARGV[9])
      -- The job to run it again is kept for a task that did not succeed.
      if to == 'succeeded' and task.j then
        redis.call('DEL', P .. 'job:' .. id)
        task.j = nil
      end
      task.s = to
      task.f = tonumber(ARGV[5])
      task.w = nil
      task.y = nil
      local ttl = task.t
      -- A task that did not succeed may be kept longer (to be rewound).
      if to ~= 'succeeded' and task.z then ttl = task.z end
      if ttl and ttl ~= -1 then task.e = now + ttl end
      local state = cjson.encode(task)
      if ARGV[6] ~= '' then state = string.sub(state, 1, -2) .. ',"' .. ARGV[6] .. '":' .. ARGV[7] .. '}' end
      if ttl and ttl ~= -1 then
        redis.call('SET', key, state, 'PX', ttl + ${GRACE})
        redis.call('ZADD', P .. 'index', task.e, id)
        if task.k then redis.call('PEXPIRE', task.k, ttl + ${GRACE}) end
        if task.j then redis.call('PEXPIRE', P .. 'job:' .. id, ttl + ${GRACE}) end
        if task.d then redis.call('PEXPIRE', P .. 'd:' .. id, ttl + ${GRACE}) end
      else
        redis.call('SET', key, state)
      end
      count(now, task.u, to)
      if task.b then
        count(now, task.u, 'queue:' .. bucketOf(task.b - task.c))
        count(now, task.u, 'run:' .. bucketOf(task.f - task.b))
      end
      publishState(ARGV[2] .. id, state)
      return state`,
  },
  // ARGV: prefixes, id, now. A finished task is deleted and returned; a live one returned.
  asyncApiTakeTask: {
    lua: `
      local id = ARGV[3]
      local text = redis.call('GET', P .. 'task:' .. id)
      if not text then return nil end
      local task = cjson.decode(text)
      if expired(task, tonumber(ARGV[4])) then return nil end
      if task.s ~= 'queued' and task.s ~= 'running' then
        unindex(id, task)
        redis.call('PUBLISH', ARGV[2] .. id, '-')
      end
      return text`,
  },
  // ARGV: prefixes, id, finished ('1': only a finished task, the dashboard's delete; else only a live task).
  asyncApiDeleteTask: {
    lua: `
      local id = ARGV[3]
      local _, task = load(id)
      if not task then return 0 end
      local live = task.s == 'queued' or task.s == 'running'
      if (ARGV[4] == '1') ~= live then
        unindex(id, task)
        redis.call('PUBLISH', ARGV[2] .. id, '-')
        return 1
      end
      return 0`,
  },
  // ARGV: prefixes, id, step name, JSON. Keeps a live task's step result (the first one kept stays).
  asyncApiKeepStep: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task or (task.s ~= 'queued' and task.s ~= 'running') then return 0 end
      redis.call('HSETNX', P .. 'd:' .. id, 's:' .. ARGV[4], ARGV[5])
      if not task.d then
        task.d = 1
        keep(key, cjson.encode(task))
      end
      return 1`,
  },
  // ARGV: prefixes, id, event, index (from 0), until ('' for none), now, spent.
  // Returns {'event', json}, {'timeout'}, {'waiting', until or ''}, or {'ended'}.
  asyncApiWait: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task or (task.s ~= 'queued' and task.s ~= 'running') then return {'ended'} end
      local event, index = ARGV[4], tonumber(ARGV[5])
      local dkey = P .. 'd:' .. id
      local text = redis.call('HGET', dkey, 'e:' .. event)
      local list = text and cjson.decode(text) or {}
      local entry = list[index + 1]
      if entry == false then return {'timeout'} end
      if entry ~= nil then return {'event', entry} end
      local current = task.y
      local untilText = ARGV[6]
      if current and current.e == event and current.i == index then untilText = current.u and tostring(current.u) or '' end
      task.d = 1
      if untilText ~= '' and tonumber(untilText) <= tonumber(ARGV[7]) then
        if #list == index then
          list[#list + 1] = false
          redis.call('HSET', dkey, 'e:' .. event, cjson.encode(list))
        end
        task.y = nil
        local state = cjson.encode(task)
        keep(key, state)
        if current then publishState(ARGV[2] .. id, state) end
        return {'timeout'}
      end
      redis.call('HSET', dkey, 't', ARGV[8])
      task.y = {e = event, i = index, u = untilText ~= '' and tonumber(untilText) or nil}
      local state = cjson.encode(task)
      keep(key, state)
      if not (current and current.e == event and current.i == index) then publishState(ARGV[2] .. id, state) end
      return {'waiting', untilText}`,
  },
  // ARGV: prefixes, id, event, JSON, max events, idempotency key ('' for none), now.
  // Returns {'kept' or 'repeat', woke 1/0}, {'unknown'}, {'finished', status} or {'limit'}.
  asyncApiSendEvent: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task or expired(task, tonumber(ARGV[8])) then return {'unknown'} end
      local dkey = P .. 'd:' .. id
      local eventKey = ARGV[7]
      -- A repeat of a key delivered already is answered as delivered, even once the task ended.
      if eventKey ~= '' and redis.call('HEXISTS', dkey, 'k:' .. eventKey) == 1 then return {'repeat', 0} end
      if task.s ~= 'queued' and task.s ~= 'running' then return {'finished', task.s} end
      local count = tonumber(redis.call('HGET', dkey, 'n') or '0')
      if count >= tonumber(ARGV[6]) then return {'limit'} end
      local name = ARGV[4]
      local text = redis.call('HGET', dkey, 'e:' .. name)
      local list = text and cjson.decode(text) or {}
      list[#list + 1] = ARGV[5]
      redis.call('HSET', dkey, 'e:' .. name, cjson.encode(list), 'n', count + 1)
      if eventKey ~= '' then redis.call('HSET', dkey, 'k:' .. eventKey, 1) end
      local woke = task.y and task.y.e == name and task.y.i == #list - 1
      if woke then task.y = nil end
      if woke or not task.d then
        task.d = 1
        local state = cjson.encode(task)
        keep(key, state)
        if woke then publishState(ARGV[2] .. id, state) end
      end
      return {'kept', woke and 1 or 0}`,
  },
  // ARGV: prefixes, id, now, finished by ('' for any). A failed or canceled task queued again
  // under its id; returns its state, or nil.
  asyncApiRewindTask: {
    lua: `
      local id = ARGV[3]
      local key, task = load(id)
      if not task or expired(task, tonumber(ARGV[4])) or (task.s ~= 'failed' and task.s ~= 'canceled') then return nil end
      if ARGV[5] ~= '' and task.f and task.f > tonumber(ARGV[5]) then return nil end
      local runs = task.v or {}
      runs[#runs + 1] = {s = task.s, b = task.b, f = task.f, x = task.x}
      task.v = runs
      task.rw = (task.rw or 0) + 1
      moveStatus(id, task, 'queued')
      task.s = 'queued'
      task.b, task.f, task.x, task.e, task.w, task.y, task.p, task.m = nil, nil, nil, nil, nil, nil, nil, nil
      if task.n then task.a = 1 end
      -- Live again: kept until it ends, as every live task.
      redis.call('ZADD', P .. 'index', '+inf', id)
      local state = cjson.encode(task)
      redis.call('SET', key, state)
      if task.k then redis.call('PERSIST', task.k) end
      if task.j then redis.call('PERSIST', P .. 'job:' .. id) end
      if task.d then redis.call('PERSIST', P .. 'd:' .. id) end
      publishState(ARGV[2] .. id, state)
      return state`,
  },
  // ARGV: prefixes, now. The sweep alone, for a store that is not asked for anything else.
  asyncApiSweepTasks: {
    lua: `return sweep(tonumber(ARGV[3]), 1000)`,
  },
  // ARGV: prefixes, now. Counts per status, after a sweep.
  asyncApiCountTasks: {
    lua: `
      while sweep(tonumber(ARGV[3]), 1000) == 1000 do end
      return {
        redis.call('ZCARD', P .. 's:queued'), redis.call('ZCARD', P .. 's:running'), redis.call('ZCARD', P .. 's:succeeded'),
        redis.call('ZCARD', P .. 's:failed'), redis.call('ZCARD', P .. 's:canceled'),
      }`,
  },
  // ARGV: prefixes, now, start score ('+inf' for none), start id, from score ('-inf' for
  // none), limit, budget, statuses (space-separated, '' for any), route, owner, id prefix,
  // words (space-separated), waiting ('1', '0', '' for any), then the keys of the indexes that
  // apply (the smallest is walked).
  // Returns the next position (score, id; '' for none) and the ids and states found.
  asyncApiListTasks: {
    lua: `
      local now = tonumber(ARGV[3])
      -- Fewer than the most a sweep takes: no expired task is left in any index.
      local clean = sweep(now, 1000) < 1000
      local startScore, startId, fromScore = ARGV[4], ARGV[5], ARGV[6]
      local limit, budget = tonumber(ARGV[7]), tonumber(ARGV[8])
      local statuses = {}
      local anyStatus = ARGV[9] == ''
      for status in string.gmatch(ARGV[9], '%S+') do statuses[status] = true end
      local route, owner, prefix, waiting = ARGV[10], ARGV[11], ARGV[12], ARGV[14]
      local words = {}
      for word in string.gmatch(ARGV[13], '%S+') do words[#words + 1] = word end
      local start = tonumber(startScore)
      local from = tonumber(fromScore)
      local found = {}
      local orphans = {}
      local scanned = 0
      local lastScore, lastId
      local nextScore, nextId = '', ''
      -- Set once the index to walk is known: every task in it matches, and none has expired.
      local unfiltered = false

      -- Whether the task with this state matches the query (its words are checked again by the caller).
      local function fits(id, task)
        if expired(task, now) then return false end
        if not anyStatus and not statuses[task.s] then return false end
        if route ~= '' and task.u ~= route then return false end
        if owner ~= '' and task.o ~= owner then return false end
        if prefix ~= '' and string.sub(string.lower(id), 1, #prefix) ~= prefix then return false end
        if waiting ~= '' and ((task.s == 'running' and task.y ~= nil) ~= (waiting == '1')) then return false end
        if #words > 0 then
          local has = {}
          for _, word in ipairs(task.i or {}) do has[word] = true end
          for _, word in ipairs(words) do if not has[word] then return false end end
        end
        return true
      end

      -- Looks at one candidate; false once the page is full or the budget spent.
      local function visit(id, score, key)
        if scanned == budget then
          nextScore, nextId = lastScore, lastId
          return false
        end
        scanned = scanned + 1
        lastScore, lastId = score, id
        local text = redis.call('GET', P .. 'task:' .. id)
        if not text then
          orphans[#orphans + 1] = {key, id}
        elseif unfiltered or fits(id, cjson.decode(text)) then
          found[#found + 1] = id
          found[#found + 1] = text
          if #found == 2 * limit then
            nextScore, nextId = score, id
            return false
          end
        end
        return true
      end

      local function older(score, id)
        return start == nil or score < start or (score == start and id < startId)
      end

      local walked = false
      if prefix ~= '' then
        -- An id prefix: its ids by lexical range, when they are few, sorted newest first.
        local ids = redis.call('ZRANGEBYLEX', P .. 'ids', '[' .. prefix, '(' .. prefix .. '\\255', 'LIMIT', 0, 1001)
        if #ids <= 1000 then
          walked = true
          local rows = {}
          for _, id in ipairs(ids) do
            local score = redis.call('ZSCORE', P .. 'all', id)
            if score then rows[#rows + 1] = {tonumber(score), id} end
          end
          table.sort(rows, function(a, b) return a[1] > b[1] or (a[1] == b[1] and a[2] > b[2]) end)
          for _, row in ipairs(rows) do
            if (from == nil or row[1] >= from) and older(row[1], row[2]) then
              if not visit(row[2], row[1], P .. 'all') then break end
            end
          end
        end
      end
      if not walked then
        -- The smallest index that applies, newest first from the start.
        local key, size = nil, nil
        for i = 15, #ARGV do
          local n = redis.call('ZCARD', ARGV[i])
          -- (On a tie the later, narrower index: a status's, walked without decoding a task.)
          if size == nil or n <= size then key, size = ARGV[i], n end
        end
        local only = string.match(ARGV[9], '^(%S+)$')
        unfiltered = clean and route == '' and owner == '' and prefix == '' and waiting == '' and #words == 0 and (anyStatus or (only ~= nil and key == P .. 's:' .. only))
        local rank = 0
        if start ~= nil then
          rank = redis.call('ZCOUNT', key, '(' .. startScore, '+inf')
          local ties = redis.call('ZRANGEBYSCORE', key, startScore, startScore)
          for _, id in ipairs(ties) do if id >= startId then rank = rank + 1 end end
        end
        local done = false
        while not done do
          -- (Walked unfiltered, the page's own tasks are all it needs.)
          local rows = redis.call('ZREVRANGE', key, rank, rank + (unfiltered and limit - #found / 2 - 1 or 99), 'WITHSCORES')
          if #rows == 0 then break end
          rank = rank + #rows / 2
          for i = 1, #rows, 2 do
            local score = tonumber(rows[i + 1])
            if from ~= nil and score < from then done = true break end
            if not visit(rows[i], score, key) then done = true break end
          end
        end
      end
      -- Ids whose task is gone without a sweep (no process ran for a while): out of the index walked.
      for _, orphan in ipairs(orphans) do redis.call('ZREM', orphan[1], orphan[2]) end
      local result = {tostring(nextScore), nextId}
      for _, value in ipairs(found) do result[#result + 1] = value end
      return result`,
  },
} as const;

type ScriptName = keyof typeof scripts;
type Scripted = Redis & Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

// A reply as JSON: its fields as they are, a binary body in base64.
type StoredReply = Omit<Reply, 'body'> & { body?: string; base64?: true };

function encodeReply(reply: Reply): string {
  const { body, ...rest } = reply;
  const stored: StoredReply = rest;
  if (typeof body === 'string') stored.body = body;
  else if (body !== undefined) {
    stored.body = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
    stored.base64 = true;
  }
  return JSON.stringify(stored);
}

function decodeReply(stored: StoredReply): Reply {
  const { body, base64, ...rest } = stored;
  return { ...rest, body: base64 && body !== undefined ? new Uint8Array(Buffer.from(body, 'base64')) : body };
}

/** A task as stored: see the names above. */
interface StoredTask {
  s: TaskStatus;
  c: number;
  t: number;
  o?: string;
  p?: number;
  m?: string;
  b?: number;
  f?: number;
  r?: StoredReply;
  x?: Problem;
  q?: 1;
  k?: string;
  a?: number;
  n?: number;
  w?: number;
  u?: string;
  h?: string;
  l?: string;
  /** Words it is found by. */
  i?: string[];
  /** 1: its job is kept (at `job:<id>`) to run it again. */
  j?: 1;
  /** When it expires (ms since the epoch), once finished. */
  e?: number;
  /** 1: it keeps steps or events (at `d:<id>`). */
  d?: 1;
  /** What it waits for: an event's name, its index, until when (see `WaitingFor`). */
  y?: { e: string; i: number; u?: number };
  /** Milliseconds it is kept once it failed or was canceled, when not `t`. */
  z?: number;
  /** How often it was rewound, and its runs before: status, started, finished, problem. */
  rw?: number;
  v?: { s: 'failed' | 'canceled'; b?: number; f?: number; x?: Problem }[];
}

function fromState(id: string, text: string | null): Task | undefined {
  if (text === null || text === '') return undefined;
  const task = JSON.parse(text) as StoredTask;
  // Expired, and not yet swept out of the indexes.
  if (task.e !== undefined && task.e <= Date.now()) return undefined;
  const found: Task = {
    id,
    owner: task.o,
    status: task.s,
    progress: task.p,
    message: task.m,
    createdAt: task.c,
    startedAt: task.b,
    finishedAt: task.f,
    reply: task.r === undefined ? undefined : decodeReply(task.r),
    problem: task.x,
  };
  const extra = found as { -readonly [K in keyof Task]: Task[K] };
  if (task.q === 1) extra.readOnce = true;
  if (task.n !== undefined) {
    extra.attempt = task.a ?? 1;
    extra.attempts = task.n;
    if (task.w !== undefined) extra.retryAt = task.w;
  }
  if (task.u !== undefined) extra.route = task.u;
  if (task.h !== undefined) extra.method = task.h;
  if (task.l !== undefined) extra.url = task.l;
  if (task.j === 1) extra.rerunnable = true;
  if (task.y !== undefined && task.s === 'running') extra.waitingFor = { event: task.y.e, index: task.y.i, until: task.y.u };
  if (task.rw !== undefined) extra.rewinds = task.rw;
  if (task.v !== undefined) extra.runs = task.v.map((run) => ({ status: run.s, startedAt: run.b, finishedAt: run.f, problem: run.x }));
  return found;
}

/**
 * Keeps tasks in Redis, for many web and worker processes: a JSON string per task, changed
 * only by Lua scripts that check the transition (so a task finishes once, whichever process
 * finishes it), a sorted set that counts the tasks held for `maxTasks`, and a channel per
 * task on which every change is published with the task's state, so any process can watch
 * any task. A finished task expires `ttl` after it finished (Redis removes it). A command
 * that cannot reach Redis rejects with `StoreUnavailableError`.
 */
export class RedisStore implements TaskStore {
  readonly #client: Scripted;
  readonly #prefix: string;
  // What every script takes first: the prefix of the store's keys, and of its channels.
  readonly #scriptPrefixes: [string, string];
  readonly #ttl: number;
  readonly #failedTtl: number;
  readonly #maxTasks: number;
  readonly #listeners = new Map<string, Set<TaskListener>>();
  readonly #feed = new Set<StoreListener>();
  readonly #sweeper: NodeJS.Timeout;
  #subscriber: Redis | undefined;
  #everReady = false;

  constructor(options: RedisStoreOptions) {
    const given = checkKeys(options, ['client', 'prefix', 'ttl', 'maxTasks', 'failedTtl'], 'RedisStore options');
    this.#client = given.client as Scripted;
    this.#prefix = (given.prefix as string | undefined) ?? 'express-async-api';
    this.#scriptPrefixes = [`{${this.#prefix}}:`, `${this.#prefix}:changed:`];
    this.#ttl = given.ttl === undefined ? 300_000 : milliseconds(given.ttl, 'RedisStore options.ttl', true);
    this.#failedTtl = given.failedTtl === undefined ? this.#ttl : milliseconds(given.failedTtl, 'RedisStore options.failedTtl', true);
    this.#maxTasks = given.maxTasks === undefined ? 100_000 : count(given.maxTasks, 'RedisStore options.maxTasks');
    // Expired tasks leave the indexes as other scripts run, and at least this often.
    this.#sweeper = setInterval(() => {
      if (this.#client.status === 'ready') this.#client.asyncApiSweepTasks(...this.#scriptPrefixes, Date.now()).catch(() => {});
    }, SWEEP_INTERVAL);
    this.#sweeper.unref();
    if (this.#client.status === 'ready') this.#everReady = true;
    else this.#client.once('ready', () => (this.#everReady = true));
    for (const [name, script] of Object.entries(scripts)) {
      if (typeof (this.#client as unknown as Record<string, unknown>)[name] !== 'function') {
        this.#client.defineCommand(name, { numberOfKeys: 0, lua: helpers + script.lua });
      }
    }
  }

  // One hash slot for all the keys of a store (the braces), so the scripts work on a cluster too.
  #task(id: string): string {
    return `{${this.#prefix}}:task:${id}`;
  }

  #key(key: string): string {
    return `{${this.#prefix}}:key:${key}`;
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      await this.#firstConnection();
      return await command();
    } catch (error) {
      throw new StoreUnavailableError({ cause: error });
    }
  }

  // A client that fails fast while Redis is unreachable (no offline queue) would also fail
  // the first commands of a process that has just started; those wait for the first
  // connection, a few seconds at most.
  #connected: Promise<void> | undefined;
  #firstConnection(): Promise<void> | undefined {
    const client = this.#client;
    if (this.#everReady || !['wait', 'connecting', 'connect'].includes(client.status)) return undefined;
    if (this.#connected !== undefined) return this.#connected;
    this.#connected = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 5_000);
      timer.unref();
      client.once('ready', done);
    }).finally(() => {
      this.#connected = undefined;
    });
    return this.#connected;
  }


  async create(task: NewTask): Promise<Task> {
    const { id, owner, createdAt, readOnce } = task;
    const state: StoredTask = { s: 'queued', c: createdAt, t: this.#ttl === Infinity ? -1 : this.#ttl };
    if (this.#failedTtl !== this.#ttl) state.z = this.#failedTtl === Infinity ? -1 : this.#failedTtl;
    if (owner !== undefined) state.o = owner;
    if (readOnce === true) state.q = 1;
    const { idempotency, attempts, route, method, url, rerun } = task;
    if (attempts !== undefined) {
      state.a = 1;
      state.n = attempts;
    }
    if (route !== undefined) state.u = route;
    if (method !== undefined) state.h = method;
    if (url !== undefined) state.l = url;
    const words = wordsOf(url ?? route ?? '');
    if (words.length > 0) state.i = words;
    if (rerun !== undefined) state.j = 1;
    const keyName = idempotency === undefined ? '' : this.#key(idempotency.key);
    if (idempotency !== undefined) state.k = keyName;
    const text = JSON.stringify(state);
    const created = (await this.#run(() =>
      this.#client.asyncApiCreateTask(
        ...this.#scriptPrefixes,
        Date.now(),
        this.#maxTasks === Infinity ? -1 : this.#maxTasks,
        id,
        text,
        idempotency?.fingerprint ?? '',
        keyName,
        // The job kept to run it again: beside the task, as JSON that no script decodes.
        rerun === undefined ? '' : JSON.stringify(rerun),
      ),
    )) as number | [string, string];
    if (created === 0) throw new TaskLimitError(this.#maxTasks);
    if (created === -1) throw new IdempotencyKeyReusedError();
    if (Array.isArray(created)) return fromState(created[0], created[1])!;
    return fromState(id, text)!;
  }

  async take(id: string): Promise<Task | undefined> {
    return fromState(id, (await this.#run(() => this.#client.asyncApiTakeTask(...this.#scriptPrefixes, id, Date.now()))) as string | null);
  }

  async get(id: string): Promise<Task | undefined> {
    return fromState(id, await this.#run(() => this.#client.get(this.#task(id))));
  }

  async rerun(id: string): Promise<Rerun | undefined> {
    const [text, job] = (await this.#run(() => this.#client.mget(this.#task(id), `{${this.#prefix}}:job:${id}`))) as [string | null, string | null];
    if (fromState(id, text) === undefined || job === null) return undefined;
    return JSON.parse(job) as Rerun;
  }

  async start(id: string, at: number, takeOver = false): Promise<boolean> {
    return (await this.#run(() => this.#client.asyncApiStartTask(...this.#scriptPrefixes, id, at, takeOver ? '1' : '0'))) === 1;
  }

  async retry(id: string, attempt: number, at: number): Promise<boolean> {
    return (await this.#run(() => this.#client.asyncApiRetryTask(...this.#scriptPrefixes, id, attempt, at, Date.now()))) === 1;
  }

  async progress(id: string, fraction: number, message: string | undefined): Promise<void> {
    const words = message === undefined ? '' : wordsOf(message).join(' ');
    await this.#run(() => this.#client.asyncApiProgressTask(...this.#scriptPrefixes, id, fraction, message ?? '', message === undefined ? '0' : '1', words));
  }

  async finish(id: string, outcome: Outcome, at: number, startedAt?: number): Promise<Task | undefined> {
    const [field, value] =
      outcome.status === 'succeeded'
        ? ['r', encodeReply(outcome.reply)]
        : outcome.status === 'failed'
          ? ['x', JSON.stringify(outcome.problem)]
          : ['', ''];
    const state = (await this.#run(() =>
      this.#client.asyncApiFinishTask(...this.#scriptPrefixes, id, outcome.status, at, field, value, startedAt ?? '', Date.now()),
    )) as string | null;
    return fromState(id, state);
  }

  async durable(id: string): Promise<DurableRecord | undefined> {
    const [text, fields] = (await this.#run(() =>
      this.#client.multi().get(this.#task(id)).hgetall(`{${this.#prefix}}:d:${id}`).exec(),
    ))!.map(([, value]) => value) as [string | null, Record<string, string>];
    if (fromState(id, text) === undefined) return undefined;
    const steps = new Map<string, string>();
    const events = new Map<string, readonly (string | null)[]>();
    for (const [field, value] of Object.entries(fields)) {
      if (field.startsWith('s:')) steps.set(field.slice(2), value);
      else if (field.startsWith('e:')) events.set(field.slice(2), (JSON.parse(value) as (string | false)[]).map((entry) => (entry === false ? null : entry)));
    }
    return { steps, events, spent: Number(fields.t ?? 0) };
  }

  async keepStep(id: string, name: string, json: string): Promise<boolean> {
    return (await this.#run(() => this.#client.asyncApiKeepStep(...this.#scriptPrefixes, id, name, json))) === 1;
  }

  async wait(id: string, request: WaitRequest): Promise<WaitOutcome> {
    const { event, index, until, now, spent } = request;
    const [kind, value] = (await this.#run(() =>
      this.#client.asyncApiWait(...this.#scriptPrefixes, id, event, index, until ?? '', now, spent),
    )) as [string, string | undefined];
    if (kind === 'event') return { kind, json: value! };
    if (kind === 'waiting') return { kind, until: value === '' || value === undefined ? undefined : Number(value) };
    return { kind: kind as 'timeout' | 'ended' };
  }

  async sendEvent(id: string, name: string, json: string, limits: Pick<DurableLimits, 'maxEvents'>, key?: string): Promise<SentEvent> {
    const [kind, value] = (await this.#run(() =>
      this.#client.asyncApiSendEvent(...this.#scriptPrefixes, id, name, json, limits.maxEvents, key ?? '', Date.now()),
    )) as [string, string | number | undefined];
    if (kind === 'unknown') throw new TaskNotFoundError(id);
    if (kind === 'finished') throw new TaskFinishedError(id, String(value), 'events go to queued and running tasks only');
    if (kind === 'limit') throw new EventLimitError(id, limits.maxEvents);
    return { kept: kind === 'kept', woke: value === 1 };
  }

  async delete(id: string, finished = false): Promise<boolean> {
    return (await this.#run(() => this.#client.asyncApiDeleteTask(...this.#scriptPrefixes, id, finished ? '1' : '0'))) === 1;
  }

  async rewind(id: string, finishedBy?: number): Promise<Task | undefined> {
    return fromState(id, (await this.#run(() => this.#client.asyncApiRewindTask(...this.#scriptPrefixes, id, Date.now(), finishedBy ?? ''))) as string | null);
  }

  async list(query?: TaskQuery): Promise<TaskPage> {
    const checked = checkQuery(query);
    const start = startOf(checked);
    const keys = (name: string) => `{${this.#prefix}}:${name}`;
    const indexes = [keys('all')];
    if (checked.status?.size === 1) indexes.push(keys(`s:${[...checked.status][0]}`));
    if (checked.waiting === true) indexes.push(keys('s:running'));
    if (checked.route !== undefined) indexes.push(keys(`r:${checked.route}`));
    if (checked.owner !== undefined) indexes.push(keys(`o:${checked.owner}`));
    for (const word of checked.words) indexes.push(keys(`w:${word}`));
    const result = (await this.#run(() =>
      this.#client.asyncApiListTasks(
        ...this.#scriptPrefixes,
        Date.now(),
        start === undefined ? '+inf' : start.at,
        start === undefined ? '' : start.id,
        checked.from === -Infinity ? '-inf' : checked.from,
        checked.limit,
        SCAN_BUDGET,
        checked.status === undefined ? '' : [...checked.status].join(' '),
        checked.route ?? '',
        checked.owner ?? '',
        checked.id ?? '',
        checked.words.join(' '),
        checked.waiting === undefined ? '' : checked.waiting ? '1' : '0',
        ...indexes,
      ),
    )) as string[];
    const tasks: Task[] = [];
    for (let i = 2; i < result.length; i += 2) {
      const task = fromState(result[i]!, result[i + 1]!);
      // The words are checked against its message now (the index knows its earlier ones too).
      if (task !== undefined && matches(task, checked)) tasks.push(task);
    }
    const [at, id] = result as [string, string];
    return { tasks, next: id === '' ? undefined : encodeCursor({ at: Number(at), id }) };
  }

  async counts(): Promise<TaskCounts> {
    const [queued, running, succeeded, failed, canceled] = (await this.#run(() => this.#client.asyncApiCountTasks(...this.#scriptPrefixes, Date.now()))) as number[];
    return { queued: queued!, running: running!, succeeded: succeeded!, failed: failed!, canceled: canceled! };
  }

  async activity(since: number): Promise<RouteMinute[]> {
    const now = Date.now();
    const first = Math.max(since - (since % MINUTE), now - (now % MINUTE) - (ACTIVITY_MINUTES - 1) * MINUTE);
    const minutes: number[] = [];
    for (let minute = first; minute <= now; minute += MINUTE) minutes.push(minute);
    const pipeline = this.#client.pipeline();
    for (const minute of minutes) pipeline.hgetall(`{${this.#prefix}}:activity:${minute}`);
    const results = await this.#run(() => pipeline.exec());
    const records: RouteMinute[] = [];
    minutes.forEach((minute, i) => {
      const fields = (results?.[i]?.[1] ?? {}) as Record<string, string>;
      const routes = new Map<string, RouteMinute>();
      for (const [field, value] of Object.entries(fields)) {
        const newline = field.lastIndexOf('\n');
        const route = field.slice(0, newline);
        const name = field.slice(newline + 1);
        let record = routes.get(route);
        if (record === undefined) routes.set(route, (record = newRouteMinute(minute, route)));
        const count = Number(value);
        if (name === 'submitted' || name === 'succeeded' || name === 'failed' || name === 'canceled') record[name] += count;
        else if (name.startsWith('run:')) record.run[Number(name.slice(4))] = count;
        else if (name.startsWith('queue:')) record.queue[Number(name.slice(6))] = count;
      }
      records.push(...routes.values());
    });
    return records;
  }

  /**
   * Calls `listener` with every change of every task of the store, from every process,
   * through the one pattern subscription (see `watch`).
   */
  watchAll(listener: StoreListener): () => void {
    this.#feed.add(listener);
    if (this.#subscribed === undefined) this.#subscribe();
    return () => void this.#feed.delete(listener);
  }

  /**
   * Watches a task through the store's one pattern subscription, which every change of
   * every task comes through with its state. A watch made while that subscription is still
   * being set up reads the task once it is in place, so a change meanwhile is not lost;
   * listeners may so hear of a state twice.
   */
  watch(id: string, listener: TaskListener): () => void {
    let listeners = this.#listeners.get(id);
    if (listeners === undefined) this.#listeners.set(id, (listeners = new Set()));
    listeners.add(listener);
    if (this.#subscribed === undefined) this.#subscribe();
    if (this.#subscribed !== true) this.#subscribed!.then(() => this.#read(id), () => {});
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#listeners.get(id) === listeners) this.#listeners.delete(id);
    };
  }

  /** Listeners watching the task `id`, or all tasks. */
  watcherCount(id?: string): number {
    if (id !== undefined) return this.#listeners.get(id)?.size ?? 0;
    let total = 0;
    for (const listeners of this.#listeners.values()) total += listeners.size;
    return total;
  }

  // true once the pattern subscription is in place; a promise while it is being set up.
  #subscribed: Promise<void> | true | undefined;

  #subscribe(): void {
    // Subscriptions wait for the connection (and ioredis renews them after a reconnect).
    const subscriber = this.#client.duplicate({ enableOfflineQueue: true });
    this.#subscriber = subscriber;
    // A lost connection is retried by ioredis; its errors are not ours to throw.
    subscriber.on('error', () => {});
    const prefix = `${this.#prefix}:changed:`;
    subscriber.on('pmessage', (_pattern: string, channel: string, state: string) => {
      const id = channel.slice(prefix.length);
      if (this.#feed.size > 0) this.#tellFeed(id, state);
      if (!this.#listeners.has(id) || state === '-') return;
      if (state === '') this.#read(id);
      else this.#tell(id, fromState(id, state));
    });
    const subscribed = subscriber.psubscribe(`${prefix}*`).then(() => {
      if (this.#subscribed === subscribed) this.#subscribed = true;
    });
    this.#subscribed = subscribed;
  }

  #tellFeed(id: string, state: string): void {
    const tell = (task: Task | undefined): void => {
      for (const listener of this.#feed) listener({ id, task });
    };
    if (state === '-') tell(undefined);
    else if (state === '') this.get(id).then(tell, () => {});
    else tell(fromState(id, state));
  }

  #read(id: string): void {
    if (this.#listeners.has(id)) this.get(id).then((task) => this.#tell(id, task), () => {});
  }

  #tell(id: string, task: Task | undefined): void {
    const listeners = this.#listeners.get(id);
    if (task === undefined || listeners === undefined) return;
    for (const listener of [...listeners]) listener(task);
  }

  /** Stops watching; the command client is its owner's to close. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#listeners.clear();
    this.#feed.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    this.#subscribed = undefined;
  }
}
