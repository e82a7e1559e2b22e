/**
 * React Router's session storage (`createSessionStorage`) over RedisSessions. React Router passes
 * the session's data and the cookie's expiry; the data is a fresh object each time, so it carries
 * no cookie of its own and is checked only for being an object.
 *
 * One difference from React Router's own getSession: a cookie whose session is gone (expired,
 * destroyed, signed out elsewhere) gives a session without an id, so the next commit creates a new
 * one under a new id, as express-session does, instead of writing under the old id. That is what
 * lets every update require its session to still exist: a request that overlaps a logout cannot
 * bring the session back.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import {
  type Cookie,
  type CookieOptions,
  createCookie,
  createSession,
  createSessionStorage,
  type FlashSessionData,
  isCookie,
  type SessionData,
  type SessionStorage,
} from "react-router";
import type { SeenDevice } from "../device.js";
import { checkDevice, checkTrackerOptions, type DeviceTrackerOptions } from "./devices.js";
import { RedisSessions, type RedisSessionsOptions } from "./redis-sessions.js";

/** Bytes of randomness in a session id (base64url, 32 characters), as express-session's 24. */
const ID_BYTES = 24;

export interface RedisSessionStorageOptions<Data = SessionData, FlashData = Data>
  extends RedisSessionsOptions<FlashSessionData<Data, FlashData>> {
  /** The cookie that holds the session id, or options for one (React Router's `createCookie`). Sign it: `secrets`. */
  cookie?: Cookie | (CookieOptions & { name?: string });
  /**
   * Record the device a commit names (`commitSession(session, { device })`) beside a signed-in
   * session, for listUserSessions(); `{ anonymous: true }` records anonymous sessions too. @default false
   */
  trackDevices?: boolean | DeviceTrackerOptions;
}

/** commitSession's options: React Router's cookie options, plus the device the request came from. */
export type CommitOptions = Parameters<SessionStorage["commitSession"]>[1] & {
  /** The request's user agent and IP (from your server adapter), recorded when `trackDevices` is on. */
  device?: SeenDevice;
};

/** React Router's SessionStorage, with the per-user methods on `store`. */
export type RedisSessionStorage<Data = SessionData, FlashData = Data> = Omit<SessionStorage<Data, FlashData>, "commitSession"> & {
  commitSession(session: Parameters<SessionStorage<Data, FlashData>["commitSession"]>[0], options?: CommitOptions): Promise<string>;
  /** The sessions behind this storage: listUserSessions, countUserSessions, destroyUserSessions, ... */
  readonly store: RedisSessions<FlashSessionData<Data, FlashData>>;
};

/**
 * A React Router session storage on Redis. A session lives until the cookie's expiry (its
 * `maxAge` or `expires`, or commitSession's), else the store's `ttl` seconds.
 */
export function createRedisSessionStorage<Data = SessionData, FlashData = Data>(
  options: RedisSessionStorageOptions<Data, FlashData>,
): RedisSessionStorage<Data, FlashData> {
  const { cookie: cookieArg, trackDevices = false, ...storeOptions } = options ?? ({} as RedisSessionStorageOptions<Data, FlashData>);
  if (typeof trackDevices !== "boolean" && (trackDevices === null || typeof trackDevices !== "object")) {
    throw new TypeError(`redis-session-store: option "trackDevices" must be a boolean or { anonymous }, got ${String(trackDevices)}`);
  }
  const tracking =
    trackDevices === false ? undefined : checkTrackerOptions(trackDevices === true ? undefined : trackDevices, "trackDevices");
  if (tracking && storeOptions.userId === false) {
    throw new TypeError(
      'redis-session-store: option "trackDevices" needs the per-user index (its devices show in listUserSessions()): remove `userId: false`',
    );
  }
  const store = new RedisSessions<FlashSessionData<Data, FlashData>>(storeOptions);
  // The device of the commit under way: createData and updateData are called inside it.
  const committing = new AsyncLocalStorage<SeenDevice | undefined>();
  const device = () => (tracking ? { device: committing.getStore(), anonymousDevice: tracking.anonymous } : {});
  const cookie = isCookie(cookieArg) ? cookieArg : createCookie(cookieArg?.name || "__session", cookieArg);
  const lifetime = (expires: Date | undefined) => (expires ? expires.getTime() - Date.now() : undefined);
  const storage = createSessionStorage<Data, FlashData>({
    cookie,
    async createData(data, expires) {
      for (;;) {
        const id = randomBytes(ID_BYTES).toString("base64url");
        // Only a tombstone on the id refuses this save (192 random bits: in theory); then draw again.
        if (await store.set(id, data, { expiresInMs: lifetime(expires), ...device() })) return id;
      }
    },
    readData: (id) => store.get(id),
    async updateData(id, data, expires) {
      await store.set(id, data, { expiresInMs: lifetime(expires), mustExist: true, ...device() });
    },
    deleteData: (id) => store.destroy(id),
  });
  return {
    ...storage,
    async commitSession(session, commitOptions) {
      const { device: seen, ...cookieOptions } = commitOptions ?? {};
      const checked = checkDevice(seen, "commitSession's device");
      return committing.run(checked, () => storage.commitSession(session, cookieOptions));
    },
    async getSession(cookieHeader, parseOptions) {
      const id: unknown = cookieHeader ? await cookie.parse(cookieHeader, parseOptions) : null;
      const data = typeof id === "string" && id !== "" ? await store.get(id) : null;
      return createSession<Data, FlashData>((data ?? {}) as Data, data ? (id as string) : "");
    },
    store,
  };
}
