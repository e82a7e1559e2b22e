/**
 * One app process of the end-to-end workload (started by e2e.ts with fork()): an express 5 +
 * express-session app per contestant, each with its own node-redis client and port on 127.0.0.1.
 * Only the contestant under load gets requests; the others sit idle.
 *
 * The routes and the IPC with the bench process are e2e-harness.ts's.
 */
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import express from "express";
import session from "express-session";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { DAY_MS } from "./common.js";
import { serveParent } from "./e2e-harness.js";
import { RedisStore as OurStore } from "./ours.js";
import { trackRedisWrites } from "./redis-stats.js";
import { connectRedis, ours, type RedisClient } from "./stores.js";

/** The contestants' keys, in table order; e2e.ts names them. */
export const CONTESTANTS = [
  "connect-redis",
  "ours",
  "ours-devices",
  "ours-encrypted",
  "ours-touch60",
  "raw",
  "ours-ioredis",
  "raw-ioredis",
] as const;
export type Contestant = (typeof CONTESTANTS)[number];

/** One key for every app process (each reads the sessions the others wrote); a bench needs no secret. */
const BENCH_KEY = createHash("sha256").update("redis-session-store bench key").digest();

interface BenchSession {
  passport?: { user?: string };
  profile?: { name: string; locale: string; roles: string[] };
  visits?: number;
}

type Callback<T = void> = (error?: unknown, value?: T) => void;

/** The least a Redis store can do: GET, SET PX, PEXPIRE, DEL, plus JSON (no index, no scripts). */
class RawStore extends session.Store {
  readonly #client: RedisClient;
  constructor(client: RedisClient) {
    super();
    this.#client = client;
  }
  static #ttl(data: session.SessionData): number {
    const expires = data.cookie?.expires;
    return expires ? Math.max(1, new Date(expires).getTime() - Date.now()) : DAY_MS;
  }
  override get(sid: string, callback: Callback<session.SessionData | null>): void {
    this.#client.get(`raw:${sid}`).then(
      (value) => callback(undefined, value === null ? null : (JSON.parse(value) as session.SessionData)),
      (error) => callback(error),
    );
  }
  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    const value = JSON.stringify(data);
    this.#client.set(`raw:${sid}`, value, { expiration: { type: "PX", value: RawStore.#ttl(data) } }).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }
  override touch(sid: string, data: session.SessionData, callback?: Callback): void {
    this.#client.pExpire(`raw:${sid}`, RawStore.#ttl(data)).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }
  override destroy(sid: string, callback?: Callback): void {
    this.#client.del(`raw:${sid}`).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }
}

/** RawStore's commands through ioredis: the ceiling for a store on an ioredis client. */
class RawIoredisStore extends session.Store {
  readonly #client: Redis;
  constructor(client: Redis) {
    super();
    this.#client = client;
  }
  static #ttl(data: session.SessionData): number {
    const expires = data.cookie?.expires;
    return expires ? Math.max(1, new Date(expires).getTime() - Date.now()) : DAY_MS;
  }
  override get(sid: string, callback: Callback<session.SessionData | null>): void {
    this.#client.get(`rawio:${sid}`).then(
      (value) => callback(undefined, value === null ? null : (JSON.parse(value) as session.SessionData)),
      (error) => callback(error),
    );
  }
  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    this.#client.set(`rawio:${sid}`, JSON.stringify(data), "PX", RawIoredisStore.#ttl(data)).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }
  override touch(sid: string, data: session.SessionData, callback?: Callback): void {
    this.#client.pexpire(`rawio:${sid}`, RawIoredisStore.#ttl(data)).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }
  override destroy(sid: string, callback?: Callback): void {
    this.#client.del(`rawio:${sid}`).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }
}

function storeFor(contestant: Contestant, client: RedisClient, ioredis: Redis): session.Store {
  switch (contestant) {
    case "connect-redis":
      return connectRedis(client) as unknown as session.Store;
    case "ours":
      return ours(client) as unknown as session.Store;
    case "ours-devices":
      return ours(client, { prefix: "ours-dev:" }) as unknown as session.Store;
    case "ours-encrypted":
      return ours(client, { prefix: "ours-enc:", encryption: { keys: [{ id: "bench", key: BENCH_KEY }] } }) as unknown as session.Store;
    case "ours-touch60":
      return ours(client, { touchAfter: 60 }) as unknown as session.Store;
    case "raw":
      return new RawStore(client);
    case "ours-ioredis":
      return new OurStore({ client: ioredis, prefix: "ours-io:" }) as unknown as session.Store;
    case "raw-ioredis":
      return new RawIoredisStore(ioredis);
  }
}

async function startApp(store: session.Store, trackDevices = false) {
  const app = express();
  app.use(
    session({
      store,
      secret: "bench secret",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: DAY_MS, httpOnly: true, path: "/" },
    }),
  );
  if (trackDevices) app.use((store as unknown as OurStore).deviceTracker());
  // Signs in as passport does (the serialized user under passport.user), plus a little profile data.
  app.post("/login", (req, res) => {
    const s = req.session as unknown as BenchSession;
    const user = String(req.query.user);
    s.passport = { user };
    s.profile = { name: `User ${user}`, locale: "en-GB", roles: ["customer"] };
    res.send("ok");
  });
  // 90% of the load: reads the session only (express-session then calls store.touch()).
  app.get("/me", (req, res) => {
    const s = req.session as unknown as BenchSession;
    if (!s.passport?.user) {
      res.status(401).send("log in first");
      return;
    }
    res.json({ user: s.passport.user, name: s.profile?.name, visits: s.visits ?? 0 });
  });
  // 10% of the load: changes the session (express-session then calls store.set()).
  app.post("/visit", (req, res) => {
    const s = req.session as unknown as BenchSession;
    if (!s.passport?.user) {
      res.status(401).send("log in first");
      return;
    }
    s.visits = (s.visits ?? 0) + 1;
    res.json({ user: s.passport.user, visits: s.visits });
  });
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  return server;
}

async function main(): Promise<void> {
  const url = process.env.BENCH_REDIS_URL;
  if (!url) throw new Error("e2e-app.ts runs as a child of e2e.ts (fork, BENCH_REDIS_URL)");
  const take = trackRedisWrites(Number(new URL(url).port));
  const clients: RedisClient[] = [];
  const ioClients: Redis[] = [];
  const servers: Awaited<ReturnType<typeof startApp>>[] = [];
  const ports = {} as Record<Contestant, number>;
  for (const contestant of CONTESTANTS) {
    const client: RedisClient = createClient({ url });
    client.on("error", (error) => process.stderr.write(`[e2e app ${process.pid}] ${contestant} client error: ${error}\n`));
    await client.connect();
    clients.push(client);
    const ioredis = new Redis(url, { lazyConnect: true });
    ioredis.on("error", (error) => process.stderr.write(`[e2e app ${process.pid}] ${contestant} ioredis error: ${error}\n`));
    if (contestant.endsWith("ioredis")) await ioredis.connect();
    ioClients.push(ioredis);
    const server = await startApp(storeFor(contestant, client, ioredis), contestant === "ours-devices");
    servers.push(server);
    ports[contestant] = (server.address() as AddressInfo).port;
  }
  serveParent(ports, take, async () => {
    for (const server of servers) server.closeAllConnections();
    await Promise.allSettled([
      ...servers.map((s) => new Promise((resolve) => s.close(resolve))),
      ...clients.map((c) => c.quit()),
      ...ioClients.map(async (c) => c.disconnect()),
    ]);
  });
}

// Imported for its types by e2e.ts; runs only as the forked child.
if (process.send && process.env.BENCH_REDIS_URL) await main();
