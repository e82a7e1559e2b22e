/**
 * The per-user contestants, each through its own native API:
 * - ours: set() with passport.user, listUserSessions(), destroyUserSessions(), countActiveUsers()
 * - redis-sessions 4: create({ app, id, ip, ttl, d }), soid(), killsoid(), activity() (its own redis@4 client)
 * - redisess 2.6: SessionManager.create(), getUserSessions() + get() of each, killUser(), getAllUsers() (ioredis client)
 * Every list returns the sessions with their data (redisess's getUserSessions() gives ids only, so
 * its list also reads each session, as a "your devices" page must).
 */
import type { SessionData } from "express-session";
import { Redis as IORedis } from "ioredis";
import redisSessionsModule from "redis-sessions";
import { SessionManager } from "redisess";
import { makeSid } from "./common.js";
import { ours, type RedisClient } from "./stores.js";

// redis-sessions is CommonJS with `exports.default`: unwrap it whichever way the loader hands it over.
type RedisSessionsClass = typeof redisSessionsModule.default;
const RedisSessions = ((redisSessionsModule as unknown as { default?: unknown }).default ?? redisSessionsModule) as RedisSessionsClass;

export const ACTIVE_WINDOW_S = 3600;
const TTL_S = 86_400;

export interface PerUserContestant {
  name: string;
  /** Creates a session for `userId` holding `data`; resolves with its id. */
  create(userId: string, data: Record<string, unknown>): Promise<string>;
  /** Lists one user's sessions with their data; resolves with how many. */
  list(userId: string): Promise<number>;
  /** Ends every session of one user; resolves with how many were ended (when the API says). */
  killUser(userId: string): Promise<number | undefined>;
  /** Users active within the last hour. */
  countActiveUsers(): Promise<number>;
  close(): Promise<void>;
}

export function oursPerUser(client: RedisClient): PerUserContestant {
  const store = ours(client);
  return {
    name: "ours",
    async create(userId, data) {
      const sid = makeSid();
      await store.set(sid, { ...data, passport: { user: userId } } as unknown as SessionData);
      return sid;
    },
    list: async (userId) => (await store.listUserSessions(userId)).length,
    killUser: (userId) => store.destroyUserSessions(userId),
    countActiveUsers: () => store.countActiveUsers(ACTIVE_WINDOW_S),
    close: async () => undefined,
  };
}

export async function redisSessionsPerUser(port: number): Promise<PerUserContestant> {
  // wipe: 0 turns its 10-minute wipe timer off (nothing expires during the run).
  const rs = new RedisSessions<{ data: string }>({ port, host: "127.0.0.1", namespace: "rs", wipe: 0 });
  const app = "bench";
  await rs.ping();
  return {
    name: "redis-sessions 4",
    create: async (userId, data) =>
      (await rs.create({ app, id: userId, ip: "127.0.0.1", ttl: TTL_S, d: { data: JSON.stringify(data) } })).token,
    list: async (userId) => (await rs.soid({ app, id: userId })).sessions.length,
    killUser: async (userId) => (await rs.killsoid({ app, id: userId })).kill,
    countActiveUsers: async () => (await rs.activity({ app, deltaTime: ACTIVE_WINDOW_S })).activity,
    close: () => rs.quit(),
  };
}

export async function redisessPerUser(port: number): Promise<PerUserContestant> {
  const client = new IORedis({ port, host: "127.0.0.1", lazyConnect: true });
  client.on("error", () => undefined);
  await client.connect();
  const manager = new SessionManager(client, { namespace: "redisess", ttl: TTL_S, additionalFields: ["data"] });
  return {
    name: "redisess 2.6",
    create: async (userId, data) => (await manager.create(userId, { ttl: TTL_S, data: JSON.stringify(data) })).sessionId,
    async list(userId) {
      const ids = await manager.getUserSessions(userId);
      const sessions = await Promise.all(ids.map((id) => manager.get(id, true)));
      return sessions.filter(Boolean).length;
    },
    async killUser(userId) {
      await manager.killUser(userId);
      return undefined;
    },
    countActiveUsers: async () => (await manager.getAllUsers(ACTIVE_WINDOW_S)).length,
    async close() {
      manager.quit();
      await client.quit();
    },
  };
}
