import type { SessionData } from "express-session";
import { JSON_SERIALIZER, type Serializer } from "./codec.js";
import { clientProblem, isSupportedClient, SUPPORTED_CLIENTS } from "./driver/index.js";
import { type DecryptWithOption, Encryption, type EncryptionOption } from "./encryption.js";
import { indexPrefixConflict } from "./keys.js";

/**
 * The shape every supported client has, structurally, so that a user's `tsc` passes whichever
 * clients are installed (no types are imported from optional peers). The constructor checks the
 * real thing: a client object it knows.
 */
export interface RedisClientLike {
  sendCommand(...args: any[]): unknown;
}

/**
 * Who owns a session: a user id, or nothing for an anonymous session. A bigint, or an object with
 * `toHexString()` (a MongoDB ObjectId), is taken by its string form.
 */
export type UserIdResolver = (session: SessionData) => string | number | bigint | { toHexString(): string } | undefined | null;

/** Seconds a session lives in Redis; a function decides per session. */
export type TtlOption = number | ((session: SessionData) => number);

/** Options of {@link RedisStore}. The first seven have connect-redis 10's names, meanings and defaults. */
export interface RedisStoreOptions {
  /**
   * A connected node-redis 5 or 6 client: `createClient()`, `createCluster()` or `createSentinel()`;
   * or an ioredis 5/6 or iovalkey client: `new Redis()`, `new Redis.Cluster()`,
   * `new Redis({ sentinels, name })`, `new Valkey()`, `new Valkey.Cluster()`, without `keyPrefix`.
   * The store never connects, quits or adds an `error` listener to it: that stays the application's.
   */
  client: RedisClientLike;
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
   * Seconds a touch() must move a session's expiry by before it is written to Redis. With "auto",
   * 1% of the session's lifetime, at most 60 s: a touch of a session loaded by the same request
   * (express-session's `createSession`) that moves its expiry by less is not sent at all, so most
   * requests cost Redis one GET. The expiry that reads report stays the key's real one; a session
   * may expire up to this bound before its cookie. `0`: every touch is written.
   * @default "auto" (0 when `userId` is false)
   */
  touchAfter?: number | "auto";
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
  /** Most fields one session may hold (`store.fields(sid)`). @default 100 */
  maxFields?: number;
  /** Largest field value, in bytes of its JSON. @default 65536 (64 KiB) */
  maxFieldSize?: number;
  /**
   * Seconds a session may live from its first save (its `createdAt`), however active it is: OWASP's
   * absolute timeout beside the idle timeout that the cookie's maxAge gives. No save or touch
   * extends a session past it, and get() after it returns null. `0` turns it off.
   * @default 0
   */
  absoluteTimeout?: number;
  /**
   * Encrypts every session and field value at rest (AES-256-GCM, bound to its session id):
   * `{ keys: [{ id, key }, ...] }` with 32-byte keys, the first encrypting and all decrypting, or an
   * adapter `{ encrypt(plaintext, sid), decrypt(envelope, sid) }` for keys held in a KMS. With
   * `acceptPlaintext: true`, sessions written before are read too. See docs/design.md#encryption.
   * @default undefined (values are stored as the serializer writes them)
   */
  encryption?: EncryptionOption;
  /**
   * Keys (or an adapter's `decrypt`) that open envelopes written while encryption was on, for a
   * store that writes plaintext again: each is written back plain at its next save, or by rotate().
   */
  decryptWith?: DecryptWithOption;
}

/** {@link RedisStoreOptions} with every default filled in. */
export interface ResolvedOptions {
  readonly client: RedisClientLike;
  readonly prefix: string;
  readonly scanCount: number;
  readonly serializer: Serializer;
  readonly ttl: TtlOption;
  readonly disableTTL: boolean;
  readonly disableTouch: boolean;
  readonly userId: UserIdResolver | false;
  readonly indexPrefix: string;
  readonly maxSessionsPerUser: number;
  readonly touchAfter: number | "auto";
  readonly tombstoneTtl: number;
  readonly commandTimeout: number;
  readonly maxSessionSize: number;
  readonly maxFields: number;
  readonly maxFieldSize: number;
  readonly absoluteTimeout: number;
  /** Seals and opens stored values; passes them through when encryption is off. */
  readonly encryption: Encryption;
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
  "maxFields",
  "maxFieldSize",
  "absoluteTimeout",
  "encryption",
  "decryptWith",
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
  if (typeof value === "bigint") return `${value}n`;
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

function touchAfter(options: RedisStoreOptions, fallback: number | "auto"): number | "auto" {
  const value = options.touchAfter ?? fallback;
  if (value === "auto") return value;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw optionError("touchAfter", 'a non-negative number of seconds or "auto"', value);
  }
  return value;
}

/** The known option nearest to a misspelt one (case first, then edit distance 2 at most). */
function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of KNOWN) {
    if (known.toLowerCase() === name.toLowerCase()) return known;
    const d = distance(name.toLowerCase(), known.toLowerCase());
    if (d < bestDistance) {
      best = known;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

let warnedTtlZero = false;

/** Validates options once and returns them frozen, with every default filled in. */
export function resolveOptions(options: RedisStoreOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw optionError("options", "an object with at least { client }", options);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name)) {
      const near = closest(name);
      throw new TypeError(
        `redis-session-store: unknown option "${name}"${near ? `; did you mean "${near}"?` : ""} (known: ${[...KNOWN].join(", ")})`,
      );
    }
  }
  const { client } = options;
  if (!isSupportedClient(client)) throw optionError("client", SUPPORTED_CLIENTS, client);
  const problem = clientProblem(client);
  if (problem) throw new TypeError(`redis-session-store: option "client" must be ${problem}`);

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
    touchAfter: touchAfter(options, userId === false ? 0 : "auto"),
    // Tombstones share the meta key with the index; with the index off the default is connect-redis's plain writes.
    tombstoneTtl: integer(options, "tombstoneTtl", userId === false ? 0 : 600, 0),
    commandTimeout: integer(options, "commandTimeout", 2000, 0),
    maxSessionSize: integer(options, "maxSessionSize", 1048576, 1),
    maxFields: integer(options, "maxFields", 100, 1),
    maxFieldSize: integer(options, "maxFieldSize", 65536, 1),
    absoluteTimeout: integer(options, "absoluteTimeout", 0, 0),
    encryption: new Encryption(options.encryption, options.decryptWith),
  });
}
