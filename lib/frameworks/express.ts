/**
 * The express-session store: express-session's contract (get/set/touch/destroy, all/ids/length/
 * clear) over the engine, plus the per-user calls. What is express-session's own lives here: the
 * cookie (its expiry is the session's lifetime), the shape of a session, and `createSession`,
 * through which every session a request loads passes, so the expiry it had travels with it.
 */
import type { SessionData, Store } from "express-session";
import { Codec } from "../codec.js";
import type { Driver, Topology } from "../driver/driver.js";
import { driverFor } from "../driver/index.js";
import { Engine } from "../engine/engine.js";
import type { SessionFields } from "../engine/fields.js";
import type { RotateProgress } from "../engine/rotate.js";
import type { ActiveSession as EngineActiveSession, UserSession as EngineUserSession } from "../engine/user-index.js";
import { Keys } from "../keys.js";
import { type RedisStoreOptions, type ResolvedOptions, resolveOptions } from "../options.js";
import { ownerOf } from "../owner.js";
import {
  attempt,
  type Callback,
  checkCount,
  checkReason,
  checkRotate,
  checkSeconds,
  checkSid,
  checkUserId,
  type RedisStoreEvents,
  type RotateCall,
  settle,
} from "./calls.js";
import { checkTrackerOptions, type DeviceTrackerOptions, needsIndex, TrackedRequests } from "./devices.js";
import { Cookies } from "./express-cookies.js";
import { SessionValues } from "./express-values.js";
import { type Loaded, LoadedHandoff, loadedOf } from "./loaded.js";
import { StoreBase } from "./store-base.js";
import { UserCalls } from "./user-calls.js";

/** One of a user's sessions, as listUserSessions() returns it. */
export type UserSession<S = SessionData> = EngineUserSession<S>;
/** One session active within a window, as listActiveSessions() yields it. */
export type ActiveSession<S = SessionData> = EngineActiveSession<S>;

export type { RedisStoreEvents };

/** A session as all() returns it: connect-redis's shape, the session with its id. */
export type SessionWithId = SessionData & { id: string };

export interface RedisStore {
  on<E extends keyof RedisStoreEvents>(event: E, listener: (...args: RedisStoreEvents[E]) => void): this;
  once<E extends keyof RedisStoreEvents>(event: E, listener: (...args: RedisStoreEvents[E]) => void): this;
  off<E extends keyof RedisStoreEvents>(event: E, listener: (...args: RedisStoreEvents[E]) => void): this;
  emit<E extends keyof RedisStoreEvents>(event: E, ...args: RedisStoreEvents[E]): boolean;
}

/**
 * An express-session store on Redis: a drop-in for connect-redis 10 (same options, fields, key
 * layout and methods) with a per-user session index, Cluster and Sentinel support, tombstones
 * that keep destroyed sessions destroyed, and calls that fail fast while Redis is down.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above only types the inherited event methods
export class RedisStore extends StoreBase {
  /** The options, validated once, with defaults filled in. */
  readonly options: ResolvedOptions;
  /** "standalone", "cluster" or "sentinel", read from the client. */
  readonly topology: Topology;
  readonly #engine: Engine<SessionData>;
  readonly #values: SessionValues;
  readonly #cookies: Cookies;
  readonly #users: UserCalls<SessionData>;
  /** What get() loaded, for a framework whose sessions skip createSession (@fastify/session). */
  readonly #handoff = new LoadedHandoff();
  /**
   * Set by the first createSession(): the store serves express-session, which hands every loaded
   * session to createSession, so what a read loaded travels with the session and get() stops
   * filling the handoff (a Map write and delete per request for nothing). A @fastify/session app
   * sharing this very store then saves without a hint, as it does once a hint is a minute old: the
   * full save, which the tombstone refuses after a logout like any other.
   */
  #carries = false;
  /** The requests deviceTracker() follows; undefined until the app asks for it. */
  #tracked: TrackedRequests | undefined;
  /** Held here so the driver, which holds it weakly, tells this store for as long as it lives. */
  readonly #readiness = { ready: () => this.emit("connect"), down: () => this.emit("disconnect") };

  constructor(options: RedisStoreOptions) {
    super();
    this.options = resolveOptions(options);
    const { userId, tombstoneTtl, serializer, disableTTL, ttl, encryption } = this.options;
    const driver = driverFor(this.options.client, this.options.commandTimeout) as Driver;
    this.topology = driver.topology;
    const indexed = userId !== false;
    // How a touch shows in reads: rewritten inside express-session's JSON, read from Redis for any
    // other format (a ciphertext can't be edited in place), or (without the index: connect-redis's
    // commands) not at all.
    const expiryFollowsCookie = !disableTTL && typeof ttl !== "function";
    // An absolute timeout caps the key's expiry below the cookie's: reads then ask Redis for it.
    const plainJson = serializer === JSON && !encryption.readsEnvelopes;
    const touchShows = !expiryFollowsCookie
      ? "none"
      : this.options.absoluteTimeout > 0
        ? "read-expiry"
        : !indexed
          ? "none"
          : plainJson
            ? "rewrite"
            : "read-expiry";
    this.#cookies = new Cookies(this.options, touchShows === "rewrite");
    const codec = new Codec(serializer, this.options.maxSessionSize, encryption);
    this.#values = new SessionValues(this.options, codec, this.#cookies, this);
    this.#engine = new Engine<SessionData>({
      driver,
      keys: new Keys(this.options.prefix, this.options.indexPrefix),
      indexed,
      tombstoneMs: tombstoneTtl * 1000,
      absoluteMs: this.options.absoluteTimeout * 1000,
      maxSessionsPerUser: this.options.maxSessionsPerUser,
      scanCount: this.options.scanCount,
      touchShows,
      touchAfter: this.options.touchAfter === "auto" ? "auto" : this.options.touchAfter * 1000,
      decode: (sid, value, ttlMs) => this.#values.decode(sid, value, ttlMs),
      ownerOfValue: (sid, value) => this.#values.ownerOf(sid, value),
      fieldLimits: { maxFields: this.options.maxFields, maxFieldSize: this.options.maxFieldSize },
      stored: { encryption: this.options.encryption, report: (error) => this.#values.report(error) },
      report: ({ type, ...event }) => this.emit(type, event as never),
    });
    this.#users = new UserCalls(this.#engine);
    const followed = driver.watch(this.#readiness);
    // A client that was never connected: express-session runs without sessions (the app can answer
    // 503) instead of saving nothing while answering 200. Only where a `connect` can follow.
    if (followed && !driver.ready) process.nextTick(() => this.emit("disconnect"));
  }

  // connect-redis 10's public fields, as read-only views of the resolved options.
  get client(): ResolvedOptions["client"] {
    return this.options.client;
  }
  get prefix(): string {
    return this.options.prefix;
  }
  get scanCount(): number {
    return this.options.scanCount;
  }
  get serializer(): ResolvedOptions["serializer"] {
    return this.options.serializer;
  }
  get ttl(): ResolvedOptions["ttl"] {
    return this.options.ttl;
  }
  get disableTTL(): boolean {
    return this.options.disableTTL;
  }
  get disableTouch(): boolean {
    return this.options.disableTouch;
  }

  /**
   * Loads a session, or null. A touch() is visible in `cookie.expires`. An unreadable value (or one
   * that is not a session) gives null and a `decodeError` event, so that visitor gets a fresh
   * session instead of an error on every request.
   */
  get(sid: string, callback?: Callback<SessionData | null>): Promise<SessionData | null> {
    return settle(
      attempt(async () => {
        const session = await this.#engine.read(checkSid(sid));
        // For the set() of the same request when the framework does not call createSession.
        if (this.#carries) return session;
        if (session) this.#handoff.put(sid, this.#loadedFrom(session));
        else this.#handoff.drop(sid);
        return session;
      }),
      callback,
    );
  }

  /** express-session builds every session a request loads here: the expiry it was loaded with goes along. */
  override createSession(req: Parameters<Store["createSession"]>[0], data: SessionData): ReturnType<Store["createSession"]> {
    const loaded = this.#loadedFrom(data);
    this.#carries = true;
    const sid = (req as { sessionID?: unknown }).sessionID;
    if (typeof sid === "string") this.#handoff.drop(sid); // it travels with the session instead
    const session = super.createSession(req, data);
    this.#cookies.carry(session, loaded);
    return session;
  }

  /** What a loaded session says of its expiry and owner. */
  #loadedFrom(data: SessionData): Loaded {
    return loadedOf(this.options.userId, data, this.#cookies.loaded(data));
  }

  /**
   * What the request saving or touching a session loaded: carried with the session by
   * createSession (express-session), else left by this process's get() of the same id (@fastify/session).
   */
  #loadedWith(sid: string, session: SessionData): Loaded | undefined {
    const carried = this.#cookies.loadedWith(session);
    const handed = this.#handoff.take(sid);
    return carried ?? handed;
  }

  /** Saves a session. A destroyed id (tombstone) is not written, nor a loaded session that is gone: logout stays final. */
  set(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => this.#set(checkSid(sid), session)),
      callback,
    );
  }

  async #set(sid: string, session: SessionData): Promise<void> {
    const loaded = this.#loadedWith(sid, session);
    const ttlMs = this.#cookies.ttlMs(session, "set");
    // A save that ends the session (ttl <= 0, a cookie in the past) deletes it without a tombstone:
    // it was not a logout, and the same id may be saved again (say, at login).
    if (ttlMs !== null && ttlMs <= 0) {
      await this.#engine.destroy([sid], "expired", false);
      return;
    }
    const owner = ownerOf(this.options.userId, session);
    // A loaded session whose expiry would move by less than touchAfter keeps it: a repeat save.
    const keepExpiry = loaded?.expireAt !== undefined && ttlMs !== null && this.#engine.keepsExpiry(ttlMs, loaded.expireAt);
    const encoded = keepExpiry
      ? this.#cookies.withExpiry(session, loaded?.expireAt as number, () => this.#values.encode(sid, session))
      : this.#values.encode(sid, session);
    const value = typeof encoded === "string" ? encoded : await encoded;
    await this.#engine.save({
      sid,
      value,
      ttlMs: ttlMs ?? 0,
      owner,
      mustExist: loaded !== undefined,
      loadedOwner: loaded?.owner,
      keepExpiry,
      device: this.#tracked?.deviceOf(session, owner),
    });
  }

  /** Extends a session's life; with `touchAfter`, only when that moves its expiry enough (see the option). */
  override touch(sid: string, session: SessionData, callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => this.#touch(checkSid(sid), session)),
      callback,
    );
  }

  async #touch(sid: string, session: SessionData): Promise<void> {
    if (this.options.disableTouch || this.options.disableTTL) return;
    const ttlMs = this.#cookies.ttlMs(session, "touch") as number;
    const loaded = this.#loadedWith(sid, session);
    if (ttlMs <= 0) {
      await this.#engine.destroy([sid], "expired", false);
      return;
    }
    // Most touches move the expiry by less than touchAfter: nothing is sent, as a save keeps the expiry (#set).
    if (this.#engine.keepsExpiry(ttlMs, loaded?.expireAt)) return;
    await this.#engine.touch({
      sid,
      ttlMs,
      expiresIso: this.#cookies.expiresIso(session),
      touchAfterMs: 0,
      loadedExpireAt: loaded?.expireAt,
      // The owner the request loaded: a touch never changes it.
      device: this.#tracked?.deviceOf(session, loaded?.owner ?? ""),
    });
  }

  /**
   * Middleware that records each signed-in session's device (user agent, and `req.ip`, so `trust
   * proxy` applies) beside the session, for listUserSessions(): `app.use(store.deviceTracker())`
   * after `session(...)`. Recorded at the session's next write that reaches Redis (a save, or a
   * touch that is sent: at most touchAfter apart), and rewritten only when it changed; never in the
   * session data. `{ anonymous: true }` records anonymous sessions too.
   */
  deviceTracker(options?: DeviceTrackerOptions): (req: object, res: unknown, next: (error?: unknown) => void) => void {
    const { anonymous } = checkTrackerOptions(options, "deviceTracker()");
    if (this.options.userId === false) throw needsIndex("deviceTracker()");
    this.#tracked ??= new TrackedRequests();
    const tracked = this.#tracked;
    let warned = false;
    return (req, _res, next) => {
      tracked.follow(req, anonymous);
      if (!warned && (req as { session?: unknown }).session === undefined && this.#engine.driver.ready) {
        warned = true;
        process.emitWarning(
          "redis-session-store: deviceTracker() saw a request without req.session while Redis is up: mount it after session(...)",
          { code: "REDIS_SESSION_STORE_DEVICE_TRACKER_ORDER" },
        );
      }
      next();
    };
  }

  /**
   * Deletes a session and leaves a tombstone, so no late set() or touch() brings it back. The
   * tombstone keeps `reason` (default "logout"; an admin signing a session out might pass "admin").
   */
  destroy(sid: string, options?: { reason?: string } | Callback<void>, callback?: Callback<void>): Promise<void> {
    const done = typeof options === "function" ? options : callback;
    const given = typeof options === "function" ? undefined : options;
    return settle(
      attempt(async () => {
        // What this process loaded of the session stays: a late save that takes it finds the
        // session gone (XX) and is refused, even without a tombstone.
        await this.#engine.destroy([checkSid(sid)], checkReason(given?.reason ?? "logout"));
      }),
      done,
    );
  }

  /**
   * Why and when a session was signed out, while its tombstone lives (`tombstoneTtl`): `reason` is
   * "logout", "signed-out-elsewhere", "device-limit", "clear" or the app's own; null otherwise. Lets
   * the signed-out device's next request say "you were signed out from another device".
   */
  revocation(sid: string, callback?: Callback<{ reason: string; at: Date } | null>): Promise<{ reason: string; at: Date } | null> {
    return settle(
      attempt(() => this.#engine.revocation(checkSid(sid))),
      callback,
    );
  }

  /**
   * A session's fields: values read and changed one by one, never with the whole session, so
   * concurrent requests lose none of each other's changes. The session must have been saved.
   */
  fields(sid: string): SessionFields {
    const fields = this.#engine.fields(checkSid(sid));
    if (!fields) {
      throw new TypeError(
        "redis-session-store: session fields need the store's scripts: with `userId: false`, set `tombstoneTtl` (> 0) to use them",
      );
    }
    return fields;
  }

  /** Every session, each with its `id` (connect-redis's shape). Unreadable values are skipped and reported. */
  override all(callback?: Callback<SessionWithId[]>): Promise<SessionWithId[]> {
    return settle(
      attempt(() => this.#engine.bulk.all((id, session) => Object.assign(session, { id }))),
      callback,
    );
  }

  /**
   * Rewrites every session and field still stored in an older form: under an older key (or
   * plaintext, with `acceptPlaintext`) when encryption is on; encrypted, with `decryptWith`, when it
   * is off. Yields progress after each batch; pass its `cursor` to a later call to carry on. Safe
   * while the app serves: a value is replaced only if unchanged since it was read, keeping its expiry.
   */
  rotate(options: RotateCall = {}): AsyncGenerator<RotateProgress> {
    return this.#engine.rotate(checkRotate(options, this.options));
  }

  /** Every session id. */
  ids(callback?: Callback<string[]>): Promise<string[]> {
    return settle(
      attempt(() => this.#engine.bulk.ids()),
      callback,
    );
  }

  /**
   * How many sessions there are, counted batch by batch: memory stays O(scanCount). SCAN may return
   * a key twice while Redis resizes its hash table, so during a resize the count can be a little high.
   */
  override length(callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(() => this.#engine.bulk.length()),
      callback,
    );
  }

  /** Destroys every session of this store (signed-in ones with tombstones) and drops the per-user index and activity sets. */
  override clear(callback?: Callback<void>): Promise<void> {
    return settle(
      attempt(() => this.#engine.bulk.clear()),
      callback,
    );
  }

  /** Streams every session, `count` keys per SCAN and per read: memory stays bounded by the batch. */
  async *scan(options: { count?: number } = {}): AsyncGenerator<{ id: string; session: SessionData }> {
    const count = checkCount(options.count ?? this.options.scanCount, "count");
    for await (const batch of this.#engine.bulk.sessions(count, false)) yield* batch;
  }

  /** The live sessions of one user, newest activity first. Costs O(that user's sessions). */
  listUserSessions(userId: string | number, callback?: Callback<UserSession[]>): Promise<UserSession[]> {
    return settle(
      attempt(() => this.#users.list(checkUserId(userId))),
      callback,
    );
  }

  /** How many live sessions one user has. */
  countUserSessions(userId: string | number, callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(() => this.#users.count(checkUserId(userId))),
      callback,
    );
  }

  /**
   * Destroys every session of one user except those in `except` ("sign out everywhere else"), each
   * with a tombstone whose reason is `reason` (default "signed-out-elsewhere"). Resolves to how many.
   */
  destroyUserSessions(
    userId: string | number,
    options?: { except?: string | string[]; reason?: string } | Callback<number>,
    callback?: Callback<number>,
  ): Promise<number> {
    const done = typeof options === "function" ? options : callback;
    const given = typeof options === "function" ? undefined : options;
    return settle(
      attempt(() => this.#users.destroy(checkUserId(userId), given ?? {})),
      done,
    );
  }

  /** Distinct users whose sessions were saved or touched within the window. O(log n). */
  countActiveUsers(withinSeconds: number, callback?: Callback<number>): Promise<number> {
    return settle(
      attempt(() => this.#users.countActive(checkSeconds(withinSeconds, "withinSeconds") * 1000)),
      callback,
    );
  }

  /** The ids (as strings) of users active within the window, most recent first. */
  listActiveUsers(withinSeconds: number, callback?: Callback<string[]>): Promise<string[]> {
    return settle(
      attempt(() => this.#users.listActive(checkSeconds(withinSeconds, "withinSeconds") * 1000)),
      callback,
    );
  }

  /** Streams the sessions saved or touched within the window, newest first, `pageSize` per round trip. */
  async *listActiveSessions(withinSeconds: number, options: { pageSize?: number } = {}): AsyncGenerator<ActiveSession> {
    const windowMs = checkSeconds(withinSeconds, "withinSeconds") * 1000;
    yield* this.#users.activeSessions(windowMs, checkCount(options.pageSize ?? this.options.scanCount, "pageSize"));
  }
}
