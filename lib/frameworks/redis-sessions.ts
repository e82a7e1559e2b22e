/**
 * Sessions of a framework that has no express-session cookie (koa-session, React Router): plain
 * objects whose lifetime the adapter reads from the framework and passes in. The same engine,
 * per-user index, tombstones, device limit and fail-fast calls as RedisStore; the adapters in
 * koa.ts and react-router.ts turn their framework's store contract into these calls, and expose
 * this object as their `store` for the per-user methods.
 */
import { EventEmitter } from "node:events";
import { Codec } from "../codec.js";
import type { SeenDevice } from "../device.js";
import type { Driver, Topology } from "../driver/driver.js";
import { driverFor } from "../driver/index.js";
import { Engine } from "../engine/engine.js";
import type { SessionFields } from "../engine/fields.js";
import type { RotateProgress } from "../engine/rotate.js";
import type { ActiveSession, UserSession } from "../engine/user-index.js";
import type { SessionDecodeError } from "../errors.js";
import { Keys } from "../keys.js";
import { type RedisStoreOptions, type ResolvedOptions, resolveOptions } from "../options.js";
import { ownerIfResolved, ownerOf } from "../owner.js";
import {
  attempt,
  checkCount,
  checkReason,
  checkRotate,
  checkSeconds,
  checkSid,
  checkUserId,
  type RedisStoreEvents,
  type RotateCall,
} from "./calls.js";
import { deviceToRecord } from "./devices.js";
import { type Loaded, loadedOf } from "./loaded.js";
import { UserCalls } from "./user-calls.js";

/** A framework's session: a plain object of the app's data. */
export type SessionObject = Record<string, unknown>;

/**
 * Options of a koa-session or React Router store: RedisStore's options, less `disableTouch` (these
 * frameworks never touch); `userId` and `ttl` functions receive the framework's session object.
 */
export interface RedisSessionsOptions<S extends object = SessionObject>
  extends Omit<RedisStoreOptions, "userId" | "ttl" | "disableTouch" | "touchAfter"> {
  /** Finds a session's owner. Default: `session.userId`, else `session.passport.user`. `false` turns the index off. */
  userId?: ((session: S) => string | number | bigint | { toHexString(): string } | undefined | null) | false;
  /** Seconds a session lives when the framework gives it no expiry; a function of the session wins. @default 86400 */
  ttl?: number | ((session: S) => number);
  /**
   * Seconds a save of a loaded session must move its expiry by before the expiry is written. A save
   * that would move it by less keeps the key's expiry (one `SET … XX KEEPTTL GET`) when the owner
   * did not change either. "auto": 1% of the session's lifetime, at most 60 s; a session may then
   * expire up to this bound before its cookie. `0`: every save writes the expiry.
   * @default "auto" (0 when `userId` is false)
   */
  touchAfter?: number | "auto";
}

/** How a framework adapter saves a session. */
export interface SetOptions {
  /** The framework's own lifetime for the session, in ms from now; undefined: the `ttl` option. */
  expiresInMs?: number | undefined;
  /** Only update a session that still exists (one this request loaded). */
  mustExist?: boolean;
  /** The device the request came from, to record beside a signed-in session (see listUserSessions). */
  device?: SeenDevice | undefined;
  /** Record `device` for an anonymous session too. */
  anonymousDevice?: boolean;
  /**
   * What the request saving the session loaded (see loadedFrom()); implies `mustExist`. When its
   * owner is unchanged and the expiry would move by less than `touchAfter`, the key keeps its expiry.
   */
  loaded?: Loaded | undefined;
}

/** The events a RedisSessions emits: RedisStore's (connect/disconnect here only say the client's state). */
export type RedisSessionsEvents = RedisStoreEvents;

// biome-ignore lint/correctness/noUnusedVariables: a merged declaration repeats the class's type parameter
export interface RedisSessions<S extends object = SessionObject> {
  on<E extends keyof RedisSessionsEvents>(event: E, listener: (...args: RedisSessionsEvents[E]) => void): this;
  once<E extends keyof RedisSessionsEvents>(event: E, listener: (...args: RedisSessionsEvents[E]) => void): this;
  off<E extends keyof RedisSessionsEvents>(event: E, listener: (...args: RedisSessionsEvents[E]) => void): this;
  emit<E extends keyof RedisSessionsEvents>(event: E, ...args: RedisSessionsEvents[E]): boolean;
}

/**
 * Sessions on Redis for the koa-session and React Router adapters, and their per-user methods.
 * Every method returns a promise that rejects with a RedisUnavailableError within commandTimeout
 * while Redis is down.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above only types the inherited event methods
export class RedisSessions<S extends object = SessionObject> extends EventEmitter {
  /** The options, validated once, with defaults filled in. */
  readonly options: ResolvedOptions;
  /** "standalone", "cluster" or "sentinel", read from the client. */
  readonly topology: Topology;
  readonly #engine: Engine<S>;
  readonly #codec: Codec;
  readonly #users: UserCalls<S>;
  readonly #shape: (parsed: unknown) => string | undefined;
  readonly #withExpiry: ((session: S, expireAt: number) => S) | undefined;
  readonly #readiness = { ready: () => this.emit("connect"), down: () => this.emit("disconnect") };
  #warnedDecode = false;

  /**
   * `shape` says why a parsed value is not one of this framework's sessions (undefined when it is).
   * `withExpiry` gives a session as stored with the expiry it keeps, for a framework whose sessions
   * hold their own expiry (koa-session's `_expire`), so the stored one stays the key's.
   */
  constructor(
    options: RedisSessionsOptions<S>,
    shape: (parsed: unknown) => string | undefined = plainObject,
    withExpiry?: (session: S, expireAt: number) => S,
  ) {
    super();
    this.options = resolveOptions(options as RedisStoreOptions);
    this.#shape = shape;
    this.#withExpiry = withExpiry;
    const driver = driverFor(this.options.client, this.options.commandTimeout) as Driver;
    this.topology = driver.topology;
    this.#codec = new Codec(this.options.serializer, this.options.maxSessionSize, this.options.encryption);
    const reportDecode = (error: SessionDecodeError) => this.#reportDecode(error);
    this.#engine = new Engine<S>({
      driver,
      keys: new Keys(this.options.prefix, this.options.indexPrefix),
      indexed: this.options.userId !== false,
      tombstoneMs: this.options.tombstoneTtl * 1000,
      absoluteMs: this.options.absoluteTimeout * 1000,
      maxSessionsPerUser: this.options.maxSessionsPerUser,
      scanCount: this.options.scanCount,
      // These frameworks save the whole session to extend it: there is no touch to show.
      touchShows: "none",
      touchAfter: this.options.touchAfter === "auto" ? "auto" : this.options.touchAfter * 1000,
      decode: (sid, value) => this.#codec.decode<S>(sid, value, this.#shape, reportDecode),
      ownerOfValue: (sid, value) => this.#ownerOfValue(sid, value),
      fieldLimits: { maxFields: this.options.maxFields, maxFieldSize: this.options.maxFieldSize },
      stored: { encryption: this.options.encryption, report: reportDecode },
      report: ({ type, ...event }) => this.emit(type, event as never),
    });
    this.#users = new UserCalls(this.#engine);
    driver.watch(this.#readiness);
  }

  /** A session, or null (none, expired, destroyed, or unreadable: see the `decodeError` event). */
  get(sid: string): Promise<S | null> {
    return attempt(() => this.#engine.read(checkSid(sid)));
  }

  /**
   * Saves a session for `expiresInMs` (the framework's own lifetime; undefined: the `ttl` option).
   * With `mustExist`, a session that is gone (destroyed, expired) is not brought back. Resolves to
   * false when the save was refused (a tombstone, or gone while it had to exist). A lifetime that
   * has already ended deletes the session, without a tombstone, and resolves to true.
   */
  set(sid: string, session: S, options: SetOptions = {}): Promise<boolean> {
    return attempt(async () => {
      checkSid(sid);
      const ttlMs = this.#ttlMs(session, options.expiresInMs);
      if (ttlMs !== null && ttlMs <= 0) {
        await this.#engine.destroy([sid], "expired", false);
        return true;
      }
      const { loaded } = options;
      // A loaded session whose expiry would move by less than touchAfter keeps it: a repeat save.
      // When the stored session does not hold its expiry, Redis's PTTL decides.
      const keepExpiry =
        loaded === undefined || ttlMs === null
          ? false
          : loaded.expireAt === undefined
            ? ("check" as const)
            : this.#engine.keepsExpiry(ttlMs, loaded.expireAt);
      const stored = keepExpiry === true && this.#withExpiry ? this.#withExpiry(session, loaded?.expireAt as number) : session;
      const encoded = this.#codec.encode(sid, stored);
      const value = typeof encoded === "string" ? encoded : await encoded;
      const owner = ownerOf(this.options.userId, session);
      const device = deviceToRecord(options.device, owner, options.anonymousDevice ?? false);
      return this.#engine.save({
        sid,
        value,
        ttlMs: ttlMs ?? 0,
        owner,
        mustExist: (options.mustExist ?? false) || loaded !== undefined,
        loadedOwner: loaded?.owner,
        keepExpiry,
        device,
      });
    });
  }

  /**
   * What a request loaded, to pass to its set() as `loaded`: the owner the session names and, for a
   * framework whose sessions hold it, the expiry (ms since the epoch). Call it on the session get()
   * returned, before the request changes it.
   */
  loadedFrom(session: S, expireAt?: number): Loaded {
    return loadedOf(this.options.userId, session, expireAt);
  }

  /**
   * The owner a stored value names (opened first when encrypted), or undefined when it can't be
   * read: then the save is written in full. A promise only for an async serializer or encryption.
   */
  #ownerOfValue(sid: string, value: string): string | undefined | Promise<string | undefined> {
    const owner = (parsed: S | null) => (parsed === null ? undefined : ownerIfResolved(this.options.userId, parsed));
    const parsed = this.#codec.decode<S>(sid, value, plainObject, () => undefined);
    return parsed instanceof Promise ? parsed.then(owner) : owner(parsed);
  }

  /** Deletes a session and leaves a tombstone (`reason`, default "logout"), so no late save brings it back. */
  destroy(sid: string, options: { reason?: string } = {}): Promise<void> {
    return attempt(async () => {
      await this.#engine.destroy([checkSid(sid)], checkReason(options.reason ?? "logout"));
    });
  }

  /** Why and when a session was signed out, while its tombstone lives; null otherwise. */
  revocation(sid: string): Promise<{ reason: string; at: Date } | null> {
    return attempt(() => this.#engine.revocation(checkSid(sid)));
  }

  /** A session's fields (see RedisStore#fields). */
  fields(sid: string): SessionFields {
    const fields = this.#engine.fields(checkSid(sid));
    if (!fields)
      throw new TypeError("redis-session-store: session fields need the store's scripts: with `userId: false`, set `tombstoneTtl` (> 0)");
    return fields;
  }

  /** The live sessions of one user, newest activity first. */
  listUserSessions(userId: string | number): Promise<UserSession<S>[]> {
    return attempt(() => this.#users.list(checkUserId(userId)));
  }

  /** How many live sessions one user has. */
  countUserSessions(userId: string | number): Promise<number> {
    return attempt(() => this.#users.count(checkUserId(userId)));
  }

  /** Destroys every session of one user except those in `except`, with tombstones; resolves to how many. */
  destroyUserSessions(userId: string | number, options: { except?: string | string[]; reason?: string } = {}): Promise<number> {
    return attempt(() => this.#users.destroy(checkUserId(userId), options));
  }

  /** Distinct users whose sessions were saved within the window. */
  countActiveUsers(withinSeconds: number): Promise<number> {
    return attempt(() => this.#users.countActive(checkSeconds(withinSeconds, "withinSeconds") * 1000));
  }

  /** The ids of users active within the window, most recent first. */
  listActiveUsers(withinSeconds: number): Promise<string[]> {
    return attempt(() => this.#users.listActive(checkSeconds(withinSeconds, "withinSeconds") * 1000));
  }

  /** Streams the sessions saved within the window, newest first. */
  async *listActiveSessions(withinSeconds: number, options: { pageSize?: number } = {}): AsyncGenerator<ActiveSession<S>> {
    const windowMs = checkSeconds(withinSeconds, "withinSeconds") * 1000;
    yield* this.#users.activeSessions(windowMs, checkCount(options.pageSize ?? this.options.scanCount, "pageSize"));
  }

  /** How many sessions this store holds (SCAN, batch by batch). */
  length(): Promise<number> {
    return attempt(() => this.#engine.bulk.length());
  }

  /** Destroys every session of this store and drops the per-user index. */
  clear(): Promise<void> {
    return attempt(() => this.#engine.bulk.clear());
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

  /** A function `ttl` wins; else the framework's lifetime; else the `ttl` seconds. null: no expiry (disableTTL). */
  #ttlMs(session: S, expiresInMs: number | undefined): number | null {
    const { ttl, disableTTL } = this.options;
    if (disableTTL) return null;
    if (typeof ttl === "function") {
      const seconds = (ttl as unknown as (session: S) => unknown)(session);
      if (typeof seconds !== "number" || Number.isNaN(seconds)) {
        throw new TypeError(
          `redis-session-store: option "ttl" returned ${typeof seconds === "number" ? "NaN" : typeof seconds}, expected a number of seconds`,
        );
      }
      return Math.round(seconds * 1000);
    }
    if (expiresInMs !== undefined) return Math.round(expiresInMs);
    return ttl * 1000;
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

/** The least a framework session is: an object that is not an array. */
export function plainObject(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return "not an object";
  return undefined;
}
