/** @jest-environment ./__tests__/helpers/host-process-environment.ts */
/**
 * ioredis with its DEFAULT settings (offline queue on, maxRetriesPerRequest 20, unanswered commands
 * re-sent after a reconnect) while its private redis-server is SIGKILLed, frozen, or cut off: the
 * store still fails fast, says 'disconnect' then 'connect', and a write ioredis re-sends after the
 * caller was told it failed never brings back a session destroyed meanwhile. Every server here is
 * private (startRedis), never the Redis on 6379.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import Redis from "ioredis";
import { RedisStore, RedisUnavailableError } from "../lib/index";
import { recordUnhandledRejections } from "./helpers/host-process";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(60000);

const COMMAND_TIMEOUT = 500;
/** An answer must come within commandTimeout plus this (generous: CI machines are slow, hangs are infinite). */
const BOUND = COMMAND_TIMEOUT + 2500;

const sess = (extra: Record<string, unknown> = {}) =>
  ({ cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000) }, ...extra }) as any;

/** Which store events fired, in order. */
function recordEvents(store: RedisStore): string[] {
  const events: string[] = [];
  store.on("connect", () => events.push("connect"));
  store.on("disconnect", () => events.push("disconnect"));
  return events;
}

/** How `promise` settled, and after how long; "hang" past `ms` (an upper bound, never a readiness wait). */
async function outcome(promise: Promise<unknown>, ms = BOUND): Promise<{ error?: unknown; resolved?: boolean; ms: number; hang?: true }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<{ ms: number; hang: true }>((resolve) => {
    timer = setTimeout(() => resolve({ ms, hang: true }), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => ({ resolved: true, ms: Date.now() - started }),
        (error: unknown) => ({ error, ms: Date.now() - started }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function drainEventLoop(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function ready(client: Redis): Promise<void> {
  await waitFor(() => client.status === "ready", 10000, "ioredis ready");
}

describe("ioredis with default settings while redis-server is down", () => {
  let redis: RedisServer;
  let client: Redis;
  let store: RedisStore;
  let events: string[];

  beforeAll(async () => {
    redis = await startRedis();
    // Defaults but the application's own 'error' listener (the store never adds one).
    client = new Redis(redis.url);
    client.on("error", () => undefined);
    await ready(client);
    store = new RedisStore({ client, prefix: "io-outage:", commandTimeout: COMMAND_TIMEOUT });
    events = recordEvents(store);
  });

  afterAll(async () => {
    client.disconnect();
    await redis.stop(true);
    removeDir(redis);
  });

  test("the default settings are the ones this file is about", () => {
    expect(client.options.enableOfflineQueue).toBe(true);
    expect(client.options.maxRetriesPerRequest).toBe(20);
    expect(client.options.autoResendUnfulfilledCommands).toBe(true);
  });

  test("calls fail at once with RedisUnavailableError (ENOTREADY) while Redis is down; 'disconnect' then 'connect'", async () => {
    await store.set("kept", sess({ userId: "u1" }));
    const disconnects = events.filter((e) => e === "disconnect").length;
    await redis.stop(true); // SIGKILL
    await waitFor(() => events.filter((e) => e === "disconnect").length > disconnects, 10000, "'disconnect'");
    const unhandled = recordUnhandledRejections();
    const calls: [string, () => Promise<unknown>][] = [
      ["get", () => store.get("kept")],
      ["set", () => store.set("kept", sess({ userId: "u1" }))],
      ["touch", () => store.touch("kept", sess({ userId: "u1" }))],
      ["destroy", () => store.destroy("kept")],
      ["length", () => store.length()],
      ["clear", () => store.clear()],
      ["scan", () => store.scan().next()],
      ["listUserSessions", () => store.listUserSessions("u1")],
      ["destroyUserSessions", () => store.destroyUserSessions("u1")],
    ];
    const failures: string[] = [];
    for (const [name, call] of calls) {
      const result = await outcome(call());
      const code = (result.error as { code?: string } | undefined)?.code;
      // At once: not after commandTimeout, and not after ioredis's 20 retries.
      if (!(result.error instanceof RedisUnavailableError) || code !== "ENOTREADY" || result.ms >= COMMAND_TIMEOUT)
        failures.push(
          `${name}: ${result.hang ? "hang" : result.resolved ? "resolved" : `${String(result.error)} (${code}) after ${result.ms} ms`}`,
        );
    }
    await drainEventLoop();
    unhandled.stop();
    expect(failures).toEqual([]);
    expect(unhandled.reasons).toEqual([]);

    const connects = events.filter((e) => e === "connect").length;
    await redis.start();
    await waitFor(() => events.filter((e) => e === "connect").length > connects, 10000, "'connect'");
    expect(events.lastIndexOf("connect")).toBeGreaterThan(events.lastIndexOf("disconnect"));
    await store.set("after", sess({ userId: "u2" }));
    expect(await store.get("after")).toMatchObject({ userId: "u2" });
  });

  test("a call in flight when redis-server dies fails within commandTimeout, although ioredis holds it to re-send", async () => {
    await ready(client);
    const pid = Number(/process_id:(\d+)/.exec(String(await client.call("info", "server")))?.[1]);
    process.kill(pid, "SIGSTOP"); // the command below is written but gets no reply
    const unhandled = recordUnhandledRejections();
    const call = outcome(store.get("kept"));
    await drainEventLoop();
    await redis.stop(true); // SIGKILL under the pending command: ioredis moves it to its offline queue
    const result = await call;
    await drainEventLoop();
    unhandled.stop();
    expect(result.error).toBeInstanceOf(RedisUnavailableError);
    expect(result.ms).toBeLessThan(BOUND);
    expect(unhandled.reasons).toEqual([]);
    await redis.start();
    await ready(client);
  });
});

test("with commandTimeout 0, ioredis's own MaxRetriesPerRequestError reaches the caller as RedisUnavailableError", async () => {
  const redis = await startRedis();
  const client = new Redis({ port: redis.port, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  client.on("error", () => undefined);
  try {
    await ready(client);
    const store = new RedisStore({ client, prefix: "io-retries:", commandTimeout: 0 });
    const pid = Number(/process_id:(\d+)/.exec(String(await client.call("info", "server")))?.[1]);
    process.kill(pid, "SIGSTOP");
    const call = outcome(store.get("any"), 10000);
    await drainEventLoop();
    await redis.stop(true); // the pending get goes to ioredis's offline queue, flushed after one failed reconnection
    const result = await call;
    expect(result.error).toBeInstanceOf(RedisUnavailableError);
    expect((result.error as Error).message).toMatch(/lost the connection.*max retries/);
  } finally {
    client.disconnect();
    if (redis.running) await redis.stop(true);
    removeDir(redis);
  }
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
  const server: Server = createServer((downstream) => {
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

describe.each([
  ["the defaults (tombstones on): the destroyed session stays destroyed", {}, false],
  ["tombstoneTtl 0 and userId false (connect-redis's plain SET): the late write revives it", { tombstoneTtl: 0, userId: false }, true],
] as const)("a save ioredis re-sends after a reconnect, with %s", (_name, options, revives) => {
  let redis: RedisServer;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let viaProxy: Redis;
  let direct: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    proxy = await startProxy(redis.port);
    viaProxy = new Redis({ port: proxy.port, host: "127.0.0.1" });
    viaProxy.on("error", () => undefined);
    direct = new Redis(redis.url);
    await Promise.all([ready(viaProxy), ready(direct)]);
  });

  afterAll(async () => {
    viaProxy.disconnect();
    direct.disconnect();
    await proxy.close();
    await redis.stop(true);
    removeDir(redis);
  });

  test(`the save is reported failed; the logout from another process wins${revives ? " only until the re-sent save" : ""}`, async () => {
    const app = new RedisStore({ client: viaProxy, prefix: "resend:", commandTimeout: COMMAND_TIMEOUT, ...options });
    const admin = new RedisStore({ client: direct, prefix: "resend:", ...options });
    await app.set("victim", sess({ userId: "eve", step: 1 }));

    // The network loses the save: ioredis wrote it and waits for its reply; the store gives up.
    proxy.dropping = true;
    const save = await outcome(app.set("victim", sess({ userId: "eve", step: 2 })));
    expect(save.error).toBeInstanceOf(RedisUnavailableError);
    expect((save.error as { code?: string }).code).toBe("ETIMEDOUT");
    expect(save.ms).toBeLessThan(BOUND);

    // The user signs out everywhere, through another connection.
    await admin.destroy("victim");
    expect(await admin.get("victim")).toBeNull();

    // The connection drops; ioredis reconnects and re-sends the save nobody waits for any more.
    proxy.dropping = false;
    proxy.cut();
    await ready(viaProxy);
    await waitFor(() => proxy.forwarded.includes("resend:victim"), 10000, "ioredis to re-send the save");
    // Replies come in order: once this is answered, so is the re-sent save.
    expect(await viaProxy.call("ping")).toBe("PONG");

    const after = await admin.get("victim");
    if (revives) expect(after).toMatchObject({ step: 2 });
    else {
      expect(after).toBeNull();
      expect(await direct.exists("resend:victim")).toBe(0);
      expect(await admin.countUserSessions("eve")).toBe(0);
    }
  });
});

test("an ioredis client with keyPrefix, or a Cluster client reading from replicas, is refused, naming the option", () => {
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
});
