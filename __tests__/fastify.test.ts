/**
 * @fastify/session with RedisStore as it is, in a real Fastify app on a private redis-server: two
 * clients of one user, "sign out everywhere else", a logout that a late save cannot undo, expiry
 * from the cookie's maxAge, and Redis down answering at once instead of hanging.
 */
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import Fastify, { type FastifyInstance } from "fastify";
import { createClient } from "redis";
import { RedisStore } from "../lib/index";
import { CookieJar, type Deferred, deferred, send } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(30000);

const COMMAND_TIMEOUT = 500;
const BOUND = COMMAND_TIMEOUT + 2500;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
const apps: FastifyInstance[] = [];
let prefixes = 0;

/** The /slow route says it has the session (`reached`), then waits for `gate`: a test logs out in between. */
let slow: { reached: Deferred; gate: Deferred } | undefined;

async function makeApp(
  cookie: { maxAge?: number } = {},
  storeOptions: { maxSessionsPerUser?: number } = {},
): Promise<{ store: RedisStore; port: number; prefix: string }> {
  const prefix = `fastify-${++prefixes}:`;
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
  app.post("/slow", async (request) => {
    slow?.reached.resolve();
    await slow?.gate.promise;
    request.session.set("hits", 1);
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

  test("logout is final: a request that loaded the session before it cannot save it back", async () => {
    const { store, port } = await makeApp();
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
