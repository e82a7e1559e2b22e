import { type SessionData, Store } from "express-session";
import { Bulk, reportExpiry, type SessionWithId } from "./bulk.js";
import { SessionDecodeError, SessionEncodeError, SessionTooLargeError } from "./errors.js";
import { Keys } from "./keys.js";
import { type RedisStoreOptions, type ResolvedOptions, resolveOptions, type TtlOption } from "./options.js";
import { type Recent, RecentWrites } from "./recent.js";
import { isNil, type ReadinessTarget, RedisGateway, Script, type Topology } from "./redis.js";
import * as lua from "./scripts.js";
import { JSON_SERIALIZER, type Serializer } from "./serializer.js";
import { type ActiveSession, UserIndex, type UserSession } from "./user-index.js";

/** Node-style callback: called exactly once, outside any try and outside the promise chain. */
export type Callback<T = unknown> = (error?: unknown, value?: T) => void;

/** The activity of the plain-command writes made in one tick, sent as one ZADD per set (see #recordActivity). */
interface ActivityBatch {
  readonly sessions: string[];
  readonly users: string[];
  sent: Promise<unknown>;
}

/** Sessions whose last write this process remembers (RecentWrites): a few MB at most. */
const RECENT_SESSIONS = 50_000;
/** The horizon slack (scripts.ts): an eighth of the session's lifetime, at most an hour. */
const MAX_SLACK_MS = 3_600_000;

const SET_ALL = new Script(lua.SET_ALL);
const TOUCH_ALL = new Script(lua.TOUCH_ALL);
const SET = new Script(lua.SET_SESSION);
const TOUCH = new Script(lua.TOUCH_SESSION);
const TOUCH_VALUE = new Script(lua.TOUCH_VALUE);
const DESTROY = new Script(lua.DESTROY_SESSIONS);
const READ = new Script(lua.READ_SESSION);
const INDEX_ADD = new Script(lua.INDEX_ADD);
const ACTIVITY = new Script(lua.RECORD_ACTIVITY);

/** Settles a promise into an optional callback; with a callback the returned promise never rejects. */
function settle<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> {
  if (typeof callback !== "function") return promise;
  return promise.then(
    (value) => {
      process.nextTick(callback, null, value);
      return value;
    },
    (error: unknown) => {
      process.nextTick(callback, error);
      return undefined as T;
    },
  );
}

function ignore(): void {}

function argumentError(name: string, expected: string, given: unknown): TypeError {
  const shown = typeof given === "string" ? JSON.stringify(given) : given === null ? "null" : typeof given;
  return new TypeError(`redis-session-store: argument "${name}" must be ${expected}, got ${shown}`);
}

function checkSid(sid: unknown, name = "sid"): string {
  if (typeof sid !== "string" || sid.length === 0) throw argumentError(name, "a non-empty string", sid);
  return sid;
}

function checkUserId(userId: unknown): string {
  if (typeof userId === "number" && Number.isFinite(userId)) return String(userId);
  if (typeof userId !== "string" || userId.length === 0) throw argumentError("userId", "a non-empty string or a finite number", userId);
  return userId;
}

function checkSeconds(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    throw argumentError(name, "a non-negative number of seconds", value);
  return value;
}

/** Runs `fn` and turns a synchronous throw into a rejection, so every method reports through one path. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * An express-session store on Redis: a drop-in for connect-redis 10 (same options, fields, key
 * layout and methods) with a per-user session index, Cluster and Sentinel support, tombstones
 * that keep destroyed sessions destroyed, and calls that fail fast while Redis is down.
 */
export class RedisStore extends Store implements ReadinessTarget {
  /** The options, validated once, with defaults filled in. */
  readonly options: ResolvedOptions;
  /** "standalone", "cluster" or "sentinel", read from the client. */
  readonly topology: Topology;
  readonly #redis: RedisGateway;
  readonly #keys: Keys;
  /** The per-user index and activity sets, as read and cleaned up (user-index.ts). */
  readonly #index: UserIndex;
  /** all(), ids(), length(), clear() and scan() (bulk.ts). */
  readonly #bulk: Bulk;
  /** On a single Redis with the index on: the sessions this process wrote recently (see recent.ts). */
  readonly #recent: RecentWrites | undefined;
  #warnedDecode = false;
  /** The activity batch filling in this tick, if any. */
  #activity: ActivityBatch | undefined;

  constructor(options: RedisStoreOptions) {
    super();
    this.options = resolveOptions(options);
    this.#redis = new RedisGateway(this.options.client, this.options.commandTimeout);
    this.topology = this.#redis.topology;
    this.#keys = new Keys(this.options.prefix, this.options.indexPrefix);
    const decode = (sid: string, value: string) => this.#decode(sid, value);
    this.#index = new UserIndex(this.#redis, this.#keys, decode, this.options.tombstoneTtl * 1000);
    this.#bulk = new Bulk(this.#redis, this.#keys, decode, {
      prefix: this.options.prefix,
      scanCount: this.options.scanCount,
      readsExpiry: this.#readsExpiry,
      index: this.#tracking ? this.#index : undefined,
    });
    // On Cluster a write's parts go to different slots in parallel, so no horizon comes back to
    // remember: every write there is the full set of scripts.
    if (this.#tracking && this.topology !== "cluster") this.#recent = new RecentWrites(RECENT_SESSIONS);
    this.#redis.watch(this);
  }

  // connect-redis 10's public fields, as read-only views of the resolved options.
  get client(): any {
    return this.options.client;
  }
  get prefix(): string {
    return this.options.prefix;
  }
  get scanCount(): number {
    return this.options.scanCount;
  }
  get serializer(): Serializer {
    return this.options.serializer;
  }
  get ttl(): TtlOption {
    return this.options.ttl;
  }
  get disableTTL(): boolean {
    return this.options.disableTTL;
  }
  get disableTouch(): boolean {
    return this.options.disableTouch;
  }

  /** @internal readiness from the client: express-session skips sessions while disconnected. */
  onRedisReady(): void {
    this.emit("connect");
  }
  /** @internal */
  onRedisDown(): void {
    this.emit("disconnect");
  }

  // ---- express-session contract -------------------------------------------------------------

  /**
   * Loads a session, or null. A touch() is visible in `cookie.expires`: with the JSON serializer
   * the touch rewrote it in the stored value; with a custom one, it is read from the key's expiry.
   * An unreadable value gives null and a `decodeError` event, so that visitor gets a fresh session
   * instead of an error on every request.
   */
  get(sid: string, callback?: Callback<SessionData | null>): Promise<SessionData | null> {
    return settle(
      attempt(() => this.#get(checkSid(sid))),
      callback,
    );
  }

  // Not async: on the hot path one .then on the command is all the promise work there is.
  #get(sid: string): Promise<SessionData | null> {
    const key = this.#keys.session(sid);
    if (!this.#readsExpiry) {
      return this.#redis.command<string | null, SessionData | null>(key, ["GET", key], (value) =>
        isNil(value) ? null : this.#decode(sid, value),
      );
    }
    return this.#redis.script<[string, string] | null>(READ, [key], []).then(async (reply) => {
      if (isNil(reply)) return null;
      const session = await this.#decode(sid, reply[0]);
      if (session) reportExpiry(session, Number(reply[1]));
      return session;
    });
  }

  /** Saves a session. A destroyed id (tombstone) is not written: logout stays final. */
  set(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => this.#set(checkSid(sid), session)),
      callback,
    );
  }

  #set(sid: string, session: SessionData): Promise<void> {
    if (session === null || typeof session !== "object") throw argumentError("session", "a session object", session);
    const expireAt = this.#expireAt(session);
    // A save that ends the session (ttl <= 0, a cookie in the past) deletes it without a tombstone:
    // it was not a logout, and the same id may be saved again (say, at login).
    if (expireAt !== 0 && expireAt <= Date.now()) return this.#destroy([sid], false);

    let value: string;
    try {
      value = this.options.serializer.stringify(session);
    } catch (error) {
      throw new SessionEncodeError(`redis-session-store: the serializer could not stringify session "${sid}"`, { cause: error });
    }
    if (typeof value !== "string") {
      throw new SessionEncodeError(`redis-session-store: serializer.stringify must return a string, got ${typeof value}`);
    }
    if (value.length * 3 > this.options.maxSessionSize && Buffer.byteLength(value) > this.options.maxSessionSize) {
      throw new SessionTooLargeError(
        `redis-session-store: session "${sid.slice(0, 64)}" is ${Buffer.byteLength(value)} bytes serialized, over maxSessionSize (${this.options.maxSessionSize})`,
      );
    }

    const key = this.#keys.session(sid);
    if (!this.#tracking && !this.#tombstones) {
      // connect-redis's cost: one plain SET.
      return this.#redis.command(key, expireAt === 0 ? ["SET", key, value] : ["SET", key, value, "PXAT", String(expireAt)], ignore);
    }
    const owner = this.#ownerOf(session);
    const recent = this.#recent?.get(sid);
    if (recent && expireAt !== 0 && expireAt <= recent.horizon && recent.owner === owner) {
      return this.#saveKnown(sid, key, value, expireAt, recent);
    }
    return this.#write(sid, key, value, expireAt, owner);
  }

  /**
   * set() of a session this process wrote recently, within its horizon: a plain SET XX GET, and the
   * activity (two ZADDs) once a second, as for touch(). XX never recreates a destroyed session, and the
   * value it replaced tells whether someone else changed the owner meanwhile; either way the full
   * script takes over.
   */
  #saveKnown(sid: string, key: string, value: string, expireAt: number, recent: Recent): Promise<void> {
    const now = Date.now();
    const saved = this.#redis.command<string | null, boolean>(key, ["SET", key, value, "PXAT", String(expireAt), "XX", "GET"], (old) =>
      isNil(old) ? false : old === value || this.#storedOwner(old) === recent.owner,
    );
    const active = now - recent.activeAt >= lua.ACTIVITY_RESOLUTION_MS;
    return (active ? Promise.all([saved, this.#recordActivity(sid, recent.owner, now)]).then(([ok]) => ok) : saved).then((ok) => {
      if (!ok) {
        this.#recent?.delete(sid);
        return this.#write(sid, key, value, expireAt, recent.owner);
      }
      recent.expiry = expireAt;
      recent.shown = expireAt;
      if (active) recent.activeAt = now;
    });
  }

  /** The owner of a stored value, or undefined when it cannot be read synchronously. */
  #storedOwner(value: string): string | undefined {
    try {
      const session = this.options.serializer.parse(value);
      if (session === null || typeof session !== "object" || typeof (session as { then?: unknown }).then === "function") return undefined;
      return this.#ownerOf(session as SessionData);
    } catch {
      return undefined;
    }
  }

  /**
   * Activity with plain commands, for the writes that skip the scripts. The calls made in the same
   * tick (the replies to many requests arrive together) share one ZADD per activity set, sent at the
   * end of the tick; each call's promise settles with that batch, so its errors reach every caller.
   */
  #recordActivity(sid: string, owner: string, now: number): Promise<unknown> {
    if (!this.#activity) this.#activity = this.#activityBatch();
    const batch = this.#activity;
    const at = String(now);
    batch.sessions.push(at, sid);
    if (owner) batch.users.push(at, owner);
    return batch.sent;
  }

  #activityBatch(): ActivityBatch {
    const sessions = this.#keys.activeSessions;
    const users = this.#keys.activeUsers;
    const batch: ActivityBatch = { sessions: ["ZADD", sessions], users: ["ZADD", users], sent: Promise.resolve() };
    batch.sent = new Promise((resolve, reject) => {
      process.nextTick(() => {
        this.#activity = undefined;
        const sends = [this.#redis.command(sessions, batch.sessions)];
        if (batch.users.length > 2) sends.push(this.#redis.command(users, batch.users));
        Promise.all(sends).then(resolve, reject);
      });
    });
    return batch;
  }

  /**
   * Remembers a full write: the horizon came back from the script. An anonymous session has no owner
   * record to cover, but gets the same horizon as if it had one: should it be signed in elsewhere,
   * the owner record written there reaches at least as far (same lifetime, later write).
   */
  #remember(sid: string, owner: string, horizon: number, expiry: number, shown: number, now: number): void {
    if (!this.#recent || expiry === 0) return;
    if (!owner) horizon = expiry + this.#slack(expiry, now);
    else if (!(horizon >= expiry)) return;
    this.#recent.set(sid, { owner, horizon, expiry, shown, activeAt: now });
  }

  /** The horizon slack of a write (scripts.ts): an eighth of the session's remaining life, at most MAX_SLACK_MS. */
  #slack(expireAt: number, now: number): number {
    return this.#recent && expireAt > now ? Math.min(Math.floor((expireAt - now) / 8), MAX_SLACK_MS) : 0;
  }

  async #write(sid: string, key: string, value: string, expireAt: number, userId: string): Promise<void> {
    const now = Date.now();
    const member = this.#keys.member(sid, key);
    const meta = this.#keys.metaPrefix + member;
    const argv = this.#writeArgs(value, expireAt, userId, now, 0, sid, member);
    let entries: number;
    if (!this.#tracking) {
      await this.#redis.script(SET, [key, meta], argv);
      return;
    }
    if (this.#redis.topology !== "cluster") {
      const reply = await this.#redis.script<[number, number] | null>(SET_ALL, [key, meta, ...this.#indexKeys(userId)], argv);
      if (isNil(reply)) {
        this.#recent?.delete(sid);
        return; // refused: the session was destroyed
      }
      entries = Number(reply[0]);
      this.#remember(sid, userId, Number(reply[1]), expireAt, expireAt, now);
    } else {
      // Cluster: session, index and activity live on different slots; sent together, not atomic.
      const [written, count] = await Promise.all([
        this.#redis.script(SET, [key, meta], argv),
        userId ? this.#redis.script<number>(INDEX_ADD, [this.#keys.user(userId)], argv) : 0,
        this.#redis.script(ACTIVITY, [this.#keys.activeSessions, this.#keys.activeUsers], argv),
      ]);
      if (isNil(written)) return;
      entries = Number(count);
    }
    if (userId && this.options.maxSessionsPerUser > 0 && entries > this.options.maxSessionsPerUser) {
      await this.#enforceLimit(userId, sid, now);
    }
  }

  /**
   * Extends a session's life. Only the expiry moves (with the JSON serializer, also the 24
   * characters of the stored cookie.expires), so a concurrent save is never lost.
   */
  override touch(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => this.#touch(checkSid(sid), session)),
      callback,
    );
  }

  #touch(sid: string, session: SessionData): Promise<void> {
    if (this.options.disableTouch || this.options.disableTTL) return Promise.resolve();
    if (session === null || typeof session !== "object") throw argumentError("session", "a session object", session);
    const expireAt = this.#expireAt(session);
    const now = Date.now();
    if (expireAt <= now) return this.#destroy([sid], false);
    const key = this.#keys.session(sid);
    const touchAfter = this.options.touchAfter * 1000;
    // With the JSON serializer the touch rewrites the stored cookie.expires in place (see scripts.ts).
    const patch = this.#patchesExpiry && Boolean((session as { cookie?: { expires?: unknown } }).cookie?.expires);
    if (!this.#tracking && touchAfter === 0 && !patch) {
      // A touch never creates a key, so without an index, touchAfter or a cookie to patch a plain PEXPIREAT is enough.
      return this.#redis.command(key, ["PEXPIREAT", key, String(expireAt)], ignore);
    }
    const userId = this.#ownerOf(session);
    const recent = this.#recent?.get(sid);
    // Only a session with an owner record: an anonymous one has none that a login elsewhere (with a
    // shorter life) would keep until our horizon, so its touches go through the script, which reads
    // the meta key and moves the index entry of whoever owns the session now.
    if (recent?.owner && expireAt <= recent.horizon && recent.owner === userId)
      return this.#touchKnown(sid, key, expireAt, patch, touchAfter, recent, now);
    const iso = patch ? new Date(expireAt).toISOString() : "";
    const member = this.#keys.member(sid, key);
    const meta = this.#keys.metaPrefix + member;
    const argv = this.#writeArgs("", expireAt, userId, now, touchAfter, sid, member, iso);
    if (!this.#tracking) {
      // No owner to record: the meta key (tombstones only, if any) is left alone.
      return this.#redis.script(TOUCH_VALUE, [key], argv).then(ignore);
    }
    if (this.#redis.topology !== "cluster") {
      return this.#redis.script<number>(TOUCH_ALL, [key, meta, ...this.#indexKeys(userId)], argv).then((reply) => {
        const touched = Number(reply);
        if (touched === -2) this.#recent?.delete(sid);
        else if (touched >= 1) this.#remember(sid, userId, touched, expireAt, iso ? expireAt : (recent?.shown ?? 0), now);
      });
    }
    return Promise.all([
      this.#redis.script<[number, string]>(TOUCH, [key, meta], argv),
      userId ? this.#redis.script(INDEX_ADD, [this.#keys.user(userId)], argv) : undefined,
      this.#redis.script(ACTIVITY, [this.#keys.activeSessions, this.#keys.activeUsers], argv),
    ]).then(async ([[touched, owner]]) => {
      // A request that loaded the session anonymous, while it was signed in elsewhere: the owner's
      // index entry (on its own slot) must follow the new expiry too. A second round trip, only then.
      if (!userId && owner && Number(touched) >= 1) await this.#redis.script(INDEX_ADD, [this.#keys.user(String(owner))], argv);
    });
  }

  /**
   * touch() of a session this process wrote recently, within its horizon: its owner record and
   * index entry already cover the new expiry, so only the session moves: a plain PEXPIREAT when the
   * stored cookie.expires already shows it, else the in-place rewrite; activity once a second, as the
   * script records it (here by this process's clock).
   */
  #touchKnown(sid: string, key: string, expireAt: number, patch: boolean, touchAfter: number, recent: Recent, now: number): Promise<void> {
    if (touchAfter > 0 && expireAt - recent.expiry < touchAfter) return Promise.resolve();
    const rewrite = patch && expireAt !== recent.shown;
    const moved = rewrite
      ? this.#redis
          .script<number>(
            TOUCH_VALUE,
            [key],
            ["", String(expireAt), "", "", String(touchAfter), "", "", "", new Date(expireAt).toISOString()],
          )
          .then(Number)
      : this.#redis.command<number, number>(key, ["PEXPIREAT", key, String(expireAt)], Number);
    const active = now - recent.activeAt >= lua.ACTIVITY_RESOLUTION_MS;
    return (active ? Promise.all([moved, this.#recordActivity(sid, recent.owner, now)]).then(([done]) => done) : moved).then((done) => {
      if (done === 1) {
        recent.expiry = expireAt;
        if (rewrite) recent.shown = expireAt;
        if (active) recent.activeAt = now;
      } else if (done !== 0) {
        this.#recent?.delete(sid); // gone (PEXPIREAT 0, script -2): destroyed or expired
      }
    });
  }

  /** Deletes a session and leaves a tombstone, so no late set() or touch() brings it back. */
  destroy(sid: string, callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => this.#destroy([checkSid(sid)])),
      callback,
    );
  }

  /**
   * Destroys sessions, leaving tombstones: one on a single Redis in two plain commands (#destroyOne),
   * several in per-slot batches (one script each, which also drops them from the activity set).
   * Their owners' index entries are left to the readers, which verify every entry and drop the stale
   * ones (see the README's data layout).
   */
  #destroy(sids: readonly string[], tombstones = this.#tombstones): Promise<void> {
    if (this.#recent) for (const sid of sids) this.#recent.delete(sid);
    if (sids.length === 1 && !this.#tracking && !this.#tombstones) {
      const key = this.#keys.session(sids[0] as string);
      return this.#redis.command(key, ["UNLINK", key], ignore);
    }
    if (sids.length === 1 && tombstones && this.#redis.topology !== "cluster") return this.#destroyOne(sids[0] as string);
    return this.#destroyMany(sids, tombstones);
  }

  /**
   * One destroy on a single Redis, as two plain commands in this order: the tombstone, then (once
   * it is acknowledged) the session. From the first step on no script writes the session (set and
   * touch scripts check the tombstone), and a plain SET XX or PEXPIREAT landing between the steps
   * is undone by the second. Its activity record is left to the readers, which drop the records of
   * sessions that are gone, and to pruning.
   */
  #destroyOne(sid: string): Promise<void> {
    const key = this.#keys.session(sid);
    const meta = this.#keys.meta(sid, key);
    const tombstone = String(this.options.tombstoneTtl * 1000);
    return this.#redis.command(meta, ["SET", meta, "D", "PX", tombstone]).then(() => this.#redis.command(key, ["UNLINK", key], ignore));
  }

  async #destroyMany(sids: readonly string[], tombstones: boolean): Promise<void> {
    if (!sids.length) return;
    const items = sids.map((sid) => ({ sid, key: this.#keys.session(sid) }));
    const groups = this.#redis.groupBySlot(items, (item) => item.key);
    if (!this.#tracking && !this.#tombstones) {
      await Promise.all(groups.map((group) => this.#redis.command(group[0]?.key, ["UNLINK", ...group.map((item) => item.key)])));
      return;
    }
    const single = this.#redis.topology !== "cluster";
    const withActivity = this.#tracking && single;
    await Promise.all([
      ...groups.map((group) => {
        const keys = group.flatMap((item) => [item.key, this.#keys.meta(item.sid, item.key)]);
        if (withActivity) keys.push(this.#keys.activeSessions);
        return this.#redis.script(DESTROY, keys, [
          tombstones ? this.options.tombstoneTtl * 1000 : 0,
          withActivity ? "1" : "0",
          ...group.map((item) => item.sid),
        ]);
      }),
      this.#tracking && !single ? this.#redis.command(this.#keys.activeSessions, ["ZREM", this.#keys.activeSessions, ...sids]) : undefined,
    ]);
  }

  /** Every session, each with its `id` (connect-redis's shape). Unreadable values are skipped and reported. */
  override all(callback?: Callback<SessionWithId[]>): Promise<SessionWithId[]> {
    return settle(
      attempt(() => this.#bulk.all()),
      callback,
    );
  }

  /** Every session id. */
  ids(callback?: Callback<string[]>): Promise<string[]> {
    return settle(
      attempt(() => this.#bulk.ids()),
      callback,
    );
  }

  /**
   * How many sessions there are, counted batch by batch: memory stays O(scanCount) however many
   * sessions there are. SCAN may return a key twice while Redis resizes its hash table, so during a
   * resize the count can be a little high; ids() removes such duplicates.
   */
  override length(callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(() => this.#bulk.length()),
      callback,
    );
  }

  /**
   * Destroys every session of this store (with tombstones) and drops the per-user index and the
   * activity sets. Only keys under `prefix` and `indexPrefix` are touched.
   */
  override clear(callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => {
        this.#recent?.clear();
        return this.#bulk.clear();
      }),
      callback,
    );
  }

  /**
   * Streams every session, `count` keys per SCAN and per read, so memory stays bounded by the batch
   * and not by the number of sessions. A session may appear twice if Redis rehashes during the scan.
   */
  async *scan(options: { count?: number } = {}): AsyncGenerator<{ id: string; session: SessionData }> {
    const count = options.count ?? this.options.scanCount;
    if (!Number.isInteger(count) || count < 1) throw argumentError("count", "a positive integer", count);
    for await (const batch of this.#bulk.sessions(count, false)) yield* batch;
  }

  // ---- per-user index ---------------------------------------------------------------------------

  /** The live sessions of one user, newest activity first. Costs O(that user's sessions). */
  listUserSessions(userId: string | number, callback?: Callback<UserSession[]>): Promise<UserSession[]> {
    return settle(
      attempt(() => this.#index.sessions(checkUserId(userId), true)),
      callback,
    );
  }

  /** How many live sessions one user has. */
  countUserSessions(userId: string | number, callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(async () => (await this.#index.sessions(checkUserId(userId), false)).length),
      callback,
    );
  }

  /**
   * Destroys every session of one user except those in `except` ("sign out everywhere else").
   * Each gets a tombstone, so a request that loaded it before cannot save it back.
   */
  destroyUserSessions(userId: string | number, options: { except?: string | string[] } = {}, callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(() => {
        const uid = checkUserId(userId);
        const except = new Set(options.except === undefined ? [] : Array.isArray(options.except) ? options.except : [options.except]);
        for (const sid of except) checkSid(sid, "except");
        return this.#index.destroy(uid, except);
      }),
      callback,
    );
  }

  /** Distinct users whose sessions were set or touched within the window. O(log n). */
  countActiveUsers(withinSeconds: number, callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(() => this.#index.countActiveUsers(Date.now() - checkSeconds(withinSeconds, "withinSeconds") * 1000)),
      callback,
    );
  }

  /** The ids (as strings) of users active within the window, most recent first. */
  listActiveUsers(withinSeconds: number, callback?: Callback<string[]>): Promise<string[]> {
    return settle(
      attempt(() => this.#index.listActiveUsers(Date.now() - checkSeconds(withinSeconds, "withinSeconds") * 1000)),
      callback,
    );
  }

  /**
   * Streams the sessions set or touched within the window, newest first, `pageSize` per round trip.
   * Entries whose session is gone are dropped from the activity set as they are met.
   */
  async *listActiveSessions(withinSeconds: number, options: { pageSize?: number } = {}): AsyncGenerator<ActiveSession> {
    const since = Date.now() - checkSeconds(withinSeconds, "withinSeconds") * 1000;
    const pageSize = options.pageSize ?? this.options.scanCount;
    if (!Number.isInteger(pageSize) || pageSize < 1) throw argumentError("pageSize", "a positive integer", pageSize);
    yield* this.#index.activeSessions(since, pageSize);
  }

  /**
   * Destroys the least recently active sessions of a user beyond maxSessionsPerUser. Never `keep`
   * (the session being saved) and never one active since `now`: two logins racing each other with
   * a limit of 1 must not destroy each other; the later one evicts the earlier.
   */
  async #enforceLimit(userId: string, keep: string, now: number): Promise<void> {
    const sessions = await this.#index.sessions(userId, false);
    const excess = sessions.length - this.options.maxSessionsPerUser;
    if (excess <= 0) return;
    const victims = sessions
      .filter((s) => s.id !== keep && (s.lastActive?.getTime() ?? 0) < now)
      .slice(-excess)
      .map((s) => s.id);
    if (!victims.length) return;
    const index = this.#keys.user(userId);
    await Promise.all([
      this.#destroy(victims),
      this.#redis.command(index, ["ZREM", index, ...victims.map((sid) => this.#keys.member(sid))]),
    ]);
  }

  /** The keys after session and meta in SET_ALL/TOUCH_ALL: user index (a placeholder when anonymous), activity sets. */
  #indexKeys(userId: string): string[] {
    return [userId ? this.#keys.user(userId) : this.#keys.activeUsers, this.#keys.activeSessions, this.#keys.activeUsers];
  }

  /** ARGV of every write script (see scripts.ts for the layout). */
  #writeArgs(
    value: string,
    expireAt: number,
    userId: string,
    now: number,
    touchAfter: number,
    sid: string,
    member: string,
    iso = "",
  ): string[] {
    // Activity older than this session's lifetime is forgotten: a session idle that long has expired.
    // Pruning is O(log n) even when nothing goes, so one write in 16 does it (chosen by `now`, which
    // keeps the script deterministic).
    const pruneBefore = expireAt === 0 || now % 16 !== 0 ? 0 : now - (expireAt - now);
    const countEntries = this.options.maxSessionsPerUser > 0 ? "1" : "0";
    const slack = this.#slack(expireAt, now);
    return [
      value,
      String(expireAt),
      userId,
      String(now),
      String(touchAfter),
      String(pruneBefore),
      countEntries,
      sid,
      iso,
      String(slack),
      member,
      this.#keys.user(""),
    ];
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Is the per-user index (and activity tracking) on? */
  get #tracking(): boolean {
    return this.options.userId !== false;
  }

  /** Are destroyed ids kept by tombstones? */
  get #tombstones(): boolean {
    return this.options.tombstoneTtl > 0;
  }

  /** Does a session's Redis expiry follow its cookie (so a touch moves what cookie.expires should say)? */
  get #expiryFollowsCookie(): boolean {
    return !this.options.disableTTL && typeof this.options.ttl !== "function";
  }

  /**
   * How a touch() becomes visible in get() and all() (connect-redis #259). With the default JSON
   * serializer, touch() rewrites cookie.expires inside the stored value, so reads stay plain
   * GET/MGET. A custom serializer's format is opaque to a Lua script: touch() moves the expiry alone
   * and reads ask Redis for it (a script per read). With `userId: false` the store is connect-redis
   * to the command: plain PEXPIREAT and GET, and, like connect-redis, reads show the saved expiry.
   */
  get #patchesExpiry(): boolean {
    return this.#tracking && this.#expiryFollowsCookie && this.options.serializer === JSON_SERIALIZER;
  }

  get #readsExpiry(): boolean {
    return this.#tracking && this.#expiryFollowsCookie && this.options.serializer !== JSON_SERIALIZER;
  }

  /** Absolute expiry in ms for a session, 0 for none (disableTTL). */
  #expireAt(session: SessionData): number {
    if (this.options.disableTTL) return 0;
    const { ttl } = this.options;
    let ms: number;
    if (typeof ttl === "function") {
      const seconds = ttl(session);
      if (typeof seconds !== "number" || Number.isNaN(seconds)) {
        throw new TypeError(
          `redis-session-store: option "ttl" returned ${typeof seconds === "number" ? "NaN" : typeof seconds}, expected a number of seconds`,
        );
      }
      ms = seconds * 1000;
    } else {
      const expires = (session as { cookie?: { expires?: unknown } }).cookie?.expires;
      if (expires) {
        const at = new Date(expires as string | number | Date).getTime();
        if (Number.isNaN(at)) throw argumentError("session.cookie.expires", "a date", expires);
        return at;
      }
      ms = ttl * 1000;
    }
    return Date.now() + Math.round(ms);
  }

  #ownerOf(session: SessionData): string {
    const resolve = this.options.userId;
    if (resolve === false) return "";
    const id = resolve(session);
    if (id === undefined || id === null || id === "") return "";
    if (typeof id === "number" && Number.isFinite(id)) return String(id);
    if (typeof id !== "string")
      throw new TypeError(`redis-session-store: option "userId" returned ${typeof id}, expected a string, a number or nothing`);
    return id;
  }

  /**
   * Parses a stored value; an unreadable one is reported (event or warning) and read as "no session".
   * Synchronous when the serializer is (JSON is): a Promise only for an async parse.
   */
  #decode(sid: string, value: string): SessionData | null | Promise<SessionData | null> {
    let parsed: unknown;
    try {
      parsed = this.options.serializer.parse(value);
    } catch (error) {
      return this.#decodeFailed(sid, error);
    }
    if (parsed !== null && typeof (parsed as { then?: unknown }).then === "function") {
      return Promise.resolve(parsed).then(
        (session) => this.#checkShape(sid, session),
        (error: unknown) => this.#decodeFailed(sid, error),
      );
    }
    return this.#checkShape(sid, parsed);
  }

  #decodeFailed(sid: string, error: unknown): null {
    this.#reportDecode(
      new SessionDecodeError(`redis-session-store: session "${sid.slice(0, 64)}" could not be parsed`, sid, { cause: error }),
    );
    return null;
  }

  #checkShape(sid: string, session: unknown): SessionData | null {
    const cookie = (session as { cookie?: unknown } | null)?.cookie;
    if (
      session === null ||
      typeof session !== "object" ||
      Array.isArray(session) ||
      (cookie !== undefined && (cookie === null || typeof cookie !== "object"))
    ) {
      this.#reportDecode(new SessionDecodeError(`redis-session-store: session "${sid.slice(0, 64)}" is not a session object`, sid));
      return null;
    }
    return session as SessionData;
  }

  #reportDecode(error: SessionDecodeError): void {
    if (this.listenerCount("decodeError") > 0) {
      this.emit("decodeError", error);
    } else if (!this.#warnedDecode) {
      this.#warnedDecode = true;
      process.emitWarning(`${error.message}; listen to the store's "decodeError" event to see every one`, {
        code: "REDIS_SESSION_STORE_DECODE",
      });
    }
  }
}
