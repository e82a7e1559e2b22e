/**
 * @fastify/session with RedisStore as it is, in a real Fastify app on a private redis-server: two
 * clients of one user, "sign out everywhere else", a logout that a late save cannot undo, expiry
 * from the cookie's maxAge, Redis down answering at once instead of hanging, and what a request
 * costs Redis (INFO commandstats of the private server): a save of the session the request loaded
 * is one SET while its owner and expiry stay, the full script when either moves.
 */
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import Fastify, { type FastifyInstance } from "fastify";
import { createClient } from "redis";
import { LoadedHandoff } from "../lib/frameworks/loaded";
import { RedisStore } from "../lib/index";
import { countCalls as countCallsOf } from "./helpers/command-stats";
import { CookieJar, type Deferred, deferred, send } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(30000);

const COMMAND_TIMEOUT = 500;
const BOUND = COMMAND_TIMEOUT + 2500;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
const apps: FastifyInstance[] = [];
let prefixes = 0;

const DAY = 86_400_000;

/**
 * The /slow route says it has the session (`reached`), then waits for `gate`: a test logs out in
 * between. `/slow?tag=x` waits on gates.get("x") instead, for several requests held at once.
 */
let slow: { reached: Deferred; gate: Deferred } | undefined;
const gates = new Map<string, { reached: Deferred; gate: Deferred }>();

async function makeApp(
  cookie: { maxAge?: number } = {},
  storeOptions: { maxSessionsPerUser?: number; tombstoneTtl?: number } = {},
  samePrefix?: string,
): Promise<{ store: RedisStore; port: number; prefix: string }> {
  const prefix = samePrefix ?? `fastify-${++prefixes}:`;
  const store = new RedisStore({ client, prefix, commandTimeout: COMMAND_TIMEOUT, ...storeOptions });
  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    store,
    secret: "a secret of at least thirty-two characters",
    saveUninitialized: false,
    cookie: { secure: false, ...cookie },
  });
  app.post<{ Params: { user: string } }>("/login/:user", async (request) => {
    await request.session.regenerate();
    request.session.set("userId", request.params.user);
    return { sid: request.session.sessionId };
  });
  app.get("/me", async (request) => ({ sid: request.session.sessionId, userId: request.session.get("userId") ?? null }));
  app.post("/sign-out-others", async (request) => ({
    destroyed: await store.destroyUserSessions(String(request.session.get("userId")), { except: request.session.sessionId }),
  }));
  app.post("/logout", async (request) => {
    await request.session.destroy();
    return { ok: true };
  });
  app.post<{ Params: { user: string } }>("/switch/:user", async (request) => {
    request.session.set("userId", request.params.user); // another user on the same session id
    return { sid: request.session.sessionId };
  });
  app.post<{ Querystring: { tag?: string } }>("/slow", async (request) => {
    const held = request.query.tag === undefined ? slow : gates.get(request.query.tag);
    held?.reached.resolve();
    await held?.gate.promise;
    request.session.set("hits", (request.session.get("hits") ?? 0) + 1);
    return { sid: request.session.sessionId };
  });
  app.setErrorHandler((error, _request, reply) => {
    reply.status(500).send({ error: (error as Error).name });
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  apps.push(app);
  const address = app.server.address();
  return { store, prefix, port: typeof address === "object" && address ? address.port : 0 };
}

declare module "fastify" {
  interface Session {
    userId?: string;
    hits?: number;
  }
}

const ids = async (store: RedisStore, user: string) => (await store.listUserSessions(user)).map((s) => s.id).sort();

const countCalls = (act: () => Promise<unknown>) => countCallsOf(client, act);

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url, socket: { reconnectStrategy: (retries) => Math.min(20 * (retries + 1), 200) } });
  client.on("error", () => undefined);
  await client.connect();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  client.destroy();
  await redis.stop(true);
  removeDir(redis);
});

describe("Fastify + @fastify/session + RedisStore", () => {
  test("one user signed in from two clients: both are listed; signing out everywhere else makes the other anonymous", async () => {
    const { store, port } = await makeApp();
    const [a, b] = [new CookieJar(), new CookieJar()];
    const sidA = (await send(port, "POST", "/login/ann", { jar: a })).json.sid as string;
    const sidB = (await send(port, "POST", "/login/ann", { jar: b })).json.sid as string;
    expect(await ids(store, "ann")).toEqual([sidA, sidB].sort());
    expect((await send(port, "GET", "/me", { jar: b })).json).toEqual({ sid: sidB, userId: "ann" });

    expect((await send(port, "POST", "/sign-out-others", { jar: a })).json).toEqual({ destroyed: 1 });
    expect((await send(port, "GET", "/me", { jar: b })).json.userId).toBeNull();
    expect((await send(port, "GET", "/me", { jar: a })).json).toEqual({ sid: sidA, userId: "ann" });
    expect(await ids(store, "ann")).toEqual([sidA]);
  });

  test.each([
    ["with tombstones", {}],
    ["without tombstones (this process knows the request loaded it: the save must find it)", { tombstoneTtl: 0 }],
  ])("logout is final %s: a request that loaded the session before it cannot save it back", async (_, storeOptions) => {
    const { store, port } = await makeApp({}, storeOptions);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/bea", { jar })).json.sid as string;
    slow = { reached: deferred(), gate: deferred() };
    const late = send(port, "POST", "/slow", { jar });
    await slow.reached.promise; // that request has loaded the session
    expect((await send(port, "POST", "/logout", { jar })).status).toBe(200);
    slow.gate.resolve();
    expect((await late).status).toBe(200); // and saved it (hits: 1) after the logout
    slow = undefined;
    expect(await store.get(sid)).toBeNull();
    expect(await ids(store, "bea")).toEqual([]);
  });

  test("maxSessionsPerUser: 1: a second sign-in signs the first client out", async () => {
    const { store, port } = await makeApp({}, { maxSessionsPerUser: 1 });
    const [a, b] = [new CookieJar(), new CookieJar()];
    await send(port, "POST", "/login/fay", { jar: a });
    const sidB = (await send(port, "POST", "/login/fay", { jar: b })).json.sid as string;
    expect(await ids(store, "fay")).toEqual([sidB]);
    expect((await send(port, "GET", "/me", { jar: a })).json.userId).toBeNull();
  });

  test("a session expires with the cookie's maxAge", async () => {
    const { store, port, prefix } = await makeApp({ maxAge: 400 });
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/cid", { jar })).json.sid as string;
    const pttl = await client.pTTL(`${prefix}${sid}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(400);
    await waitFor(async () => (await client.exists(`${prefix}${sid}`)) === 0, 5000, "the session to expire");
    expect(await ids(store, "cid")).toEqual([]);
    expect((await send(port, "GET", "/me", { jar })).json.userId).toBeNull();
  });

  test("a request that loaded its session saves it with one SET (XX KEEPTTL GET) while owner and expiry stay: no script", async () => {
    const { store, port, prefix } = await makeApp({ maxAge: DAY });
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/ivy", { jar })).json.sid as string;
    const stored = await store.get(sid);
    const expireAt = new Date(stored?.cookie.expires as unknown as string).getTime();

    // @fastify/session saves on every request (rolling): reads and changes alike.
    const calls = await countCalls(async () => {
      for (let i = 0; i < 5; i++) expect((await send(port, "GET", "/me", { jar })).json.userId).toBe("ivy");
      expect((await send(port, "POST", "/slow?tag=none", { jar })).status).toBe(200);
    });
    expect(calls).toEqual({ get: 6, set: 6, evalsha: 0, pttl: 0 });

    // The key kept its expiry, and the stored cookie.expires is still the key's real one.
    const after = await store.get(sid);
    expect((after as { hits?: number } | null)?.hits).toBe(1);
    expect(new Date(after?.cookie.expires as unknown as string).getTime()).toBe(expireAt);
    const left = await client.pTTL(`${prefix}${sid}`);
    expect(Math.abs(Date.now() + left - expireAt)).toBeLessThan(1000);
    // The browser's cookie says a later expiry than the key's, by less than touchAfter ("auto": 60 s for a day).
    const browserExpiry = Date.now() + DAY;
    expect(browserExpiry - expireAt).toBeLessThan(60_000);
    expect(await ids(store, "ivy")).toEqual([sid]);
  });

  test("a store that has also served express-session leaves no hints: Fastify's saves are written in full, and logout stays final", async () => {
    const { store, port } = await makeApp({ maxAge: DAY });
    // express-session hands each session it loads to createSession; from then on get() leaves nothing behind.
    store.createSession({ sessionID: "an-express-request" } as never, { cookie: { originalMaxAge: DAY } } as never);
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/una", { jar })).json.sid as string;
    const calls = await countCalls(async () => {
      for (let i = 0; i < 3; i++) expect((await send(port, "GET", "/me", { jar })).json).toEqual({ sid, userId: "una" });
    });
    expect(calls.evalsha).toBe(3); // each save is the full script: no SET XX KEEPTTL of a hinted repeat save
    expect(await ids(store, "una")).toEqual([sid]);

    slow = { reached: deferred(), gate: deferred() };
    const late = send(port, "POST", "/slow", { jar });
    await slow.reached.promise;
    expect((await send(port, "POST", "/logout", { jar })).status).toBe(200);
    slow.gate.resolve();
    expect((await late).status).toBe(200);
    slow = undefined;
    expect(await store.get(sid)).toBeNull();
    expect(await ids(store, "una")).toEqual([]);
  });

  test("a save that would move the expiry by touchAfter or more runs the full script and moves it", async () => {
    const { store, port, prefix } = await makeApp({ maxAge: DAY });
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/jon", { jar })).json.sid as string;
    // As if the session had been saved 10 minutes ago: its key and cookie.expires end 10 minutes earlier.
    const stored = (await store.get(sid)) as NonNullable<Awaited<ReturnType<RedisStore["get"]>>>;
    const earlier = Date.now() + DAY - 600_000;
    (stored.cookie as { expires?: unknown }).expires = new Date(earlier).toISOString();
    await store.set(sid, stored);
    expect(await client.pTTL(`${prefix}${sid}`)).toBeLessThan(DAY - 590_000);

    const calls = await countCalls(() => send(port, "GET", "/me", { jar }));
    expect(calls).toMatchObject({ evalsha: 1, pttl: 1 }); // the PTTL is the script's
    expect(await client.pTTL(`${prefix}${sid}`)).toBeGreaterThan(DAY - 60_000);
    const after = await store.get(sid);
    expect(new Date(after?.cookie.expires as unknown as string).getTime()).toBeGreaterThan(earlier + 500_000);
    // The next request is a repeat save again.
    expect(await countCalls(() => send(port, "GET", "/me", { jar }))).toEqual({ get: 1, set: 1, evalsha: 0, pttl: 0 });
  });

  test("another user on the same session id (an owner change) runs the full script: the index follows", async () => {
    const { store, port } = await makeApp({ maxAge: DAY });
    const jar = new CookieJar();
    const sid = (await send(port, "POST", "/login/kim", { jar })).json.sid as string;
    const calls = await countCalls(() => send(port, "POST", "/switch/lea", { jar }));
    expect(calls.evalsha).toBe(1);
    expect(await ids(store, "kim")).toEqual([]);
    expect(await ids(store, "lea")).toEqual([sid]);
    expect((await send(port, "GET", "/me", { jar })).json).toEqual({ sid, userId: "lea" });
  });

  test("requests of one session in one process may take each other's hint: the save checks the owner it replaces", async () => {
    // Two processes behind a load balancer: two stores on one Redis, one prefix.
    const first = await makeApp({ maxAge: DAY });
    const second = await makeApp({ maxAge: DAY }, {}, first.prefix);
    const jar = new CookieJar();
    const sid = (await send(first.port, "POST", "/login/max", { jar })).json.sid as string;
    const hold = (tag: string) => {
      gates.set(tag, { reached: deferred(), gate: deferred() });
      return send(first.port, "POST", `/slow?tag=${tag}`, { jar });
    };
    // A, then B load the session (owner max) in the first process: B's hint replaces A's.
    const a = hold("a");
    await gates.get("a")?.reached.promise;
    const b = hold("b");
    await gates.get("b")?.reached.promise;
    // Meanwhile the second process puts another user on the session: a full save.
    const full = await countCalls(async () => expect((await send(second.port, "POST", "/switch/ned", { jar })).status).toBe(200));
    expect(full.evalsha).toBe(1);
    expect(await ids(first.store, "ned")).toEqual([sid]);

    // A saves with B's hint (owner max, as A's own): its SET replaces a value of ned's, so the full script follows.
    const calls = await countCalls(async () => {
      gates.get("a")?.gate.resolve();
      expect((await a).status).toBe(200);
    });
    expect(calls).toMatchObject({ evalsha: 1, set: (full.set as number) + 1 });
    expect((await first.store.get(sid))?.userId).toBe("max");
    expect(await ids(first.store, "max")).toEqual([sid]);
    expect(await ids(first.store, "ned")).toEqual([]);

    // B finds no hint left: a full save, the index still matching the stored session.
    gates.get("b")?.gate.resolve();
    expect((await b).status).toBe(200);
    gates.clear();
    expect(await ids(first.store, "max")).toEqual([sid]);
    expect(await ids(first.store, "ned")).toEqual([]);
  });

  test("the hints are bounded in number and age", () => {
    const handoff = new LoadedHandoff(4, 60_000);
    for (const sid of ["a", "b", "c", "d", "e"]) handoff.put(sid, { expireAt: 1, owner: sid });
    // Two generations of at most half the bound each: the oldest hints go first.
    expect(handoff.size).toBeLessThanOrEqual(4);
    expect(handoff.take("a")).toBeUndefined();
    expect(handoff.take("e")).toEqual({ expireAt: 1, owner: "e" });
    expect(handoff.take("e")).toBeUndefined(); // taken once
    const stale = new LoadedHandoff(10, -1); // every hint is already too old
    stale.put("a", { expireAt: 1, owner: "" });
    expect(stale.take("a")).toBeUndefined();
  });

  test("Redis down: requests with a session cookie fail within commandTimeout instead of hanging", async () => {
    const { port } = await makeApp();
    const jar = new CookieJar();
    await send(port, "POST", "/login/dan", { jar });
    await redis.stop(true);
    const outcome = await send(port, "GET", "/me", { jar, boundMs: BOUND });
    expect(outcome.status).toBe(500);
    expect(outcome.json).toEqual({ error: "RedisUnavailableError" });
    expect(outcome.ms).toBeLessThan(BOUND);
  });
});
