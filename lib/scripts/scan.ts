/**
 * A stretch of one SCAN run on the server, so that one round trip covers several SCAN calls: SCAN
 * cursor MATCH pattern COUNT count, up to `steps` times (fewer when the cursor comes back to 0).
 * Each SCAN call does the work of a SCAN sent by the client (connect-redis's `scanCount`); the
 * script only saves the round trips between them and, for "count" and "unlink", sending the keys.
 * It has no KEYS (the keys are found by SCAN), so it runs only on a single Redis, where every key
 * is on the one node.
 */
import { type Driver, Script } from "../driver/driver.js";

/** Keys' worth of SCAN calls per round trip: 10 calls of the default scanCount, 100. */
const BUDGET = 1000;

/**
 * ARGV: cursor, pattern, count, steps, mode, prefix. Only keys starting with the prefix are used.
 *   "keys"    reply { cursor, { key1, key2, ... } }
 *   "count"   reply { cursor, number of keys }
 *   "unlink"  UNLINKs the keys as they are found; reply { cursor, number unlinked }
 */
const SCAN_STEPS = new Script(`#!lua flags=allow-oom
local cursor, pattern, count, steps, mode, prefix = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local found, n = {}, 0
-- The keys of one SCAN reply that start with the prefix: the reply itself when all do (always, unless
-- the pattern let something else through), without copying it.
local function own(keys)
  for i = 1, #keys do
    if string.find(keys[i], prefix, 1, true) ~= 1 then
      local kept = {}
      for j = 1, #keys do
        if string.find(keys[j], prefix, 1, true) == 1 then kept[#kept + 1] = keys[j] end
      end
      return kept
    end
  end
  return keys
end
for _ = 1, steps do
  local reply = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count)
  cursor = reply[1]
  local keys = own(reply[2])
  if mode == 'keys' then
    for i = 1, #keys do found[n + i] = keys[i] end
    n = n + #keys
  elseif mode == 'count' then
    n = n + #keys
  else
    for i = 1, #keys, 1000 do n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys))) end
  end
  if cursor == '0' then break end
end
if mode == 'keys' then return { cursor, found } end
return { cursor, n }
`);

export type ScanMode = "keys" | "count" | "unlink";

/** One round trip of SCAN_STEPS: the next cursor, and the keys (mode "keys") or how many were counted or unlinked. */
export function scanSteps(
  driver: Driver,
  args: { cursor: string; pattern: string; count: number; mode: "keys"; prefix: string },
): Promise<[string, string[]]>;
export function scanSteps(
  driver: Driver,
  args: { cursor: string; pattern: string; count: number; mode: "count" | "unlink"; prefix: string },
): Promise<[string, number]>;
export function scanSteps(
  driver: Driver,
  args: { cursor: string; pattern: string; count: number; mode: ScanMode; prefix: string },
): Promise<[string, string[] | number]> {
  const steps = Math.max(1, Math.ceil(BUDGET / args.count));
  return driver
    .script<[string, string[] | number]>(SCAN_STEPS, [], [args.cursor, args.pattern, args.count, steps, args.mode, args.prefix])
    .then(([cursor, found]) => [String(cursor), typeof found === "object" ? found : Number(found)]);
}
