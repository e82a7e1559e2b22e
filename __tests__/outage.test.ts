/** @jest-environment ./__tests__/helpers/host-process-environment.ts */
/**
 * Outages: redis-server is SIGKILLed and restarted (or frozen with SIGSTOP) under an express app
 * with express-session and our store. No request may hang, nothing may become an unhandled
 * rejection, the store must say 'disconnect' then 'connect', and sessions must work again after.
 * Every server here is private (startRedis), never the Redis on 6379.
 */

import type { Server } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import { createClient } from "redis";
import { createClient as createClient6 } from "redis6";
import { RedisStore, RedisUnavailableError } from "../lib/index";
import { recordUnhandledRejections } from "./helpers/host-process";
import { CookieJar, closeServer, type HttpOutcome, listen, send } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(60000);

const COMMAND_TIMEOUT = 500;
/** An answer must come within commandTimeout plus this (generous: CI machines are slow, hangs are infinite). */
const MARGIN = 2500;
const BOUND = COMMAND_TIMEOUT + MARGIN;

type AnyClient = any;
type ClientFactory = (url: string) => AnyClient;

const reconnectStrategy = (retries: number) => Math.min(20 * (retries + 1), 200);
const CLIENTS: [string, ClientFactory][] = [
  ["node-redis 5", (url) => createClient({ url, socket: { reconnectStrategy } })],
  ["node-redis 6 (RESP3)", (url) => createClient6({ url, socket: { reconnectStrategy } })],
];

type Sess = session.Session & { userId?: string; visits?: number };

/** The client with the application's own 'error' listener, which the store never adds itself. */
async function connectClient(factory: ClientFactory, url: string): Promise<{ client: AnyClient; errors: unknown[] }> {
  const client = factory(url);
  const errors: unknown[] = [];
  client.on("error", (error: unknown) => errors.push(error));
  await client.connect();
  return { client, errors };
}

/** Which store events fired, in order. */
function recordEvents(store: RedisStore): string[] {
  const events: string[] = [];
  store.on("connect", () => events.push("connect"));
  store.on("disconnect", () => events.push("disconnect"));
  return events;
}

/** Settles `promise` or gives up after `ms` (an upper bound for a hang, never a readiness wait). */
async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ settled: true; value?: T; error?: unknown; ms: number } | { settled: false }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<{ settled: false }>((resolve) => {
    timer = setTimeout(() => resolve({ settled: false }), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ settled: true as const, value, ms: Date.now() - started }),
        (error: unknown) => ({ settled: true as const, error, ms: Date.now() - started }),
      ),
      giveUp,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending ticks, microtasks and rejection tracking run (unhandled rejections fire after them). */
async function drainEventLoop(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** "RedisUnavailableError", or what happened instead, for one readable assertion. */
function describeOutcome(result: Awaited<ReturnType<typeof within>>): string {
  if (!result.settled) return `no answer within ${BOUND} ms`;
  if (result.error instanceof RedisUnavailableError) return "RedisUnavailableError";
  return result.error === undefined ? "resolved" : `rejected after ${result.ms} ms with ${errorName(result.error)}`;
}

async function redisPid(client: AnyClient): Promise<number> {
  const info = String(await client.sendCommand(["INFO", "server"]));
  const match = /process_id:(\d+)/.exec(info);
  if (!match) throw new Error("no process_id in INFO server");
  return Number(match[1]);
}

function errorName(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
}

function makeApp(store: RedisStore): express.Express {
  const app = express();
  app.use(session({ store, secret: "outage-secret", resave: false, saveUninitialized: false, name: "sid" }));
  app.post("/login", (req, res) => {
    if (!req.session) {
      res.json({ session: false });
      return;
    }
    const s = req.session as Sess;
    s.userId = String(req.query.user);
    s.visits = 0;
    res.json({ session: true, sid: req.sessionID, userId: s.userId });
  });
  app.post("/visit", (req, res) => {
    if (!req.session) {
      res.json({ session: false });
      return;
    }
    const s = req.session as Sess;
    s.visits = (s.visits ?? 0) + 1;
    res.json({ session: true, sid: req.sessionID, userId: s.userId ?? null, visits: s.visits });
  });
  app.get("/me", (req, res) => {
    if (!req.session) {
      res.json({ session: false });
      return;
    }
    const s = req.session as Sess;
    res.json({ session: true, sid: req.sessionID, userId: s.userId ?? null, visits: s.visits ?? null });
  });
  // express-session reports a failed save after it has ended the response: nothing left to send then.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    res.status(error instanceof RedisUnavailableError ? 503 : 500).json({ error: errorName(error) });
  });
  return app;
}

describe("express + express-session under load while redis-server is SIGKILLed and restarted (node-redis 5)", () => {
  let redis: RedisServer;
  let client: AnyClient;
  let clientErrors: unknown[];
  let store: RedisStore;
  let events: string[];
  let http: { server: Server; port: number };

  beforeAll(async () => {
    redis = await startRedis();
    ({ client, errors: clientErrors } = await connectClient(CLIENTS[0]![1], redis.url));
    store = new RedisStore({ client, commandTimeout: COMMAND_TIMEOUT });
    events = recordEvents(store);
    http = await listen(makeApp(store));
  });

  afterAll(async () => {
    await closeServer(http.server);
    client.destroy();
    await redis.stop(true);
    removeDir(redis);
  });

  test("every request is answered within commandTimeout + margin, nothing hangs or goes unhandled, sessions work after recovery", async () => {
    const unhandled = recordUnhandledRejections();
    type Phase = "up" | "down" | "restarting" | "recovered";
    let phase: Phase = "up";
    let stop = false;
    const outcomes: (HttpOutcome & { startedIn: Phase; endedIn: Phase; path: string })[] = [];
    const count = (check: (o: (typeof outcomes)[number]) => boolean) => outcomes.filter(check).length;

    const WORKERS = 16;
    const MAX_REQUESTS_PER_WORKER = 3000; // a bounded loop: the phases below need far fewer
    const worker = async (i: number) => {
      const jar = new CookieJar();
      let loggedIn = false;
      for (let n = 0; n < MAX_REQUESTS_PER_WORKER && !stop; n++) {
        const [method, path] = !loggedIn ? ["POST", `/login?user=user${i}`] : n % 3 === 0 ? ["GET", "/me"] : ["POST", "/visit"];
        const startedIn = phase;
        const outcome = await send(http.port, method as string, path as string, { jar, boundMs: BOUND });
        outcomes.push({ ...outcome, startedIn, endedIn: phase, path: path as string });
        loggedIn = outcome.status === 200 && outcome.json?.session === true && typeof outcome.json?.userId === "string";
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, i) => worker(i));

    try {
      await waitFor(
        () => count((o) => o.status === 200 && o.json?.userId != null) >= 300,
        20000,
        "traffic with sessions before the outage",
      );

      const disconnectsBefore = events.filter((e) => e === "disconnect").length;
      const connectsBefore = events.filter((e) => e === "connect").length;
      phase = "down";
      await redis.stop(true); // SIGKILL
      await waitFor(() => events.filter((e) => e === "disconnect").length > disconnectsBefore, 10000, "the store's 'disconnect' event");
      const firstDisconnect = events.lastIndexOf("disconnect");

      // Calls made while Redis is down fail at once with RedisUnavailableError.
      const downCalls: (() => Promise<unknown>)[] = [
        () => store.get("some-sid"),
        () => store.set("some-sid", { cookie: { originalMaxAge: null } } as any),
        () => store.length(),
      ];
      for (const call of downCalls) {
        const result = await within(call(), BOUND);
        expect(result.settled).toBe(true);
        if (result.settled) expect(result.error).toBeInstanceOf(RedisUnavailableError);
      }
      const answeredWhileDown = count((o) => o.startedIn === "down");
      await waitFor(() => count((o) => o.startedIn === "down") >= answeredWhileDown + 150, 20000, "requests answered while Redis is down");

      phase = "restarting";
      await redis.start();
      await waitFor(() => events.filter((e) => e === "connect").length > connectsBefore, 10000, "the store's 'connect' event");
      const reconnect = events.lastIndexOf("connect");
      expect(reconnect).toBeGreaterThan(firstDisconnect);
      phase = "recovered";
      await waitFor(
        () => count((o) => o.startedIn === "recovered" && o.status === 200 && o.json?.session === true && o.json?.userId != null) >= 150,
        20000,
        "logged-in traffic after recovery",
      );
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    await drainEventLoop();
    unhandled.stop();

    // No hang: every request got an HTTP answer within the bound.
    const unanswered = outcomes.filter((o) => o.status === 0);
    expect(unanswered.map((o) => `${o.path}: ${o.error?.message} after ${o.ms} ms (${o.startedIn})`)).toEqual([]);
    expect(outcomes.filter((o) => o.ms > BOUND).length).toBe(0);
    // While Redis is up every answer is a 200 with a session; otherwise a 5xx or a session-less 200.
    expect(
      outcomes.filter((o) => o.startedIn === "up" && o.endedIn === "up" && !(o.status === 200 && o.json?.session === true)).length,
    ).toBe(0);
    expect(outcomes.filter((o) => o.startedIn === "recovered" && !(o.status === 200 && o.json?.session === true)).length).toBe(0);
    expect(outcomes.filter((o) => !(o.status === 200 || o.status >= 500)).map((o) => `${o.status} ${o.body}`)).toEqual([]);
    // The outage was visible to clients (5xx or no session), and did not crash anything.
    expect(count((o) => o.startedIn === "down" && (o.status >= 500 || o.json?.session === false))).toBeGreaterThan(0);
    expect(unhandled.reasons.map(errorName)).toEqual([]);
    expect(clientErrors.length).toBeGreaterThan(0); // the application's listener saw the outage

    // After recovery a new login persists: the next request sees it, and so does Redis.
    const jar = new CookieJar();
    const login = await send(http.port, "POST", "/login?user=after-recovery", { jar, boundMs: BOUND });
    expect(login.status).toBe(200);
    expect(login.json).toMatchObject({ session: true, userId: "after-recovery" });
    const me = await send(http.port, "GET", "/me", { jar, boundMs: BOUND });
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ session: true, sid: login.json.sid, userId: "after-recovery" });
    expect(await store.get(login.json.sid)).toMatchObject({ userId: "after-recovery" });
    expect(await store.listUserSessions("after-recovery")).toEqual([expect.objectContaining({ id: login.json.sid })]);
  });
});

describe.each(CLIENTS)("a store on %s while redis-server is down", (_name, factory) => {
  let redis: RedisServer;
  let client: AnyClient;
  let store: RedisStore;
  let events: string[];

  beforeAll(async () => {
    redis = await startRedis();
    ({ client } = await connectClient(factory, redis.url));
  });

  afterAll(async () => {
    client.destroy();
    await redis.stop(true);
    removeDir(redis);
  });

  /** Each test starts with the server running and the client ready. */
  beforeEach(async () => {
    if (!redis.running) await redis.start();
    await waitFor(() => client.isReady === true, 10000, "client ready");
    if (!store) {
      const before = client.listenerCount("error");
      store = new RedisStore({ client, commandTimeout: COMMAND_TIMEOUT });
      // The test added one listener; the store adds none (that would hide the application's errors).
      expect(before).toBe(1);
      expect(client.listenerCount("error")).toBe(before);
      events = recordEvents(store);
    }
  });

  test("constructing stores adds no 'error' listener to the client", () => {
    const before = client.listenerCount("error");
    const more = [new RedisStore({ client, prefix: "other:" }), new RedisStore({ client, prefix: "third:", userId: false })];
    expect(more).toHaveLength(2);
    expect(client.listenerCount("error")).toBe(before);
    expect(before).toBe(1);
  });

  test("every call made while the client is down rejects at once with RedisUnavailableError, none unhandled", async () => {
    await store.set("kept", { cookie: { originalMaxAge: null }, userId: "u1" } as any);
    const disconnects = events.filter((e) => e === "disconnect").length;
    await redis.stop(true);
    await waitFor(() => events.filter((e) => e === "disconnect").length > disconnects, 10000, "'disconnect'");
    const sess = { cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000) }, userId: "u1" } as any;
    const calls: [string, () => Promise<unknown>][] = [
      ["get", () => store.get("kept")],
      ["set", () => store.set("kept", sess)],
      ["touch", () => store.touch("kept", sess)],
      ["destroy", () => store.destroy("kept")],
      ["all", () => store.all()],
      ["ids", () => store.ids()],
      ["length", () => store.length()],
      ["clear", () => store.clear()],
      ["scan", () => store.scan().next()],
      ["listUserSessions", () => store.listUserSessions("u1")],
      ["countUserSessions", () => store.countUserSessions("u1")],
      ["destroyUserSessions", () => store.destroyUserSessions("u1", { except: "kept" })],
      ["countActiveUsers", () => store.countActiveUsers(60)],
      ["listActiveUsers", () => store.listActiveUsers(60)],
      ["listActiveSessions", () => store.listActiveSessions(60).next()],
    ];
    const failures: string[] = [];
    for (const [name, call] of calls) {
      const unhandled = recordUnhandledRejections();
      const result = await within(call(), BOUND);
      await drainEventLoop();
      unhandled.stop();
      if (!result.settled) failures.push(`${name}: no answer within ${BOUND} ms`);
      else if (!(result.error instanceof RedisUnavailableError))
        failures.push(`${name}: ${result.error ? errorName(result.error) : "resolved"}`);
      for (const reason of unhandled.reasons) failures.push(`${name}: unhandled rejection ${errorName(reason)}`);
    }
    // The callback form gets the same error, once.
    const viaCallback = await new Promise<unknown[]>((resolve) => {
      const calls: unknown[] = [];
      store.get("kept", (error) => {
        calls.push(error);
        setImmediate(() => resolve(calls));
      });
    });
    expect(viaCallback).toHaveLength(1);
    expect(viaCallback[0]).toBeInstanceOf(RedisUnavailableError);
    expect(failures).toEqual([]);

    const connects = events.filter((e) => e === "connect").length;
    await redis.start();
    await waitFor(() => events.filter((e) => e === "connect").length > connects, 10000, "'connect'");
    expect(events.lastIndexOf("connect")).toBeGreaterThan(events.lastIndexOf("disconnect"));
    // Works again (the restarted server is empty: no persistence).
    await store.set("after", { cookie: { originalMaxAge: null }, userId: "u2" } as any);
    expect(await store.get("after")).toMatchObject({ userId: "u2" });
    expect((await store.listUserSessions("u2")).map((s) => s.id)).toEqual(["after"]);
  });

  test("a call in flight when redis-server dies rejects at once with RedisUnavailableError", async () => {
    const pid = await redisPid(client);
    process.kill(pid, "SIGSTOP"); // the command below is written but gets no reply
    const unhandled = recordUnhandledRejections();
    // Observed from the start, as express-session's callback would be: a promise nobody listens to
    // while it rejects is reported by Node whatever the store does.
    const outcome = within(store.get("kept"), BOUND);
    await drainEventLoop(); // the client writes it on the next turn of the event loop
    await redis.stop(true); // SIGKILL: the connection drops under the pending command
    const result = await outcome;
    await drainEventLoop();
    unhandled.stop();
    expect(describeOutcome(result)).toBe("RedisUnavailableError");
    expect(unhandled.reasons.map(errorName)).toEqual([]);
  });

  test("a call to a Redis that stopped answering (SIGSTOP) fails with RedisUnavailableError within commandTimeout + margin", async () => {
    await store.set("frozen", { cookie: { originalMaxAge: null } } as any);
    const pid = await redisPid(client);
    process.kill(pid, "SIGSTOP");
    let call: Promise<unknown> | undefined;
    try {
      call = store.get("frozen");
      const result = await within(call, BOUND);
      expect(describeOutcome(result)).toBe("RedisUnavailableError");
    } finally {
      process.kill(pid, "SIGCONT");
      await call?.catch(() => undefined);
    }
  });

  test("a command that times out waiting to be written (socket full, server frozen) fails with RedisUnavailableError", async () => {
    const big = new RedisStore({ client, prefix: "big:", commandTimeout: COMMAND_TIMEOUT, maxSessionSize: 64 * 1024 * 1024 });
    const pid = await redisPid(client);
    process.kill(pid, "SIGSTOP");
    const pending: Promise<unknown>[] = [];
    try {
      // 32 MiB fills the socket's buffers, so the next command stays queued in the client until it times out.
      pending.push(big.set("huge", { cookie: { originalMaxAge: null }, blob: "x".repeat(32 * 1024 * 1024) } as any).catch(() => undefined));
      const call = big.get("small");
      pending.push(call.catch(() => undefined));
      const result = await within(call, BOUND);
      expect(describeOutcome(result)).toBe("RedisUnavailableError");
    } finally {
      process.kill(pid, "SIGCONT");
      await Promise.all(pending);
    }
  });
});
