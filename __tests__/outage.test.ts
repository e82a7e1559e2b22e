/** @jest-environment ./__tests__/helpers/host-process-environment.ts */
/**
 * Outages: redis-server is SIGKILLed and restarted (or frozen with SIGSTOP) under an express app
 * with express-session and our store, and under direct store calls. No request may hang, nothing
 * may become an unhandled rejection, the store must say 'disconnect' then 'connect', and sessions
 * must work again after. One suite, run with every client; the ioredis family keeps its DEFAULT
 * settings (offline queue on, maxRetriesPerRequest 20, unanswered commands re-sent after a
 * reconnect), and a write it re-sends after the caller was told it failed never brings back a
 * session destroyed meanwhile. Every server here is private (startRedis), never the Redis on 6379.
 */

import type { Server } from "node:http";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import { RedisStore, RedisUnavailableError } from "../lib/index";
import { type ClientHandle, type ClientName, ioredisClass, isReady, makeClient } from "./helpers/clients";
import { recordUnhandledRejections } from "./helpers/host-process";
import { CookieJar, closeServer, type HttpOutcome, listen, send } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";
import { CLIENTS, IOREDIS_FAMILY } from "./helpers/setups";

jest.setTimeout(60000);

const COMMAND_TIMEOUT = 500;
/** An answer must come within commandTimeout plus this (generous: CI machines are slow, hangs are infinite). */
const MARGIN = 2500;
const BOUND = COMMAND_TIMEOUT + MARGIN;

type Sess = session.Session & { userId?: string; visits?: number };

const sess = (extra: Record<string, unknown> = {}) =>
  ({ cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000) }, ...extra }) as any;

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

async function redisPid(h: ClientHandle): Promise<number> {
  const info = String(await h.command(["INFO", "server"]));
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

describe.each(CLIENTS)(
  "express + express-session under load while redis-server is SIGKILLed and restarted, %s",
  (clientName: ClientName) => {
    let redis: RedisServer;
    let h: ClientHandle;
    let store: RedisStore;
    let events: string[];
    let http: { server: Server; port: number };

    beforeAll(async () => {
      redis = await startRedis();
      h = await makeClient(clientName, "standalone", { url: redis.url });
      store = new RedisStore({ client: h.client, commandTimeout: COMMAND_TIMEOUT });
      events = recordEvents(store);
      http = await listen(makeApp(store));
    });

    afterAll(async () => {
      await closeServer(http.server);
      await h.close();
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
        await waitFor(
          () => count((o) => o.startedIn === "down") >= answeredWhileDown + 150,
          20000,
          "requests answered while Redis is down",
        );

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
      expect(h.errors.length).toBeGreaterThan(0); // the application's listener saw the outage

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
  },
);

describe.each(CLIENTS)("a store on %s while redis-server is down", (clientName: ClientName) => {
  let redis: RedisServer;
  let h: ClientHandle;
  let client: any;
  let store: RedisStore;
  let events: string[];

  beforeAll(async () => {
    redis = await startRedis();
    h = await makeClient(clientName, "standalone", { url: redis.url });
    client = h.client;
  });

  afterAll(async () => {
    await h.close();
    await redis.stop(true);
    removeDir(redis);
  });

  /** Each test starts with the server running and the client ready. */
  beforeEach(async () => {
    if (!redis.running) await redis.start();
    await waitFor(() => isReady(h), 10000, "client ready");
    if (!store) {
      const before = client.listenerCount("error");
      store = new RedisStore({ client, commandTimeout: COMMAND_TIMEOUT });
      // makeClient added one listener, as an application does; the store adds none (that would hide the application's errors).
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

  test("every call made while the client is down rejects at once (ENOTREADY) with RedisUnavailableError, none unhandled", async () => {
    await store.set("kept", { cookie: { originalMaxAge: null }, userId: "u1" } as any);
    const disconnects = events.filter((e) => e === "disconnect").length;
    await redis.stop(true);
    await waitFor(() => events.filter((e) => e === "disconnect").length > disconnects, 10000, "'disconnect'");
    const calls: [string, () => Promise<unknown>][] = [
      ["get", () => store.get("kept")],
      ["set", () => store.set("kept", sess({ userId: "u1" }))],
      ["touch", () => store.touch("kept", sess({ userId: "u1" }))],
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
      const code = result.settled ? (result.error as { code?: string } | undefined)?.code : undefined;
      if (!result.settled) failures.push(`${name}: no answer within ${BOUND} ms`);
      else if (!(result.error instanceof RedisUnavailableError))
        failures.push(`${name}: ${result.error ? errorName(result.error) : "resolved"}`);
      // At once: not after commandTimeout, and not after ioredis's 20 retries.
      else if (code !== "ENOTREADY" || result.ms >= COMMAND_TIMEOUT) failures.push(`${name}: ${code} after ${result.ms} ms`);
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
    const pid = await redisPid(h);
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
    const pid = await redisPid(h);
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
    const pid = await redisPid(h);
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

describe.each(IOREDIS_FAMILY)("%s: its defaults and its own retries", (clientName: ClientName) => {
  const Redis = ioredisClass(clientName);

  test("the default settings are the ones this file is about", () => {
    const client = new Redis({ lazyConnect: true });
    expect(client.options.enableOfflineQueue).toBe(true);
    expect(client.options.maxRetriesPerRequest).toBe(20);
    expect(client.options.autoResendUnfulfilledCommands).toBe(true);
    client.disconnect();
  });

  test("with commandTimeout 0, the client's own MaxRetriesPerRequestError reaches the caller as RedisUnavailableError", async () => {
    const redis = await startRedis();
    const client = new Redis({ port: redis.port, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on("error", () => undefined);
    try {
      await waitFor(() => client.status === "ready", 10000, `${clientName} ready`);
      const store = new RedisStore({ client, prefix: "io-retries:", commandTimeout: 0 });
      const pid = Number(/process_id:(\d+)/.exec(String(await client.call("info", "server")))?.[1]);
      process.kill(pid, "SIGSTOP");
      const call = within(store.get("any"), 10000);
      await drainEventLoop();
      await redis.stop(true); // the pending get goes to the offline queue, flushed after one failed reconnection
      const result = await call;
      expect(result.settled && result.error).toBeInstanceOf(RedisUnavailableError);
      expect(result.settled && (result.error as Error).message).toMatch(/lost the connection.*max retries/);
    } finally {
      client.disconnect();
      if (redis.running) await redis.stop(true);
      removeDir(redis);
    }
  });

  test("a client with keyPrefix, or a Cluster client reading from replicas, is refused, naming the option", () => {
    const client = new Redis({ keyPrefix: "app:", lazyConnect: true });
    expect(() => new RedisStore({ client })).toThrow(TypeError);
    expect(() => new RedisStore({ client })).toThrow(/option "client".*keyPrefix.*"app:"/);
    const cluster = new Redis.Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true, redisOptions: { keyPrefix: "app:" } });
    expect(() => new RedisStore({ client: cluster })).toThrow(/keyPrefix/);
    const replicas = new Redis.Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true, scaleReads: "slave" });
    expect(() => new RedisStore({ client: replicas })).toThrow(/option "client".*scaleReads "master".*got scaleReads "slave"/);
    const replica = new Redis({ sentinels: [{ host: "127.0.0.1", port: 1 }], name: "mymaster", role: "slave", lazyConnect: true });
    expect(() => new RedisStore({ client: replica })).toThrow(/role "slave"/);
    const masters = new Redis.Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    expect(new RedisStore({ client: masters }).topology).toBe("cluster");
    for (const made of [client, cluster, replicas, replica, masters]) made.disconnect();
  });
});

/**
 * A TCP proxy that can lose what the client sends (a network that drops packets) and cut every
 * connection (the client then reconnects through it).
 */
async function startProxy(target: number): Promise<{
  port: number;
  dropping: boolean;
  /** What reached the server from clients since the last cut. */
  forwarded: string;
  cut(): void;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const state = {
    port: 0,
    dropping: false,
    forwarded: "",
    cut: () => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      state.forwarded = "";
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: NetServer = createServer((downstream) => {
    const up = connect(target, "127.0.0.1");
    sockets.add(downstream);
    sockets.add(up);
    downstream.on("data", (chunk: Buffer) => {
      if (state.dropping) return;
      state.forwarded += chunk.toString("latin1");
      up.write(chunk);
    });
    up.on("data", (chunk: Buffer) => downstream.write(chunk));
    const close = () => {
      downstream.destroy();
      up.destroy();
    };
    downstream.on("error", close).on("close", close);
    up.on("error", close).on("close", close);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  state.port = (server.address() as { port: number }).port;
  return state;
}

describe.each(
  IOREDIS_FAMILY.flatMap((clientName) => [
    [clientName, "the defaults (tombstones on): the destroyed session stays destroyed", {}, false] as const,
    [
      clientName,
      "tombstoneTtl 0 and userId false (connect-redis's plain SET): the late write revives it",
      { tombstoneTtl: 0, userId: false },
      true,
    ] as const,
  ]),
)("%s: a save re-sent after a reconnect, with %s", (clientName, _name, options, revives) => {
  let redis: RedisServer;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let viaProxy: ClientHandle;
  let direct: ClientHandle;

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startProxy(redis.port);
    [viaProxy, direct] = await Promise.all([
      makeClient(clientName, "standalone", { url: `redis://127.0.0.1:${proxy.port}` }),
      makeClient(clientName, "standalone", { url: redis.url }),
    ]);
  });

  afterAll(async () => {
    await viaProxy?.close();
    await direct?.close();
    await proxy.close();
    await redis.stop(true);
    removeDir(redis);
  });

  test(`the save is reported failed; the logout from another process wins${revives ? " only until the re-sent save" : ""}`, async () => {
    const app = new RedisStore({ client: viaProxy.client, prefix: "resend:", commandTimeout: COMMAND_TIMEOUT, ...options });
    const admin = new RedisStore({ client: direct.client, prefix: "resend:", ...options });
    await app.set("victim", sess({ userId: "eve", step: 1 }));

    // The network loses the save: the client wrote it and waits for its reply; the store gives up.
    proxy.dropping = true;
    const save = await within(app.set("victim", sess({ userId: "eve", step: 2 })), BOUND);
    expect(describeOutcome(save)).toBe("RedisUnavailableError");
    expect(save.settled && (save.error as { code?: string }).code).toBe("ETIMEDOUT");

    // The user signs out everywhere, through another connection.
    await admin.destroy("victim");
    expect(await admin.get("victim")).toBeNull();

    // The connection drops; the client reconnects and re-sends the save nobody waits for any more.
    proxy.dropping = false;
    proxy.cut();
    await waitFor(() => isReady(viaProxy), 10000, `${clientName} ready`);
    await waitFor(() => proxy.forwarded.includes("resend:victim"), 10000, "the client to re-send the save");
    // Replies come in order: once this is answered, so is the re-sent save.
    expect(await viaProxy.command(["PING"])).toBe("PONG");

    const after = await admin.get("victim");
    if (revives) expect(after).toMatchObject({ step: 2 });
    else {
      expect(after).toBeNull();
      expect(Number(await direct.command(["EXISTS", "resend:victim"]))).toBe(0);
      expect(await admin.countUserSessions("eve")).toBe(0);
    }
  });
});
