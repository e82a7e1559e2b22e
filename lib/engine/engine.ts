/**
 * Sessions as (id, value, lifetime, owner), for any framework: the adapters in frameworks/ turn
 * their own session objects into these calls. The engine is built once per store and picks every
 * mode there, in its constructor, from what the driver says of the topology and what the options
 * ask for; its methods then call what was picked. Nowhere else is the topology read.
 */
import { DEVICE_PURPOSE } from "../device.js";
import type { Driver } from "../driver/driver.js";
import type { Keys } from "../keys.js";
import type { Destroyed, DestroyReason } from "../scripts/destroy.js";
import type { TouchResult } from "../scripts/session.js";
import { Bulk } from "./bulk.js";
import type { Decode } from "./decode.js";
import { warnOfEviction } from "./eviction.js";
import { type FieldLimits, SessionFields, type StoredValues } from "./fields.js";
import { type RotateOptions, type RotateProgress, rotate } from "./rotate.js";
import { ClientSweep, ServerSweep } from "./sweep.js";
import { UserIndex } from "./user-index.js";
import { AtOnceLookup, PerSlotLookup } from "./user-lookup.js";
import { PlainWrites, type SaveRequest, type TouchRequest, type WriteMode } from "./writes.js";
import { AtomicWrites } from "./writes-atomic.js";
import { PartWrites } from "./writes-parts.js";

/**
 * How a touch shows in reads (connect-redis #259):
 * - "rewrite": the touch rewrites the expiry date inside the stored value (express-session's JSON), so reads stay GET/MGET;
 * - "read-expiry": the touch moves the key's expiry alone, and reads ask Redis for the time left;
 * - "none": reads show the value as saved (connect-redis's behaviour; the store without the index).
 */
export type TouchShows = "rewrite" | "read-expiry" | "none";

export interface EngineOptions<S> {
  driver: Driver;
  keys: Keys;
  /** Is the per-user index (with activity) kept? */
  indexed: boolean;
  /** How long a tombstone lives, ms; 0: none. */
  tombstoneMs: number;
  /** How long a session may live from its createdAt, however active, ms; 0: no limit. */
  absoluteMs: number;
  /** Destroy the least recently active sessions of a user beyond this many; 0: unlimited. */
  maxSessionsPerUser: number;
  scanCount: number;
  touchShows: TouchShows;
  /** A fixed touchAfter in ms, or "auto" (1% of the session's lifetime, at most 60 s) for touches of loaded sessions. */
  touchAfter: number | "auto";
  decode: Decode<S>;
  fieldLimits: FieldLimits;
  /** The store's encryption, and where it reports values that can't be opened (fields, rotate()). */
  stored: StoredValues;
  /** Hears of the sessions the store itself creates and destroys (audit events; this process only). */
  report(event: StoreEvent): void;
  /**
   * The owner a stored value of `sid` names (undefined when it can't be read): a repeat save
   * compares it with the owner the request loaded, to see whether another process changed the
   * owner meanwhile. An encrypted value is opened for that, so owners never need to be stored plain.
   */
  ownerOfValue(sid: string, value: string): string | undefined | Promise<string | undefined>;
}

/** What the store tells of its own writes, for an audit log. */
export type StoreEvent =
  | { type: "created"; id: string; userId: string | null }
  | { type: "destroyed"; id: string; userId: string | null; reason: DestroyReason }
  | { type: "evicted"; id: string; userId: string };

/** The auto touchAfter: 1% of the lifetime, at most a minute. */
const AUTO_TOUCH_SHARE = 0.01;
const AUTO_TOUCH_MAX_MS = 60_000;

/** The auto touchAfter for a lifetime, in ms. */
function autoBound(ttlMs: number): number {
  return Math.min(Math.floor(ttlMs * AUTO_TOUCH_SHARE), AUTO_TOUCH_MAX_MS);
}

/** A touch, with the expiry (ms, this process's clock) the session had when the request loaded it, if known. */
export type Touch = TouchRequest & {
  loadedExpireAt?: number | undefined;
};

/** A save, with what the request loaded: the owner then, and whether the key keeps its expiry (see keepsExpiry). */
export type Save = SaveRequest & {
  /** The owner when the request loaded the session; with `keepExpiry`, the save is a repeat save. */
  loadedOwner?: string | undefined;
  /**
   * true: the adapter found with keepsExpiry() that the loaded expiry barely moves; "check": the
   * loaded expiry is unknown (the stored value does not hold it), so Redis's PTTL, read in the same
   * round trip, decides.
   */
  keepExpiry?: boolean | "check";
};

export class Engine<S> {
  readonly driver: Driver;
  readonly keys: Keys;
  readonly users: UserIndex<S> | undefined;
  readonly bulk: Bulk<S>;
  readonly #writes: WriteMode;
  readonly #options: EngineOptions<S>;
  readonly #tombstones: boolean;
  /** Is the eviction policy still to be checked (at the first save, with the index on)? */
  #checkEviction: boolean;

  constructor(options: EngineOptions<S>) {
    const { driver, keys, indexed, tombstoneMs, absoluteMs } = options;
    this.driver = driver;
    this.keys = keys;
    this.#options = options;
    this.#tombstones = tombstoneMs > 0;
    this.#checkEviction = indexed;
    // The one place that looks at the topology.
    const scripts = indexed || tombstoneMs > 0 || absoluteMs > 0;
    this.#writes = !scripts
      ? new PlainWrites(driver, keys)
      : indexed && !driver.sharded
        ? new AtomicWrites(driver, keys, tombstoneMs, absoluteMs)
        : new PartWrites(driver, keys, tombstoneMs, indexed, absoluteMs);
    if (indexed) {
      const lookup = driver.sharded ? new PerSlotLookup(driver, keys) : new AtOnceLookup(driver, keys);
      this.users = new UserIndex(driver, keys, lookup, options.decode, tombstoneMs, options.stored);
    }
    // A store that sends no script at all (connect-redis's commands) scans with plain SCAN too, so
    // it works for an ACL user without @scripting.
    const sweep = scripts && !driver.sharded ? new ServerSweep(driver, keys) : new ClientSweep(driver, keys);
    this.bulk = new Bulk(driver, keys, sweep, {
      scanCount: options.scanCount,
      readsExpiry: options.touchShows === "read-expiry",
      index: this.users,
      decode: options.decode,
      cleared: (userId, ids) => {
        for (const id of ids) options.report({ type: "destroyed", id, userId, reason: "clear" });
      },
    });
  }

  /** A session, or null; unreadable values are reported by `decode` and read as null. */
  read(sid: string): Promise<S | null> {
    const key = this.keys.session(sid);
    if (this.#options.touchShows === "read-expiry") {
      // GET and PTTL sent together (one round trip), not a script: a quarter of the Redis time. A key
      // gone between the two (PTTL -2) reads as gone; one touched between them shows its newer expiry.
      return Promise.all([this.driver.command<string | null>(key, ["GET", key]), this.driver.command<number>(key, ["PTTL", key])]).then(
        ([value, ttl]) => {
          const ttlMs = Number(ttl);
          return value === null || value === undefined || ttlMs === -2 ? null : this.#options.decode(sid, String(value), ttlMs);
        },
      );
    }
    return this.driver.command<string | null, S | null>(key, ["GET", key], (value) =>
      value === null || value === undefined ? null : this.#options.decode(sid, String(value)),
    );
  }

  /**
   * Why and when a session was destroyed, for as long as its tombstone lives; null when it has none
   * (never destroyed, expired, or the tombstone is gone).
   */
  async revocation(sid: string): Promise<{ reason: string; at: Date } | null> {
    const meta = this.keys.meta(sid);
    const value = await this.driver.command<string | null>(meta, ["GET", meta]);
    const found = typeof value === "string" ? /^D(\d+):(.*)$/s.exec(value) : null;
    return found ? { reason: found[2] as string, at: new Date(Number(found[1])) } : null;
  }

  /**
   * The fields of one session, or undefined in the plain mode: its connect-redis writes do not keep
   * a fields key alive with its session.
   */
  fields(sid: string): SessionFields | undefined {
    if (!this.#writes.indexesOwners) return undefined;
    return new SessionFields(this.driver, this.keys, sid, this.#options.fieldLimits, this.#options.stored);
  }

  /** Rewrites every session and field not in the form the store writes now, batch by batch (rotate.ts). */
  rotate(options: RotateOptions): AsyncGenerator<RotateProgress> {
    return rotate(this.driver, this.keys, this.#options.stored, options);
  }

  /**
   * Would a write that gives a loaded session `ttlMs` from now move its expiry by less than
   * touchAfter? Then a touch is not sent, and a save keeps the key's expiry (a repeat save).
   */
  keepsExpiry(ttlMs: number, loadedExpireAt: number | undefined): boolean {
    if (loadedExpireAt === undefined || ttlMs <= 0) return false;
    return this.#near(ttlMs, loadedExpireAt - Date.now());
  }

  /** Is a key's time left within touchAfter of the lifetime a write would give it? */
  #near(ttlMs: number, leftMs: number): boolean {
    const { touchAfter } = this.#options;
    const bound = touchAfter === "auto" ? autoBound(ttlMs) : touchAfter;
    return bound > 0 && leftMs > 0 && Math.abs(ttlMs - leftMs) < bound;
  }

  /**
   * Saves a session; resolves to false when refused (destroyed, or gone while it had to exist).
   *
   * A repeat save (a loaded session, same owner, expiry kept) is one plain command, SET XX KEEPTTL
   * GET: its owner record and index entry already cover the key's expiry, which does not move. XX
   * never recreates a destroyed session; the value it replaced shows whether another process
   * changed the owner meanwhile, and then the full write runs, so the index follows the session.
   * With `keepExpiry: "check"`, a PTTL sent right behind it says whether the expiry it kept is
   * within touchAfter of `ttlMs`; when it is not, the full write runs too and moves it.
   */
  async save(request: Save): Promise<boolean> {
    if (request.keepExpiry && request.loadedOwner === request.owner && request.ttlMs > 0 && this.#writes.indexesOwners) {
      const repeated = await this.#repeatSave(request);
      if (repeated !== "full") return repeated;
    }
    const limit = this.#options.maxSessionsPerUser;
    const count = limit > 0 && request.owner !== "";
    if (request.device) request = { ...request, device: await this.#seal(request.sid, request.device) };
    let written = this.#writes.save(request, count);
    if (this.#checkEviction) {
      this.#checkEviction = false;
      // Beside the first save, never in its way: the check swallows its own errors.
      written = Promise.all([written, warnOfEviction(this.driver, this.keys.session(request.sid))]).then(([saved]) => saved);
    }
    const saved = await written;
    if (saved === null) return false;
    if (saved.created) this.#options.report({ type: "created", id: request.sid, userId: request.owner || null });
    if (count && saved.entries > limit) await this.#enforceLimit(request.owner, request.sid, saved.at);
    return true;
  }

  /** The repeat save: false when the session is gone, "full" when the full write must follow. */
  async #repeatSave({ sid, value, owner, ttlMs, keepExpiry }: Save): Promise<boolean | "full"> {
    const key = this.keys.session(sid);
    // Sent together: one round trip, and the PTTL reads the key right after the SET.
    const [replaced, leftMs] = await Promise.all([
      this.driver.command<string | null>(key, ["SET", key, value, "XX", "KEEPTTL", "GET"]),
      keepExpiry === "check" ? this.driver.command<number>(key, ["PTTL", key]) : undefined,
    ]);
    if (replaced === null || replaced === undefined) return false;
    const previous = String(replaced);
    // A value that is the one just written (a save that changed nothing, as a rolling save mostly
    // is) changed nothing in Redis either: no owner to compare, so it is not parsed.
    if (previous !== value) {
      const replacedOwner = this.#options.ownerOfValue(sid, previous);
      if ((typeof replacedOwner === "object" ? await replacedOwner : replacedOwner) !== owner) return "full";
    }
    return leftMs === undefined || this.#near(ttlMs, Number(leftMs)) ? true : "full";
  }

  /**
   * Extends a session's life. The adapter has already found with keepsExpiry() that a touch of a
   * session loaded with its expiry moves it by touchAfter or more (else it sends nothing, and
   * builds no request); without the loaded expiry, Redis compares.
   */
  async touch(request: Touch): Promise<TouchResult> {
    const { touchAfter } = this.#options;
    // With the loaded expiry, this process compared; without it (a cookie without maxAge: the
    // store's ttl), Redis does.
    const compared = request.loadedExpireAt !== undefined && touchAfter !== 0;
    if (request.device) request = { ...request, device: await this.#seal(request.sid, request.device) };
    const touchAfterMs = compared ? 0 : touchAfter === "auto" ? autoBound(request.ttlMs) : touchAfter;
    return this.#writes.touch({ ...request, touchAfterMs });
  }

  /** A device as stored: sealed for its session when encryption is on. */
  #seal(sid: string, device: string): string | Promise<string> {
    return this.#options.stored.encryption.encrypt(device, sid, DEVICE_PURPOSE);
  }

  /** Destroys sessions; each keeps a tombstone with its reason while tombstones are on, unless `tombstone` is false. */
  async destroy(sids: readonly string[], reason: DestroyReason, tombstone = true): Promise<Destroyed[]> {
    const destroyed = await this.#writes.destroy(sids, reason, tombstone && this.#tombstones);
    for (const { id, owner } of destroyed) this.#options.report({ type: "destroyed", id, userId: owner || null, reason });
    return destroyed;
  }

  /** Destroys a user's sessions but `except` (see UserIndex), reporting each. */
  async destroyUser(userId: string, except: ReadonlySet<string>, reason: DestroyReason): Promise<string[]> {
    if (!this.users) return [];
    const ids = await this.users.destroy(userId, except, reason);
    for (const id of ids) this.#options.report({ type: "destroyed", id, userId, reason });
    return ids;
  }

  /**
   * Destroys the least recently active sessions of a user beyond maxSessionsPerUser; never `keep`
   * (the session being saved), and never one active since the save (`at`, Redis's clock): two
   * logins racing with a limit of 1 must not destroy each other; the later one evicts the earlier.
   */
  async #enforceLimit(userId: string, keep: string, at: number): Promise<void> {
    const users = this.users;
    if (!users) return;
    const sessions = await users.sessions(userId, false);
    const excess = sessions.length - this.#options.maxSessionsPerUser;
    if (excess <= 0) return;
    const victims = sessions
      .filter((s) => s.id !== keep && (s.lastActive?.getTime() ?? 0) < at)
      .slice(-excess)
      .map((s) => s.id);
    if (!victims.length) return;
    const index = this.keys.user(userId);
    const [destroyed] = await Promise.all([
      this.destroy(victims, "device-limit"),
      this.driver.command(index, ["ZREM", index, ...victims.map((sid) => this.keys.member(sid))]),
    ]);
    for (const { id } of destroyed) this.#options.report({ type: "evicted", id, userId });
  }
}
