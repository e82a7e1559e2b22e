/**
 * How the benchmark builds each contestant. Our store is imported from the repository's TypeScript
 * sources (lib/), so the benchmark always measures the working tree, not a stale build.
 */

import { RedisStore as ConnectRedisStore } from "connect-redis";
import type { SessionData, Store } from "express-session";
import type { Redis } from "ioredis";
import type { createClient } from "redis";
import { RedisStore as OurStore, type RedisStoreOptions } from "./ours.js";

export type RedisClient = ReturnType<typeof createClient>;

/** The four express-session calls of the hot path, promise-returning. */
export interface HotPathStore {
  name: string;
  set(sid: string, session: SessionData): Promise<unknown>;
  get(sid: string): Promise<SessionData | null | undefined>;
  touch(sid: string, session: SessionData): Promise<unknown>;
  destroy(sid: string): Promise<unknown>;
}

function expiresInMs(session: SessionData): number {
  const expires = (session as { cookie?: { expires?: string | Date } }).cookie?.expires;
  return expires ? new Date(expires).getTime() - Date.now() : 86_400_000;
}

/**
 * The ceiling: what any store must do at least. One command per call (GET, SET PX, PEXPIRE, DEL)
 * plus the JSON work every store does, on the same client.
 */
export function rawStore(client: RedisClient, prefix = "sess:"): HotPathStore {
  return {
    name: "raw node-redis (ceiling)",
    set: (sid, session) => client.set(prefix + sid, JSON.stringify(session), { expiration: { type: "PX", value: expiresInMs(session) } }),
    get: async (sid) => {
      const value = await client.get(prefix + sid);
      return value === null ? null : (JSON.parse(value) as SessionData);
    },
    touch: (sid, session) => client.pExpire(prefix + sid, expiresInMs(session)),
    destroy: (sid) => client.del(prefix + sid),
  };
}

/** rawStore's commands through an ioredis client: the ceiling for a store on ioredis. */
export function rawIoredisStore(client: Redis, prefix = "sess:"): HotPathStore {
  return {
    name: "raw ioredis 5",
    set: (sid, session) => client.set(prefix + sid, JSON.stringify(session), "PX", expiresInMs(session)),
    get: async (sid) => {
      const value = await client.get(prefix + sid);
      return value === null ? null : (JSON.parse(value) as SessionData);
    },
    touch: (sid, session) => client.pexpire(prefix + sid, expiresInMs(session)),
    destroy: (sid) => client.del(prefix + sid),
  };
}

export function connectRedis(client: RedisClient): ConnectRedisStore {
  return new ConnectRedisStore({ client });
}

export function ours(client: RedisClient | Redis, options: Omit<RedisStoreOptions, "client"> = {}): OurStore {
  return new OurStore({ client, ...options });
}

/** Adapts an express-session store to the hot-path interface (both stores return promises). */
export function asHotPath(name: string, store: Store): HotPathStore {
  const s = store as unknown as {
    set(sid: string, session: SessionData): Promise<unknown>;
    get(sid: string): Promise<SessionData | null>;
    touch(sid: string, session: SessionData): Promise<unknown>;
    destroy(sid: string): Promise<unknown>;
  };
  return {
    name,
    set: (sid, session) => s.set(sid, session),
    get: (sid) => s.get(sid),
    touch: (sid, session) => s.touch(sid, session),
    destroy: (sid) => s.destroy(sid),
  };
}

export { ConnectRedisStore, OurStore };
