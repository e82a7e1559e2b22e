/**
 * What rotate() reads and writes: the stored values of a batch of sessions (each with its hashes),
 * and a compare-and-set that replaces a value only if it is still the one read, so a save made
 * meanwhile is never overwritten with an older session. Both take the keys of one slot.
 */
import { type Driver, isNil, Script } from "../driver/driver.js";

/**
 * KEYS: session1, its hashes (ARGV[1] of them), session2, its hashes, ... (one slot).
 * ARGV: hashes per session.
 * Reply: flat { exists1 (1/0), value1 ("" when gone), { name, value, ... } per hash, ... }.
 */
const ROTATE_READ = new Script(`#!lua flags=no-writes
local hashes = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, hashes + 1 do
  local value = redis.call('GET', KEYS[i])
  out[#out + 1] = value and 1 or 0
  out[#out + 1] = value or ''
  for h = 1, hashes do
    if value then out[#out + 1] = redis.call('HGETALL', KEYS[i + h]) else out[#out + 1] = {} end
  end
end
return out
`);

/** A session as rotate() read it: its value, and each of its hashes as [name, value] pairs. */
export interface RotationRead {
  value: string;
  hashes: [string, string][][];
}

/** The sessions of one slot with their hashes (each item names as many); undefined where a session is gone. */
export function readForRotation(
  driver: Driver,
  items: readonly { session: string; hashes: readonly string[] }[],
): Promise<(RotationRead | undefined)[]> {
  const perSession = items[0]?.hashes.length ?? 0;
  return driver
    .script<unknown[]>(
      ROTATE_READ,
      items.flatMap((item) => [item.session, ...item.hashes]),
      [perSession],
    )
    .then((flat) =>
      items.map((_, i) => {
        const at = i * (2 + perSession);
        if (Number(flat[at]) !== 1) return undefined;
        const hashes = Array.from({ length: perSession }, (_, h) => pairs(flat[at + 2 + h]));
        return { value: String(flat[at + 1]), hashes };
      }),
    );
}

/** HGETALL's reply as [name, value] pairs: a flat list (RESP2), or a map. */
function pairs(reply: unknown): [string, string][] {
  const out: [string, string][] = [];
  if (Array.isArray(reply)) for (let f = 0; f < reply.length; f += 2) out.push([String(reply[f]), String(reply[f + 1])]);
  else if (reply && typeof reply === "object") for (const [name, value] of Object.entries(reply)) out.push([name, String(value)]);
  return out;
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
