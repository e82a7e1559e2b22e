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
 *
 * The session objects getSession returns are marked with the owner they were loaded with
 * (loaded.ts), so commitSession of one can be a repeat save: the stored data holds no expiry, so Redis's
 * PTTL, sent with the save, says whether the key's expiry is near enough to keep.
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
import { checkDevice, checkTrackDevices, type DeviceTrackerOptions } from "./devices.js";
import { type Loaded, loadedMark, markLoaded } from "./loaded.js";
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
  const { cookie: cookieArg, trackDevices, ...storeOptions } = options ?? ({} as RedisSessionStorageOptions<Data, FlashData>);
  const tracking = checkTrackDevices(trackDevices, storeOptions.userId === false);
  const store = new RedisSessions<FlashSessionData<Data, FlashData>>(storeOptions);
  // The device and the loaded session of the commit under way: createData and updateData are called inside it.
  const committing = new AsyncLocalStorage<{ seen: SeenDevice | undefined; loaded: Loaded | undefined }>();
  const device = () => (tracking ? { device: committing.getStore()?.seen, anonymousDevice: tracking.anonymous } : {});
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
      await store.set(id, data, { expiresInMs: lifetime(expires), mustExist: true, loaded: committing.getStore()?.loaded, ...device() });
    },
    deleteData: (id) => store.destroy(id),
  });
  return {
    ...storage,
    async commitSession(session, commitOptions) {
      const { device: seen, ...cookieOptions } = commitOptions ?? {};
      const checked = checkDevice(seen, "commitSession's device");
      // A session object is loaded under one id for good (React Router's `id` is read-only).
      const loaded = session.id ? loadedMark(session) : undefined;
      return committing.run({ seen: checked, loaded }, () => storage.commitSession(session, cookieOptions));
    },
    async getSession(cookieHeader, parseOptions) {
      const id: unknown = cookieHeader ? await cookie.parse(cookieHeader, parseOptions) : null;
      const data = typeof id === "string" && id !== "" ? await store.get(id) : null;
      const session = createSession<Data, FlashData>((data ?? {}) as Data, data ? (id as string) : "");
      if (data) markLoaded(session, store.loadedFrom(data));
      return session;
    },
    store,
  };
}
