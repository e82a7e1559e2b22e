/**
 * A session's fields: one hash per session, in the session's slot (its key carries the same tag
 * as the meta key), read and written apart from the session value. Every call checks the session
 * first: a session that is gone has no fields, and a write to it writes nothing. The fields key
 * lives at least as long as its session: each write, and each save or touch of the session (see
 * KEEP_BESIDE), moves its expiry past the session's by up to FIELDS_SLACK_MS.
 */
import { type Driver, isNil, Script } from "../driver/driver.js";
import { KEEP_BESIDE, META } from "./lua.js";

/**
 * KEYS: session, fields. ARGV: mode ("some"/"all"), then the names for "some".
 * Reply: nil when the session is gone; else the values ("" where unset: no stored JSON is empty, and a
 * Lua false in a table would reach ioredis 6 as 0), or HGETALL's flat list.
 */
const FIELDS_READ = new Script(`#!lua flags=no-writes
local session_key, fields_key, mode = KEYS[1], KEYS[2], ARGV[1]
if redis.call('EXISTS', session_key) == 0 then return nil end
if mode == 'all' then return redis.call('HGETALL', fields_key) end
local values = redis.call('HMGET', fields_key, unpack(ARGV, 2))
for i = 1, #values do
  if not values[i] then values[i] = '' end
end
return values
`);

/** The stored (JSON) values of `names`, undefined where unset; null when the session is gone. */
export function readFields(
  driver: Driver,
  keys: { session: string; fields: string },
  names: readonly string[],
): Promise<(string | undefined)[] | null> {
  return driver
    .script<unknown[] | null>(FIELDS_READ, [keys.session, keys.fields], ["some", ...names])
    .then((reply) => (isNil(reply) ? null : reply.map((value) => (isNil(value) || value === "" ? undefined : String(value)))));
}

/** Every field of a session as [name, stored JSON] pairs; null when the session is gone. */
export function readAllFields(driver: Driver, keys: { session: string; fields: string }): Promise<[string, string][] | null> {
  return driver.script<unknown[] | Record<string, unknown> | null>(FIELDS_READ, [keys.session, keys.fields], ["all"]).then((reply) => {
    if (isNil(reply)) return null;
    if (!Array.isArray(reply)) return Object.entries(reply).map(([name, value]) => [name, String(value)]);
    const pairs: [string, string][] = [];
    for (let i = 0; i < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
    return pairs;
  });
}

/**
 * KEYS: session, meta, fields. ARGV: op ("set"/"delete"/"increment"), maxFields, then for "set"
 * name1, json1, name2, json2...; for "delete" the names; for "increment" name, by.
 * A tombstone or a missing session refuses the write. No flags: refused whole when Redis is full.
 * Reply: { 1, result } done (result: the new integer for "increment", else 0); { 0 } the session is
 * gone; { -1, count } over maxFields (count: how many there would be); { -2 } the field is not an integer.
 */
const FIELDS_WRITE = new Script(`#!lua
${META}${KEEP_BESIDE}
local session_key, meta_key, fields_key = KEYS[1], KEYS[2], KEYS[3]
local op, max_fields = ARGV[1], tonumber(ARGV[2])
if is_tombstone(redis.call('GET', meta_key)) or redis.call('EXISTS', session_key) == 0 then return { 0 } end
local result = 0
if op == 'delete' then
  redis.call('HDEL', fields_key, unpack(ARGV, 3))
else
  local added = 0
  for i = 3, #ARGV, 2 do
    if redis.call('HEXISTS', fields_key, ARGV[i]) == 0 then added = added + 1 end
  end
  local count = redis.call('HLEN', fields_key) + added
  if added > 0 and count > max_fields then return { -1, count } end
  if op == 'set' then
    redis.call('HSET', fields_key, unpack(ARGV, 3))
  else
    local current = redis.call('HGET', fields_key, ARGV[3])
    if current and not string.match(current, '^%-?%d+$') then return { -2 } end
    result = redis.call('HINCRBY', fields_key, ARGV[3], ARGV[4])
  end
end
local session_expiry = redis.call('PEXPIRETIME', session_key)
if session_expiry == -1 then session_expiry = 0 end
keep_beside(fields_key, session_expiry)
return { 1, result }
`);

export type FieldsWrite =
  | { op: "set"; pairs: readonly string[] }
  | { op: "delete"; names: readonly string[] }
  | { op: "increment"; name: string; by: number };

export type FieldsWritten = { done: true; result: number } | { done: false; reason: "gone" | "not-integer" | { tooMany: number } };

export function writeFields(
  driver: Driver,
  keys: { session: string; meta: string; fields: string },
  maxFields: number,
  write: FieldsWrite,
): Promise<FieldsWritten> {
  const args = write.op === "set" ? write.pairs : write.op === "delete" ? write.names : [write.name, String(write.by)];
  return driver
    .script<[number, number?]>(FIELDS_WRITE, [keys.session, keys.meta, keys.fields], [write.op, maxFields, ...args])
    .then(([code, value]): FieldsWritten => {
      switch (Number(code)) {
        case 1:
          return { done: true, result: Number(value ?? 0) };
        case -1:
          return { done: false, reason: { tooMany: Number(value) } };
        case -2:
          return { done: false, reason: "not-integer" };
        default:
          return { done: false, reason: "gone" };
      }
    });
}
