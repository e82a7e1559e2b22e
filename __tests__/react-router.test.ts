/**
 * React Router 7 with createRedisSessionStorage: a data router (createStaticHandler) answering real
 * Request objects with real Responses, on a private redis-server. Two clients of one user, "sign
 * out everywhere else", a logout that a late commit cannot undo, expiry from the cookie's maxAge,
 * Redis down answering at once, and what a request costs Redis (INFO commandstats): a commit of the
 * session the request loaded is one SET (with a PTTL) while its owner and expiry stay, the full
 * script when either moves.
 */
import { createStaticHandler } from "react-router";
import { createClient } from "redis";
import { createRedisSessionStorage, type RedisSessionStorage } from "../lib/react-router";
import { countCalls as countCallsOf } from "./helpers/command-stats";
import { type Deferred, deferred } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(30000);

const COMMAND_TIMEOUT = 500;
const BOUND = COMMAND_TIMEOUT + 2500;

type Data = { userId: string; hits: number };
type Storage = RedisSessionStorage<Data>;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
let prefixes = 0;
let slow: { reached: Deferred; gate: Deferred } | undefined;

/** A browser's cookie for one site: what Set-Cookie said last (an empty value clears it). */
class Browser {
  cookie = "";
  constructor(readonly app: (request: Request) => Promise<Response>) {}

  async fetch(method: string, path: string): Promise<{ status: number; json: any; ms: number }> {
    const started = Date.now();
    const response = await this.app(new Request(`http://app.test${path}`, { method, headers: this.cookie ? { Cookie: this.cookie } : {} }));
    const set = response.headers.get("Set-Cookie");
    if (set) {
      const pair = set.split(";")[0] as string;
      this.cookie = pair.endsWith("=") ? "" : pair;
    }
    return { status: response.status, json: await response.json(), ms: Date.now() - started };
  }
}

function makeApp(
  cookie: { maxAge?: number } = {},
  storeOptions: { maxSessionsPerUser?: number } = {},
): { storage: Storage; app: (request: Request) => Promise<Response>; prefix: string } {
  const prefix = `rr-${++prefixes}:`;
  const storage = createRedisSessionStorage<Data>({
    cookie: { name: "__session", secrets: ["react-router test secret"], ...cookie },
    client,
    prefix,
    commandTimeout: COMMAND_TIMEOUT,
    ...storeOptions,
  });
  const load = (request: Request) => storage.getSession(request.headers.get("Cookie"));
  /** Commits the session and answers with its id (read back from the cookie just set). */
  const committed = async (session: Awaited<ReturnType<typeof load>>, body: Record<string, unknown> = {}) => {
    const setCookie = await storage.commitSession(session);
    const sid = (await storage.getSession(setCookie.split(";")[0])).id;
    return Response.json({ sid, ...body }, { headers: { "Set-Cookie": setCookie } });
  };
  const handler = createStaticHandler([
    {
      path: "/login/:user",
      action: async ({ request, params }) => {
        const session = await load(request);
        session.set("userId", params.user as string);
        return committed(session);
      },
    },
    {
      path: "/me",
      loader: async ({ request }) => {
        const session = await load(request);
        return Response.json({ sid: session.id, userId: session.get("userId") ?? null });
      },
    },
    {
      path: "/sign-out-others",
      action: async ({ request }) => {
        const session = await load(request);
        return Response.json({ destroyed: await storage.store.destroyUserSessions(String(session.get("userId")), { except: session.id }) });
      },
    },
    {
      path: "/logout",
      action: async ({ request }) => {
        const session = await load(request);
        return Response.json({ ok: true }, { headers: { "Set-Cookie": await storage.destroySession(session) } });
      },
    },
    {
      path: "/hit",
      action: async ({ request }) => {
        const session = await load(request);
        session.set("hits", (session.get("hits") ?? 0) + 1);
        return Response.json({ hits: session.get("hits") }, { headers: { "Set-Cookie": await storage.commitSession(session) } });
      },
    },
    {
      path: "/slow",
      action: async ({ request }) => {
        const session = await load(request);
        slow?.reached.resolve();
        await slow?.gate.promise;
        session.set("hits", 1);
        return committed(session);
      },
    },
  ]);
  const app = async (request: Request): Promise<Response> => {
    try {
      return (await handler.queryRoute(request)) as Response;
    } catch (error) {
      return Response.json({ error: (error as Error).name }, { status: 500 });
    }
  };
  return { storage, app, prefix };
}

const ids = async (storage: Storage, user: string) => (await storage.store.listUserSessions(user)).map((s) => s.id).sort();
const countCalls = (act: () => Promise<unknown>) => countCallsOf(client, act);
const DAY = 86_400_000;

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url, socket: { reconnectStrategy: (retries) => Math.min(20 * (retries + 1), 200) } });
  client.on("error", () => undefined);
  await client.connect();
});

afterAll(async () => {
  client.destroy();
  await redis.stop(true);
  removeDir(redis);
});

describe("React Router 7 + createRedisSessionStorage", () => {
  test("one user signed in from two clients: both are listed; signing out everywhere else makes the other anonymous", async () => {
    const { storage, app } = makeApp();
    const [a, b] = [new Browser(app), new Browser(app)];
    const sidA = (await a.fetch("POST", "/login/ann")).json.sid as string;
    const sidB = (await b.fetch("POST", "/login/ann")).json.sid as string;
    expect(sidA).not.toBe(sidB);
    expect(await ids(storage, "ann")).toEqual([sidA, sidB].sort());
    expect((await b.fetch("GET", "/me")).json).toEqual({ sid: sidB, userId: "ann" });

    expect((await a.fetch("POST", "/sign-out-others")).json).toEqual({ destroyed: 1 });
    expect((await b.fetch("GET", "/me")).json).toEqual({ sid: "", userId: null });
    expect((await a.fetch("GET", "/me")).json).toEqual({ sid: sidA, userId: "ann" });
    expect(await ids(storage, "ann")).toEqual([sidA]);
    // Signing in again from the signed-out client gives it a new session, not the old id.
    const again = (await b.fetch("POST", "/login/ann")).json.sid as string;
    expect(again).not.toBe(sidB);
    expect(await ids(storage, "ann")).toEqual([sidA, again].sort());
  });

  test("logout is final: a request that loaded the session before it cannot commit it back", async () => {
    const { storage, app } = makeApp();
    const browser = new Browser(app);
    const sid = (await browser.fetch("POST", "/login/bea")).json.sid as string;
    slow = { reached: deferred(), gate: deferred() };
    const late = new Browser(app);
    late.cookie = browser.cookie;
    const lateAnswer = late.fetch("POST", "/slow");
    await slow.reached.promise; // that request has loaded the session
    expect((await browser.fetch("POST", "/logout")).status).toBe(200);
    expect(browser.cookie).toBe("");
    slow.gate.resolve();
    expect((await lateAnswer).status).toBe(200); // and committed it (hits: 1) after the logout
    slow = undefined;
    expect(await storage.store.get(sid)).toBeNull();
    expect(await ids(storage, "bea")).toEqual([]);
  });

  test("maxSessionsPerUser: 1: a second sign-in signs the first client out", async () => {
    const { storage, app } = makeApp({}, { maxSessionsPerUser: 1 });
    const [a, b] = [new Browser(app), new Browser(app)];
    await a.fetch("POST", "/login/fay");
    const sidB = (await b.fetch("POST", "/login/fay")).json.sid as string;
    expect(await ids(storage, "fay")).toEqual([sidB]);
    expect((await a.fetch("GET", "/me")).json.userId).toBeNull();
  });

  test("a session expires with the cookie's maxAge", async () => {
    const { storage, app, prefix } = makeApp({ maxAge: 1 });
    const browser = new Browser(app);
    const sid = (await browser.fetch("POST", "/login/cid")).json.sid as string;
    const pttl = await client.pTTL(`${prefix}${sid}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1000);
    await waitFor(async () => (await client.exists(`${prefix}${sid}`)) === 0, 5000, "the session to expire");
    expect(await ids(storage, "cid")).toEqual([]);
    expect((await browser.fetch("GET", "/me")).json.userId).toBeNull();
  });

  test("without a cookie maxAge the store's ttl applies", async () => {
    const { app, prefix } = makeApp();
    const sid = (await new Browser(app).fetch("POST", "/login/dee")).json.sid as string;
    const pttl = await client.pTTL(`${prefix}${sid}`);
    expect(pttl).toBeGreaterThan(86_300_000);
    expect(pttl).toBeLessThanOrEqual(86_400_000);
  });

  test("a commit whose expiry has passed stores nothing (and returns)", async () => {
    const { storage, prefix } = makeApp();
    const session = await storage.getSession(null);
    session.set("userId", "gil");
    await storage.commitSession(session, { expires: new Date(Date.now() - 1000) });
    expect(await client.keys(`${prefix}*`)).toEqual([]);
    expect(await storage.store.countUserSessions("gil")).toBe(0);
  });

  test("a stored value that is not an object reads as no session and is reported", async () => {
    const { storage, prefix } = makeApp();
    const errors: string[] = [];
    storage.store.on("decodeError", (error) => errors.push(error.sessionId));
    await client.set(`${prefix}odd`, "42");
    expect(await storage.store.get("odd")).toBeNull();
    expect(errors).toEqual(["odd"]);
  });

  test("a commit of the session the request loaded is one SET (XX KEEPTTL GET) and a PTTL while owner and expiry stay: no script", async () => {
    const { storage, app, prefix } = makeApp(); // no cookie maxAge: the store's ttl, a day
    const browser = new Browser(app);
    const sid = (await browser.fetch("POST", "/login/ivy")).json.sid as string;
    const expireAt = Date.now() + (await client.pTTL(`${prefix}${sid}`));

    const calls = await countCalls(async () => {
      for (let i = 1; i <= 5; i++) expect((await browser.fetch("POST", "/hit")).json.hits).toBe(i);
    });
    // The stored data holds no expiry: the PTTL sent with the SET says the key's is near enough to keep.
    expect(calls).toEqual({ get: 5, set: 5, evalsha: 0, pttl: 5 });
    expect((await storage.store.get(sid))?.hits).toBe(5);
    // The key kept its expiry, less than touchAfter ("auto": 60 s for a day) before the one the commits asked for.
    const left = await client.pTTL(`${prefix}${sid}`);
    expect(Math.abs(Date.now() + left - expireAt)).toBeLessThan(1000);
    expect(DAY - left).toBeLessThan(60_000);
    const [listed] = await storage.store.listUserSessions("ivy");
    expect(listed?.id).toBe(sid);
    expect(Math.abs((listed?.expiresAt?.getTime() ?? 0) - expireAt)).toBeLessThan(1000);
  });

  test("a commit that would move the expiry by touchAfter or more runs the full script and moves it", async () => {
    const { app, prefix } = makeApp();
    const browser = new Browser(app);
    const sid = (await browser.fetch("POST", "/login/jon")).json.sid as string;
    // As if the session had been committed 10 minutes ago.
    await client.pExpire(`${prefix}${sid}`, DAY - 600_000);

    expect((await countCalls(() => browser.fetch("POST", "/hit"))).evalsha).toBe(1);
    expect(await client.pTTL(`${prefix}${sid}`)).toBeGreaterThan(DAY - 60_000);
    // The next commit is a repeat save again.
    expect(await countCalls(() => browser.fetch("POST", "/hit"))).toEqual({ get: 1, set: 1, evalsha: 0, pttl: 1 });
  });

  test("another user on the same session (an owner change) runs the full script: the index follows", async () => {
    const { storage, app } = makeApp();
    const browser = new Browser(app);
    const sid = (await browser.fetch("POST", "/login/kim")).json.sid as string;
    expect((await countCalls(() => browser.fetch("POST", "/login/lea"))).evalsha).toBe(1);
    expect(await ids(storage, "kim")).toEqual([]);
    expect(await ids(storage, "lea")).toEqual([sid]);
    expect((await browser.fetch("GET", "/me")).json).toEqual({ sid, userId: "lea" });
  });

  test("Redis down: requests with a session cookie fail within commandTimeout instead of hanging", async () => {
    const { app } = makeApp();
    const browser = new Browser(app);
    await browser.fetch("POST", "/login/eve");
    await redis.stop(true);
    const outcome = await Promise.race([
      browser.fetch("GET", "/me"),
      new Promise<{ status: number; json: unknown; ms: number }>((resolve) =>
        setTimeout(() => resolve({ status: 0, json: "no answer", ms: BOUND }), BOUND).unref(),
      ),
    ]);
    expect(outcome).toMatchObject({ status: 500, json: { error: "RedisUnavailableError" } });
    expect(outcome.ms).toBeLessThan(BOUND);
  });
});
