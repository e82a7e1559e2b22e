import type { SessionData } from "express-session";
import { indexPrefixConflict } from "./keys.js";
import { JSON_SERIALIZER, type Serializer } from "./serializer.js";

/** Who owns a session: a user id, or nothing for an anonymous session. */
export type UserIdResolver = (session: SessionData) => string | number | undefined | null;

/** Seconds a session lives in Redis; a function decides per session. */
export type TtlOption = number | ((session: SessionData) => number);

/** Options of {@link RedisStore}. The first seven have connect-redis 10's names, meanings and defaults. */
export interface RedisStoreOptions {
  /**
   * A connected node-redis 5 or 6 client: `createClient()`, `createCluster()` or `createSentinel()`.
   * The store never connects, quits or adds an `error` listener to it: that stays the application's.
   */
  client: unknown;
  /**
   * Prepended to every session id to make its Redis key. Must not be empty: the store scans
   * `prefix*` for all()/ids()/length()/clear(), and an empty prefix would match every key.
   * @default "sess:"
   */
  prefix?: string;
  /** Keys asked for per SCAN call and per MGET/UNLINK batch in bulk operations. @default 100 */
  scanCount?: number;
  /** Turns a session into the string stored in Redis and back. `parse` may return a Promise. @default JSON */
  serializer?: Serializer;
  /**
   * Seconds a session lives when its cookie has no `expires`; a function of the session wins over
   * the cookie. A result of 0 or less on set() deletes the session.
   * @default 86400
   */
  ttl?: TtlOption;
  /** Store sessions without an expiry (touch() then does nothing). @default false */
  disableTTL?: boolean;
  /** Make touch() do nothing, as connect-redis's option. @default false */
  disableTouch?: boolean;

  /**
   * Finds the owner of a session for the per-user index. Default: `session.userId`, else
   * `session.passport.user` when it is a string or number. `false` turns the per-user index and
   * activity tracking off: then the store writes only the session keys (and tombstones).
   */
  userId?: UserIdResolver | false;
  /**
   * Root of every key the store keeps besides sessions (per-user index, activity, tombstones). It
   * can never share a start with `prefix`, so `SCAN prefix*` never sees these keys.
   * No `{` or `}`: every meta key carries a hash tag of its own to share its session's cluster slot.
   * @default prefix with its trailing ":" replaced by "-index:" ("sess:" gives "sess-index:");
   * without a trailing colon, "~" + prefix + "~index:" ("app" gives "~app~index:"); braces and "%"
   * in the prefix are written %7B, %7D and %25
   */
  indexPrefix?: string;
  /**
   * When one user has more live sessions than this, the least recently active are destroyed on
   * set(); the session being saved is always kept. `0` means unlimited.
   * @default 0
   */
  maxSessionsPerUser?: number;
  /**
   * touch() writes to Redis at most once per this many seconds per session; the decision is made
   * inside the touch's own script, so it costs no extra round trip. Activity figures are then
   * accurate to this window.
   * @default 0
   */
  touchAfter?: number;
  /**
   * Seconds a destroyed session's tombstone lives. While it does, set() and touch() for that id are
   * refused atomically, so a request that loaded the session before logout cannot bring it back.
   * `0` turns tombstones off. With `userId: false` the default is 0, so the store sends exactly
   * connect-redis's commands; set it to keep tombstones without the index.
   * @default 600 (0 when `userId` is false)
   */
  tombstoneTtl?: number;
  /**
   * Milliseconds any one Redis command may take, including time spent waiting for a connection,
   * before the call fails with a {@link RedisUnavailableError}. `0` waits forever (not advised).
   * @default 2000
   */
  commandTimeout?: number;
  /** Largest serialized session, in bytes, that set() accepts. @default 1048576 (1 MiB) */
  maxSessionSize?: number;
}

/** {@link RedisStoreOptions} with every default filled in. */
export interface ResolvedOptions {
  readonly client: unknown;
  readonly prefix: string;
  readonly scanCount: number;
  readonly serializer: Serializer;
  readonly ttl: TtlOption;
  readonly disableTTL: boolean;
  readonly disableTouch: boolean;
  readonly userId: UserIdResolver | false;
  readonly indexPrefix: string;
  readonly maxSessionsPerUser: number;
  readonly touchAfter: number;
  readonly tombstoneTtl: number;
  readonly commandTimeout: number;
  readonly maxSessionSize: number;
}

const KNOWN = new Set([
  "client",
  "prefix",
  "scanCount",
  "serializer",
  "ttl",
  "disableTTL",
  "disableTouch",
  "userId",
  "indexPrefix",
  "maxSessionsPerUser",
  "touchAfter",
  "tombstoneTtl",
  "commandTimeout",
  "maxSessionSize",
]);

/** The default owner of a session: `userId`, else passport's serialized user. */
export const defaultUserId: UserIdResolver = (session) => {
  const s = session as { userId?: unknown; passport?: { user?: unknown } };
  if (typeof s.userId === "string" || typeof s.userId === "number") return s.userId;
  const user = s.passport?.user;
  return typeof user === "string" || typeof user === "number" ? user : undefined;
};

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}

/** One template for every option error: package, option, what was expected, what was given. */
export function optionError(name: string, expected: string, given: unknown): TypeError {
  return new TypeError(`redis-session-store: option "${name}" must be ${expected}, got ${describe(given)}`);
}

function integer(options: RedisStoreOptions, name: keyof RedisStoreOptions, fallback: number, min: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw optionError(name, min === 0 ? "a non-negative integer" : `an integer >= ${min}`, value);
  }
  return value;
}

function flag(options: RedisStoreOptions, name: keyof RedisStoreOptions): boolean {
  const value = options[name] ?? false;
  if (typeof value !== "boolean") throw optionError(name, "a boolean", value);
  return value;
}

/**
 * "sess:" gives "sess-index:"; a prefix without a trailing colon, such as "app?", gives
 * "~app?~index:" ("!" instead of "~" when the prefix itself starts with "~"). Different prefixes
 * always get different index prefixes (the two forms end differently), so stores never share an index.
 */
function defaultIndexPrefix(prefix: string): string {
  // Braces would give meta keys a second hash tag; "%" is escaped too, so the mapping stays one-to-one.
  const safe = prefix.replace(/[%{}]/g, (c) => (c === "%" ? "%25" : c === "{" ? "%7B" : "%7D"));
  if (safe.endsWith(":")) return `${safe.slice(0, -1)}-index:`;
  return `${safe.startsWith("~") ? "!" : "~"}${safe}~index:`;
}

let warnedTtlZero = false;

/** Validates options once and returns them frozen, with every default filled in. */
export function resolveOptions(options: RedisStoreOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw optionError("options", "an object with at least { client }", options);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) throw optionError(name, `one of the known options (${[...KNOWN].join(", ")})`, "an unknown option");
  }
  const { client } = options;
  const shape = client as { sendCommand?: unknown; isReady?: unknown; masters?: unknown } | null;
  if (
    shape === null ||
    typeof shape !== "object" ||
    typeof shape.sendCommand !== "function" ||
    (typeof shape.isReady !== "boolean" && !Array.isArray(shape.masters))
  ) {
    throw optionError(
      "client",
      "a node-redis 5/6 client from createClient(), createCluster() or createSentinel() (ioredis is not supported)",
      client,
    );
  }

  const prefix = options.prefix ?? "sess:";
  if (typeof prefix !== "string" || prefix.length === 0) throw optionError("prefix", "a non-empty string", prefix);

  const ttl = options.ttl ?? 86400;
  if (typeof ttl !== "function" && (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 0)) {
    throw optionError("ttl", "a non-negative integer number of seconds or a function (session) => seconds", ttl);
  }
  if (ttl === 0 && !warnedTtlZero) {
    warnedTtlZero = true;
    process.emitWarning("redis-session-store: ttl is 0, so every session whose cookie has no expires is deleted on save", {
      code: "REDIS_SESSION_STORE_TTL_ZERO",
    });
  }

  const serializer = options.serializer ?? JSON_SERIALIZER;
  if (
    serializer === null ||
    typeof serializer !== "object" ||
    typeof serializer.parse !== "function" ||
    typeof serializer.stringify !== "function"
  ) {
    throw optionError("serializer", "an object with parse(string) and stringify(session) functions", serializer);
  }

  const userId = options.userId ?? defaultUserId;
  if (userId !== false && typeof userId !== "function") {
    throw optionError("userId", "a function (session) => id, or false", userId);
  }

  const indexPrefix = options.indexPrefix ?? defaultIndexPrefix(prefix);
  if (typeof indexPrefix !== "string" || indexPrefix.length === 0 || /[{}]/.test(indexPrefix)) {
    throw optionError("indexPrefix", "a non-empty string without { or } (meta keys carry their own cluster hash tag)", indexPrefix);
  }
  if (indexPrefixConflict(indexPrefix, prefix)) {
    throw optionError("indexPrefix", `a string that neither starts with nor is a start of prefix ${JSON.stringify(prefix)}`, indexPrefix);
  }

  return Object.freeze({
    client,
    prefix,
    scanCount: integer(options, "scanCount", 100, 1),
    serializer,
    ttl,
    disableTTL: flag(options, "disableTTL"),
    disableTouch: flag(options, "disableTouch"),
    userId,
    indexPrefix,
    maxSessionsPerUser: integer(options, "maxSessionsPerUser", 0, 0),
    touchAfter: integer(options, "touchAfter", 0, 0),
    // Tombstones share the meta key with the index; with the index off the default is connect-redis's plain writes.
    tombstoneTtl: integer(options, "tombstoneTtl", userId === false ? 0 : 600, 0),
    commandTimeout: integer(options, "commandTimeout", 2000, 0),
    maxSessionSize: integer(options, "maxSessionSize", 1048576, 1),
  });
}
