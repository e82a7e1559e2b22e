/**
 * koa-session with createKoaStore in a real Koa app on a private redis-server: two clients of one
 * user, "sign out everywhere else", a logout that a late save cannot undo, expiry from koa-session's
 * maxAge (and the store's ttl for maxAge "session"), and Redis down answering at once.
 */
import Koa from "koa";
import session from "koa-session";
import { createClient } from "redis";
import { createKoaStore, type KoaStore } from "../lib/koa";
import { CookieJar, closeServer, type Deferred, deferred, listen, send } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(30000);

const COMMAND_TIMEOUT = 500;
const BOUND = COMMAND_TIMEOUT + 2500;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
const servers: Awaited<ReturnType<typeof listen>>["server"][] = [];
let prefixes = 0;
let slow: { reached: Deferred; gate: Deferred } | undefined;

type Data = { userId?: string; hits?: number };

async function makeApp(
  maxAge: number | "session" = 60_000,
  storeOptions: { ttl?: number; tombstoneTtl?: number; maxSessionsPerUser?: number } = {},
): Promise<{ store: KoaStore; port: number; prefix: string }> {
  const prefix = `koa-${++prefixes}:`;
  const store = createKoaStore({ client, prefix, commandTimeout: COMMAND_TIMEOUT, ...storeOptions });
  const app = new Koa();
  app.keys = ["koa test secret"];
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      ctx.status = 500;
      ctx.body = { error: (error as Error).name };
    }
  });
  app.use(session({ store, maxAge }, app));
  app.use(async (ctx) => {
    const s = ctx.session as unknown as Data & { externalKey: string };
    const [, route, user] = ctx.path.split("/");
    if (route === "login") {
      s.userId = user;
      ctx.body = { sid: s.externalKey };
    } else if (route === "me") {
      ctx.body = { sid: s.externalKey, userId: s.userId ?? null };
    } else if (route === "sign-out-others") {
      ctx.body = { destroyed: await store.store.destroyUserSessions(String(s.userId), { except: s.externalKey }) };
    } else if (route === "logout") {
      ctx.session = null;
      ctx.body = { ok: true };
    } else if (route === "slow") {
      slow?.reached.resolve();
      await slow?.gate.promise;
      s.hits = 1;
      ctx.body = { sid: s.externalKey };
    }
  });
  const { server, port } = await listen(app);
  servers.push(server);
  return { store, port, prefix };
}

const ids = async (store: KoaStore, user: string) => (await store.store.listUserSessions(user)).map((s) => s.id).sort();

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url, socket: { reconnectStrategy: (retries) => Math.min(20 * (retries + 1), 200) } });
  client.on("error", () => undefined);
  await client.connect();
});

afterAll(async () => {
  for (const server of servers) await closeServer(server);
  client.destroy();
  await redis.stop(true);
  removeDir(redis);
});

describe("Koa + koa-session + createKoaStore", () => {
  test("one user signed in from two clients: both are listed; signing out everywhere else makes the other anonymous", async () => {
    const { store, port } = await makeApp();
    const [a, b] = [new CookieJar(), new CookieJar()];
    const sidA = (await send(port, "POST", "/login/ann", { jar: a })).json.sid as string;
    const sidB = (await send(port, "POST", "/login/ann", { jar: b })).json.sid as string;
    expect(await ids(store, "ann")).toEqual([sidA, sidB].sort());
    expect(await store.store.countUserSessions("ann")).toBe(2);
    expect((await send(port, "GET", "/me", { jar: b })).json).toEqual({ sid: sidB, userId: "ann" });

    expect((await send(port, "POST", "/sign-out-others", { jar: a })).json).toEqual({ destroyed: 1 });
    expect((await send(port, "GET", "/me", { jar: b })).json.userId).toBeNull();
    expect((await send(port, "GET", "/me", { jar: a })).json).toEqual({ sid: sidA, userId: "ann" });
    expect(await ids(store, "ann")).toEqual([sidA]);
  });

  test.each([
    ["with tombstones", {}],
    ["without tombstones (the save must find the session it loaded)", { tombstoneTtl: 0 }],
  ])("logout is final %s: a request that loaded the session before it cannot save it back", async (_, storeOptions) => {
    const { store, port } = await makeApp(60_000, storeOptions);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/bea", { jar })).json.sid as string;
    slow = { reached: deferred(), gate: deferred() };
    const late = send(port, "POST", "/slow", { jar });
    await slow.reached.promise; // that request has loaded the session
    expect((await send(port, "POST", "/logout", { jar })).status).toBe(200);
    slow.gate.resolve();
    expect((await late).status).toBe(200); // and saved it (hits: 1) after the logout
    slow = undefined;
    expect(await store.store.get(sid)).toBeNull();
    expect(await ids(store, "bea")).toEqual([]);
  });

  test("maxSessionsPerUser: 1: a second sign-in signs the first client out", async () => {
    const { store, port } = await makeApp(60_000, { maxSessionsPerUser: 1 });
    const [a, b] = [new CookieJar(), new CookieJar()];
    await send(port, "POST", "/login/fay", { jar: a });
    const sidB = (await send(port, "POST", "/login/fay", { jar: b })).json.sid as string;
    expect(await ids(store, "fay")).toEqual([sidB]);
    expect((await send(port, "GET", "/me", { jar: a })).json.userId).toBeNull();
  });

  test("a session expires with koa-session's maxAge (its _expire), not koa-session's maxAge + 10 s", async () => {
    const { store, port, prefix } = await makeApp(400);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/cid", { jar })).json.sid as string;
    const pttl = await client.pTTL(`${prefix}${sid}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(400);
    await waitFor(async () => (await client.exists(`${prefix}${sid}`)) === 0, 5000, "the session to expire");
    expect(await ids(store, "cid")).toEqual([]);
    expect((await send(port, "GET", "/me", { jar })).json.userId).toBeNull();
  });

  test('maxAge "session" (a browser-session cookie) lives the store\'s ttl in Redis', async () => {
    const { port, prefix } = await makeApp("session", { ttl: 120 });
    const sid = (await send(port, "POST", "/login/dee", { jar: new CookieJar() })).json.sid as string;
    const pttl = await client.pTTL(`${prefix}${sid}`);
    expect(pttl).toBeGreaterThan(115_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
  });

  test("a stored value that is not a koa-session session reads as none and is reported", async () => {
    const { store, prefix } = await makeApp();
    const errors: string[] = [];
    store.store.on("decodeError", (error) => errors.push(error.sessionId));
    await client.set(`${prefix}odd`, JSON.stringify({ _expire: "tomorrow" }));
    await client.set(`${prefix}list`, "[1]");
    expect(await store.get("odd", 60_000, {})).toBeNull();
    expect(await store.get("list", 60_000, {})).toBeNull();
    expect(errors).toEqual(["odd", "list"]);
  });

  test("Redis down: requests with a session cookie fail within commandTimeout instead of hanging", async () => {
    const { port } = await makeApp();
    const jar = new CookieJar();
    await send(port, "POST", "/login/eve", { jar });
    await redis.stop(true);
    const outcome = await send(port, "GET", "/me", { jar, boundMs: BOUND });
    expect(outcome.status).toBe(500);
    expect(outcome.json).toEqual({ error: "RedisUnavailableError" });
    expect(outcome.ms).toBeLessThan(BOUND);
  });
});
