/**
 * koa-session with createKoaStore in a real Koa app on a private redis-server: two clients of one
 * user, "sign out everywhere else", a logout that a late save cannot undo, expiry from koa-session's
 * maxAge (and the store's ttl for maxAge "session"), Redis down answering at once, and what a
 * request costs Redis (INFO commandstats): a save of the session the request loaded is one SET while
 * its owner and expiry stay, the full script when either moves.
 */
import Koa from "koa";
import session from "koa-session";
import { createClient } from "redis";
import { createKoaStore, type KoaSessionData, type KoaStore } from "../lib/koa";
import { countCalls as countCallsOf } from "./helpers/command-stats";
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

const DAY = 86_400_000;

async function makeApp(
  maxAge: number | "session" = 60_000,
  storeOptions: { ttl?: number; tombstoneTtl?: number; maxSessionsPerUser?: number; touchAfter?: number } = {},
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
    } else if (route === "hit") {
      s.hits = (s.hits ?? 0) + 1; // koa-session saves a session that changed
      ctx.body = { sid: s.externalKey, hits: s.hits };
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
const countCalls = (act: () => Promise<unknown>) => countCallsOf(client, act);
const stored = async (store: KoaStore, sid: string) => (await store.store.get(sid)) as KoaSessionData & Data;

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

  test("a request that changes its session saves it with one SET (XX KEEPTTL GET) while owner and expiry stay: no script", async () => {
    const { store, port, prefix } = await makeApp(DAY);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/ivy", { jar })).json.sid as string;
    const expireAt = (await stored(store, sid))._expire as number;

    const calls = await countCalls(async () => {
      for (let i = 1; i <= 5; i++) expect((await send(port, "POST", "/hit", { jar })).json.hits).toBe(i);
    });
    expect(calls).toEqual({ get: 5, set: 5, evalsha: 0, pttl: 0 });

    // The key kept its expiry, and the stored _expire (what koa-session checks) is still the key's.
    const after = await stored(store, sid);
    expect(after.hits).toBe(5);
    expect(after._expire).toBe(expireAt);
    expect(Math.abs(Date.now() + (await client.pTTL(`${prefix}${sid}`)) - expireAt)).toBeLessThan(1000);
    // koa-session's maxAge would end it later, by less than touchAfter ("auto": 60 s for a day).
    expect(Date.now() + DAY - expireAt).toBeLessThan(60_000);
    expect(await ids(store, "ivy")).toEqual([sid]);
  });

  test("a save that would move the expiry by touchAfter or more runs the full script and moves it", async () => {
    const { store, port, prefix } = await makeApp(DAY);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/jon", { jar })).json.sid as string;
    // As if the session had been saved 10 minutes ago: its key and _expire end 10 minutes earlier.
    const earlier = Date.now() + DAY - 600_000;
    await store.store.set(sid, { ...(await stored(store, sid)), _expire: earlier }, { expiresInMs: earlier - Date.now() });
    expect(await client.pTTL(`${prefix}${sid}`)).toBeLessThan(DAY - 590_000);

    expect((await countCalls(() => send(port, "POST", "/hit", { jar }))).evalsha).toBe(1);
    expect(await client.pTTL(`${prefix}${sid}`)).toBeGreaterThan(DAY - 60_000);
    expect((await stored(store, sid))._expire).toBeGreaterThan(earlier + 500_000);
    // The next save is a repeat save again.
    expect(await countCalls(() => send(port, "POST", "/hit", { jar }))).toEqual({ get: 1, set: 1, evalsha: 0, pttl: 0 });
  });

  test("touchAfter: 0: every save writes the expiry (the full script)", async () => {
    const { port } = await makeApp(DAY, { touchAfter: 0 });
    const jar = new CookieJar();
    await send(port, "POST", "/login/kit", { jar });
    expect((await countCalls(() => send(port, "POST", "/hit", { jar }))).evalsha).toBe(1);
  });

  test("another user on the same session (an owner change) runs the full script: the index follows", async () => {
    const { store, port } = await makeApp(DAY);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/kim", { jar })).json.sid as string;
    expect((await countCalls(() => send(port, "POST", "/login/lea", { jar }))).evalsha).toBe(1);
    expect(await ids(store, "kim")).toEqual([]);
    expect(await ids(store, "lea")).toEqual([sid]);
    expect((await send(port, "GET", "/me", { jar })).json).toEqual({ sid, userId: "lea" });
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
