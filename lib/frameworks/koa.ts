/**
 * koa-session's external store (`opts.store`) over RedisSessions. koa-session hands the store a
 * fresh plain object on every save, with `_expire` (when the cookie ends, ms since the epoch) and
 * `_maxAge`, or `_session: true` for `maxAge: "session"`; the lifetime is read from those. A save
 * from a request that loaded the session must find it still there, so a request that overlaps a
 * logout or "sign out everywhere else" cannot bring it back: the loaded key travels with koa's ctx,
 * with the session's `_expire` and owner then, so a save that barely moves the expiry keeps it (a
 * repeat save, with the stored `_expire` left at the key's).
 */
import { checkTrackDevices, type DeviceTrackerOptions, seenOn } from "./devices.js";
import type { Loaded } from "./loaded.js";
import { mark, markOf } from "./marks.js";
import { RedisSessions, type RedisSessionsOptions } from "./redis-sessions.js";

/** createKoaStore's options: the store's, plus device tracking. */
export interface KoaStoreOptions<S extends KoaSessionData = KoaSessionData> extends RedisSessionsOptions<S> {
  /**
   * Record each signed-in session's device (user agent and `ctx.ip`, which honours `app.proxy`)
   * beside it at every save koa-session makes, for listUserSessions(); `{ anonymous: true }` records
   * anonymous sessions too. Needs the per-user index. @default false
   */
  trackDevices?: boolean | DeviceTrackerOptions;
}

/** What koa-session keeps in a session, besides the app's data. */
export interface KoaSessionData {
  _expire?: number;
  _maxAge?: number;
  _session?: boolean;
  [key: string]: unknown;
}

/** koa-session's external store contract, with the per-user methods on `store`. */
export interface KoaStore<S extends KoaSessionData = KoaSessionData> {
  get(key: string, maxAge: number | "session" | undefined, options: { rolling?: boolean; ctx?: object }): Promise<S | null>;
  set(
    key: string,
    session: S,
    maxAge: number | "session" | undefined,
    options: { rolling?: boolean; changed?: boolean; ctx?: object },
  ): Promise<void>;
  destroy(key: string, options: { ctx?: object }): Promise<void>;
  /** The sessions behind this store: listUserSessions, countUserSessions, destroyUserSessions, ... */
  readonly store: RedisSessions<S>;
}

/** Why a parsed value is not a koa-session session, or undefined. */
function koaShape(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return "not an object";
  const expire = (parsed as { _expire?: unknown })._expire;
  if (expire !== undefined && typeof expire !== "number") return "_expire is not a number";
  return undefined;
}

/** The key a request (koa ctx) loaded, with what it loaded: its saves must find the session still there. */
interface LoadedByCtx {
  key: string;
  loaded: Loaded;
}
/** Carried on the ctx itself (see marks.ts), so nothing is kept per request once the request is gone. */
const CTX_LOADED = Symbol("redis-session-store.koaLoaded");

/**
 * A koa-session store on Redis: `app.use(session({ store: createKoaStore({ client }) }, app))`.
 * The session lives until koa-session's `_expire` (its `maxAge`); with `maxAge: "session"` (a
 * browser-session cookie) it lives the store's `ttl` seconds in Redis.
 */
export function createKoaStore<S extends KoaSessionData = KoaSessionData>(options: KoaStoreOptions<S>): KoaStore<S> {
  const { trackDevices, ...storeOptions } = options ?? ({} as KoaStoreOptions<S>);
  const tracking = checkTrackDevices(trackDevices, storeOptions.userId === false);
  // A kept expiry is stored as koa-session's own, so what it reads back is the key's.
  const sessions = new RedisSessions<S>(storeOptions, koaShape, (session, expireAt) => ({ ...session, _expire: expireAt }));
  return {
    store: sessions,
    async get(key, _maxAge, { ctx } = {}) {
      const session = await sessions.get(key);
      if (session && ctx) mark<LoadedByCtx>(ctx, CTX_LOADED, { key, loaded: sessions.loadedFrom(session, session._expire) });
      return session;
    },
    async set(key, session, maxAge, { ctx } = {}) {
      const expiresInMs =
        typeof session._expire === "number" ? session._expire - Date.now() : typeof maxAge === "number" ? maxAge : undefined;
      const loadedHere = ctx === undefined ? undefined : markOf<LoadedByCtx>(ctx, CTX_LOADED);
      await sessions.set(key, session, {
        expiresInMs,
        loaded: loadedHere?.key === key ? loadedHere.loaded : undefined,
        device: tracking && ctx ? seenOn(ctx as never) : undefined,
        anonymousDevice: tracking?.anonymous ?? false,
      });
    },
    async destroy(key, { ctx } = {}) {
      if (ctx) mark<LoadedByCtx | undefined>(ctx, CTX_LOADED, undefined);
      await sessions.destroy(key);
    },
  };
}
