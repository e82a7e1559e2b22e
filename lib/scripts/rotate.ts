/**
 * What rotate() reads and writes: the stored values of a batch of sessions (each with its fields),
 * and a compare-and-set that replaces a value only if it is still the one read, so a save made
 * meanwhile is never overwritten with an older session. Both take the keys of one slot.
 */
import { type Driver, isNil, Script } from "../driver/driver.js";

/**
 * KEYS: session1, fields1, session2, fields2, ... (one slot).
 * Reply: flat { exists1 (1/0), value1 ("" when gone), { name, value, ... } (fields1), ... }.
 */
const ROTATE_READ = new Script(`#!lua flags=no-writes
local out = {}
for i = 1, #KEYS, 2 do
  local value = redis.call('GET', KEYS[i])
  if value then
    out[#out + 1] = 1
    out[#out + 1] = value
    out[#out + 1] = redis.call('HGETALL', KEYS[i + 1])
  else
    out[#out + 1] = 0
    out[#out + 1] = ''
    out[#out + 1] = {}
  end
end
return out
`);

/** A session as rotate() read it: undefined when gone, else its value and its fields as [name, value] pairs. */
export interface RotationRead {
  value: string;
  fields: [string, string][];
}

export function readForRotation(
  driver: Driver,
  items: readonly { session: string; fields: string }[],
): Promise<(RotationRead | undefined)[]> {
  return driver
    .script<unknown[]>(
      ROTATE_READ,
      items.flatMap((item) => [item.session, item.fields]),
      [],
    )
    .then((flat) =>
      items.map((_, i) => {
        if (Number(flat[3 * i]) !== 1) return undefined;
        const list = flat[3 * i + 2];
        const fields: [string, string][] = [];
        if (Array.isArray(list)) for (let f = 0; f < list.length; f += 2) fields.push([String(list[f]), String(list[f + 1])]);
        else if (list && typeof list === "object") for (const [name, value] of Object.entries(list)) fields.push([name, String(value)]);
        return { value: String(flat[3 * i + 1]), fields };
      }),
    );
}

/**
 * KEYS: the keys written (one slot). ARGV: per replacement 4 values: the index of its key in KEYS,
 * the field ("" for the session's own value), the SHA-1 of the value read, the new value.
 * A value is replaced only if it is still the one read; the key keeps its expiry. No flags: refused
 * whole when Redis is full. Reply: per replacement, 1 replaced or 0 not (changed or gone meanwhile).
 */
const ROTATE_WRITE = new Script(`#!lua
local out = {}
for i = 1, #ARGV, 4 do
  local key, field, read_sha, value = KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local current
  if field == '' then current = redis.call('GET', key) else current = redis.call('HGET', key, field) end
  if current and redis.sha1hex(current) == read_sha then
    if field == '' then redis.call('SET', key, value, 'KEEPTTL') else redis.call('HSET', key, field, value) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`);

/** One replacement: `key`'s value (or its `field`'s), if it still has the SHA-1 `readSha`. */
export interface Replacement {
  key: string;
  /** "" for a string key's value. */
  field: string;
  readSha: string;
  value: string;
}

/** Replaces values of one slot that are unchanged since read; resolves to which were replaced. */
export function replaceUnchanged(driver: Driver, replacements: readonly Replacement[]): Promise<boolean[]> {
  const keys: string[] = [];
  const at = new Map<string, number>();
  const args: string[] = [];
  for (const { key, field, readSha, value } of replacements) {
    let index = at.get(key);
    if (index === undefined) {
      index = keys.push(key);
      at.set(key, index);
    }
    args.push(String(index), field, readSha, value);
  }
  return driver
    .script<unknown[]>(ROTATE_WRITE, keys, args)
    .then((reply) => replacements.map((_, i) => !isNil(reply[i]) && Number(reply[i]) === 1));
}
