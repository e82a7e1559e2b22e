/**
 * "Your devices": device metadata from deviceTracker() (express), Koa's trackDevices and React
 * Router's commitSession device; createdAt; the absolute timeout. Real apps on a private
 * redis-server and a private 3-master Cluster; the raw keys are read to check what is stored where.
 */
import type { Server } from "node:http";
import express from "express";
import session from "express-session";
import Koa from "koa";
import koaSession from "koa-session";
import { createClient, createCluster } from "redis";
import request from "supertest";
import { deviceName } from "../lib/device";
import { RedisStore, type RedisStoreOptions } from "../lib/index";
import { Keys } from "../lib/keys";
import { createKoaStore } from "../lib/koa";
import { createRedisSessionStorage } from "../lib/react-router";
import { startCluster, type TestCluster } from "./helpers/cluster";
import { CookieJar, closeServer, listen, send } from "./helpers/http-client";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(60000);

const CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

type Sess = session.Session & { userId?: string; hits?: number };

let redis: RedisServer;
let cluster: TestCluster;
let client: ReturnType<typeof createClient>;
let clusterClient: ReturnType<typeof createCluster>;
const servers: Server[] = [];
let prefixes = 0;

beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startCluster()]);
  client = createClient({ url: redis.url });
  client.on("error", () => undefined);
  await client.connect();
  clusterClient = createCluster({ rootNodes: cluster.rootNodes });
  clusterClient.on("error", () => undefined);
  await clusterClient.connect();
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  client.destroy();
  clusterClient.destroy();
  await Promise.all([redis.stop(), cluster.stop()]);
  removeDir(redis);
});

type Topology = "standalone" | "cluster";
const clientOf = (topology: Topology) => (topology === "cluster" ? clusterClient : client);

/** A raw command on the node that holds `key`. */
function raw<T>(topology: Topology, key: string, args: string[]): Promise<T> {
  return topology === "cluster" ? (clusterClient.sendCommand(key, true, args) as Promise<T>) : (client.sendCommand(args) as Promise<T>);
}

function makeStore(topology: Topology, options: Partial<RedisStoreOptions> = {}): RedisStore {
  return new RedisStore({ client: clientOf(topology), prefix: `dev${++prefixes}:`, ...options });
}

function expressApp(store: RedisStore, tracker: ReturnType<RedisStore["deviceTracker"]> | undefined, cookie: session.CookieOptions = {}) {
  const app = express();
  app.set("trust proxy", "loopback");
  app.use(session({ store, secret: "devices secret", resave: false, saveUninitialized: false, name: "sid", cookie }));
  if (tracker) app.use(tracker);
  app.post("/login/:user", (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      (req.session as Sess).userId = String(req.params.user);
      res.json({ sid: req.sessionID });
    });
  });
  app.post("/visit", (req, res) => {
    const s = req.session as Sess;
    s.hits = (s.hits ?? 0) + 1;
    res.json({ sid: req.sessionID, hits: s.hits });
  });
  app.get("/me", (req, res) => res.json({ sid: req.sessionID, userId: (req.session as Sess).userId ?? null }));
  const server = app.listen(0, "127.0.0.1");
  servers.push(server);
  return server;
}

/** The raw info hash of a session. */
async function info(topology: Topology, store: RedisStore, sid: string): Promise<Record<string, string>> {
  const key = new Keys(store.options.prefix, store.options.indexPrefix).sessionKeys(sid).info;
  const flat = await raw<string[]>(topology, key, ["HGETALL", key]);
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

describe("device names from the user agent (bowser, MIT)", () => {
  test.each([
    [CHROME_WINDOWS, "Chrome on Windows"],
    [SAFARI_IPHONE, "Safari on iPhone"],
    [FIREFOX_LINUX, "Firefox on Linux"],
    [
      "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
      "Safari on iPad",
    ],
    [
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
      "Chrome on Android",
    ],
    [
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
      "Safari on macOS",
    ],
    ["", "Unknown device"],
  ])("%s -> %s", (ua, name) => {
    expect(deviceName(ua)).toBe(name);
  });
});

describe.each(["standalone", "cluster"] as const)("deviceTracker() with express-session, %s", (topology) => {
  test("two devices of one user: readable names, IPs, createdAt, none of it inside the session data", async () => {
    const store = makeStore(topology);
    const server = expressApp(store, store.deviceTracker());
    const before = Date.now();
    const chrome = request.agent(server);
    const iphone = request.agent(server);
    const a = (await chrome.post("/login/ann").set("User-Agent", CHROME_WINDOWS).expect(200)).body.sid as string;
    const b = (await iphone.post("/login/ann").set("User-Agent", SAFARI_IPHONE).set("X-Forwarded-For", "203.0.113.7").expect(200)).body
      .sid as string;
    const after = Date.now();
    const listed = await store.listUserSessions("ann");
    const byId = new Map(listed.map((s) => [s.id, s]));
    expect(byId.get(a)?.device).toEqual({ name: "Chrome on Windows", userAgent: CHROME_WINDOWS, ip: "127.0.0.1" });
    // trust proxy "loopback": req.ip is the forwarded client.
    expect(byId.get(b)?.device).toEqual({ name: "Safari on iPhone", userAgent: SAFARI_IPHONE, ip: "203.0.113.7" });
    for (const s of listed) {
      expect(s.createdAt).toBeInstanceOf(Date);
      // Redis's clock and this process's are one machine's clock here.
      expect(s.createdAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(s.createdAt?.getTime()).toBeLessThanOrEqual(after + 1000);
    }
    const stored = await raw<string>(topology, `${store.options.prefix}${a}`, ["GET", `${store.options.prefix}${a}`]);
    expect(stored).not.toContain("Windows");
    expect(stored).not.toContain("127.0.0.1");
  });

  test("createdAt is the first save: later saves and touches keep it; a new login (regenerate) gets a new one", async () => {
    const store = makeStore(topology, { touchAfter: 0 });
    const server = expressApp(store, store.deviceTracker());
    const agent = request.agent(server);
    const first = (await agent.post("/login/bob").expect(200)).body.sid as string;
    const created = (await store.listUserSessions("bob"))[0]?.createdAt?.getTime();
    expect(created).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await agent.post("/visit").expect(200);
    await agent.get("/me").expect(200);
    expect((await store.listUserSessions("bob"))[0]?.createdAt?.getTime()).toBe(created);
    const second = (await agent.post("/login/bob").expect(200)).body.sid as string;
    expect(second).not.toBe(first);
    const again = (await store.listUserSessions("bob")).find((s) => s.id === second);
    expect(again?.createdAt?.getTime()).toBeGreaterThan(created as number);
  });

  test("a changed user agent is recorded at the next write that reaches Redis, not by a read that writes nothing", async () => {
    // Default touchAfter ("auto": 1% of a day, 60 s): a read-only request sends no touch.
    const store = makeStore(topology);
    const server = expressApp(store, store.deviceTracker(), { maxAge: 86_400_000 });
    const agent = request.agent(server);
    const sid = (await agent.post("/login/cy").set("User-Agent", CHROME_WINDOWS).expect(200)).body.sid as string;
    await agent.get("/me").set("User-Agent", FIREFOX_LINUX).expect(200);
    expect((await store.listUserSessions("cy"))[0]?.device?.name).toBe("Chrome on Windows");
    expect(JSON.parse((await info(topology, store, sid)).d as string).ua).toBe(CHROME_WINDOWS);
    // A touch that is sent (touchAfter: 0 on a second store over the same keys) records it.
    const touching = new RedisStore({ client: clientOf(topology), prefix: store.options.prefix, touchAfter: 0 });
    const server2 = expressApp(touching, touching.deviceTracker(), { maxAge: 86_400_000 });
    const cookie = agent.jar.getCookie("sid", { domain: "127.0.0.1", path: "/", secure: false, script_only: false } as never);
    await request(server2).get("/me").set("User-Agent", FIREFOX_LINUX).set("Cookie", `sid=${cookie?.value}`).expect(200);
    expect((await store.listUserSessions("cy"))[0]?.device?.name).toBe("Firefox on Linux");
  });

  test("anonymous sessions get no device unless asked; { anonymous: true } records theirs", async () => {
    const plain = makeStore(topology);
    const asked = makeStore(topology);
    const plainServer = expressApp(plain, plain.deviceTracker());
    const askedServer = expressApp(asked, asked.deviceTracker({ anonymous: true }));
    const a = (await request(plainServer).post("/visit").set("User-Agent", SAFARI_IPHONE).expect(200)).body.sid as string;
    const b = (await request(askedServer).post("/visit").set("User-Agent", SAFARI_IPHONE).expect(200)).body.sid as string;
    const plainInfo = await info(topology, plain, a);
    expect(plainInfo.d).toBeUndefined();
    expect(Number(plainInfo.c)).toBeGreaterThan(0);
    expect(JSON.parse((await info(topology, asked, b)).d as string)).toEqual({ ua: SAFARI_IPHONE, ip: "127.0.0.1" });
  });

  test("without the tracker nothing is recorded; sessions and their info keys leave together on destroy", async () => {
    const store = makeStore(topology);
    const server = expressApp(store, undefined);
    const agent = request.agent(server);
    const sid = (await agent.post("/login/dee").set("User-Agent", CHROME_WINDOWS).expect(200)).body.sid as string;
    const [listed] = await store.listUserSessions("dee");
    expect(listed?.device).toBeNull();
    expect(listed?.createdAt).toBeInstanceOf(Date);
    await store.destroyUserSessions("dee");
    expect(await info(topology, store, sid)).toEqual({});
  });
});

describe("devices with encryption on", () => {
  test("the stored device is an envelope bound to its session; listings open it; a moved one reads as none", async () => {
    const key = Buffer.alloc(32, 7);
    const store = makeStore("standalone", { encryption: { keys: [{ id: "k1", key }] } });
    const server = expressApp(store, store.deviceTracker());
    const a = (await request.agent(server).post("/login/ivy").set("User-Agent", CHROME_WINDOWS).expect(200)).body.sid as string;
    const b = (await request.agent(server).post("/login/ivy").set("User-Agent", SAFARI_IPHONE).expect(200)).body.sid as string;
    const stored = (await info("standalone", store, a)).d as string;
    expect(stored.startsWith("$rse1$k1$")).toBe(true);
    expect(stored).not.toContain("Windows");
    const byId = new Map((await store.listUserSessions("ivy")).map((s) => [s.id, s]));
    expect(byId.get(a)?.device?.name).toBe("Chrome on Windows");
    // Session b's device copied onto session a: bound to b, it does not open as a's.
    const infoA = new Keys(store.options.prefix, store.options.indexPrefix).sessionKeys(a).info;
    await client.hSet(infoA, "d", (await info("standalone", store, b)).d as string);
    const errors: Error[] = [];
    store.on("decodeError", (error) => errors.push(error));
    const again = new Map((await store.listUserSessions("ivy")).map((s) => [s.id, s]));
    expect(again.get(a)?.device).toBeNull();
    expect(again.get(b)?.device?.name).toBe("Safari on iPhone");
    expect(errors).toHaveLength(1);
  });
});

describe("deviceTracker() arguments", () => {
  test("needs the per-user index; options are checked by name", () => {
    const off = new RedisStore({ client, prefix: "dev-off:", userId: false });
    expect(() => off.deviceTracker()).toThrow(/deviceTracker\(\) needs the per-user index/);
    const store = new RedisStore({ client, prefix: "dev-args:" });
    expect(() => store.deviceTracker({ anonymous: "yes" } as never)).toThrow(/deviceTracker\(\)\.anonymous must be a boolean/);
    expect(() => store.deviceTracker({ anonymus: true } as never)).toThrow(/unknown deviceTracker\(\) option "anonymus"/);
  });

  test("mounted before session(): a warning names the fix, and requests still work", async () => {
    const store = makeStore("standalone");
    const app = express();
    app.use(store.deviceTracker());
    app.use(session({ store, secret: "s", resave: false, saveUninitialized: false }));
    app.get("/", (_req, res) => res.send("ok"));
    const warn = jest.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      await request(app).get("/").expect(200, "ok");
      await request(app).get("/").expect(200, "ok");
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/mount it after session\(\.\.\.\)/);
    } finally {
      warn.mockRestore();
    }
  });
});

describe.each(["standalone", "cluster"] as const)("absoluteTimeout, %s", (topology) => {
  test("an active session dies absoluteTimeout after its first save; touches and saves never extend it", async () => {
    const store = makeStore(topology, { absoluteTimeout: 2, touchAfter: 0 });
    const server = expressApp(store, undefined, { maxAge: 60_000 });
    const agent = request.agent(server);
    const sid = (await agent.post("/login/eve").expect(200)).body.sid as string;
    const key = `${store.options.prefix}${sid}`;
    const created = (await store.listUserSessions("eve"))[0]?.createdAt?.getTime() as number;
    // Active all along: a save and touches every 300 ms.
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      await agent.post("/visit").expect(200);
      await agent.get("/me").expect(200);
      const expireAt = Number(await raw(topology, key, ["PEXPIRETIME", key]));
      expect(expireAt).toBeLessThanOrEqual(created + 2000);
      // get() reports the key's real expiry, not the cookie's 60 s.
      const loaded = await store.get(sid);
      expect(Math.abs(new Date(loaded?.cookie.expires as Date).getTime() - (created + 2000))).toBeLessThan(1000);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await waitFor(async () => (await store.get(sid)) === null, 3000, "the absolute timeout");
    expect((await agent.get("/me").expect(200)).body.userId).toBeNull();
    // A late save of the loaded session does not bring it back.
    await store.set(sid, { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) }, userId: "eve" } as never);
    expect(await store.get(sid)).toBeNull();
    expect(await store.countUserSessions("eve")).toBe(0);
  });

  test("a session saved before absoluteTimeout was set starts its clock at its next write", async () => {
    const before = makeStore(topology, { touchAfter: 0 });
    const server = expressApp(before, undefined, { maxAge: 60_000 });
    const agent = request.agent(server);
    const sid = (await agent.post("/login/fay").expect(200)).body.sid as string;
    // Drop createdAt, as for a session written before the store kept it.
    const infoKey = new Keys(before.options.prefix, before.options.indexPrefix).sessionKeys(sid).info;
    await raw(topology, infoKey, ["HDEL", infoKey, "c"]);
    const after = new RedisStore({ client: clientOf(topology), prefix: before.options.prefix, absoluteTimeout: 1, touchAfter: 0 });
    const server2 = expressApp(after, undefined, { maxAge: 60_000 });
    const cookie = agent.jar.getCookie("sid", { domain: "127.0.0.1", path: "/", secure: false, script_only: false } as never);
    const t0 = Date.now();
    await request(server2).get("/me").set("Cookie", `sid=${cookie?.value}`).expect(200);
    const key = `${before.options.prefix}${sid}`;
    const expireAt = Number(await raw(topology, key, ["PEXPIRETIME", key]));
    expect(expireAt).toBeGreaterThanOrEqual(t0 + 1000 - 50);
    expect(expireAt).toBeLessThanOrEqual(Date.now() + 1000 + 50);
    await waitFor(async () => (await after.get(sid)) === null, 3000, "the absolute timeout");
  });
});

describe("absoluteTimeout arguments", () => {
  test.each([[-1], [1.5], ["60"]])("absoluteTimeout %p is refused by name", (value) => {
    expect(() => new RedisStore({ client, absoluteTimeout: value as never })).toThrow(
      /option "absoluteTimeout" must be a non-negative integer/,
    );
  });
});

describe("Koa's trackDevices and React Router's commitSession device", () => {
  test("koa-session saves record ctx's user agent and ip for signed-in sessions", async () => {
    const store = createKoaStore({ client, prefix: `koa-dev${++prefixes}:`, trackDevices: true });
    const app = new Koa();
    app.keys = ["koa devices"];
    app.use(koaSession({ store, maxAge: 60_000 }, app));
    app.use(async (ctx) => {
      const s = ctx.session as unknown as { userId?: string; hits?: number; externalKey: string };
      if (ctx.path === "/login") s.userId = "gus";
      else s.hits = (s.hits ?? 0) + 1;
      ctx.body = { sid: s.externalKey };
    });
    const { server, port } = await listen(app);
    try {
      const jar = new CookieJar();
      await send(port, "POST", "/login", { jar, headers: { "user-agent": SAFARI_IPHONE } });
      const anonymous = new CookieJar();
      await send(port, "POST", "/visit", { jar: anonymous, headers: { "user-agent": CHROME_WINDOWS } });
      const [listed] = await store.store.listUserSessions("gus");
      expect(listed?.device).toEqual({ name: "Safari on iPhone", userAgent: SAFARI_IPHONE, ip: "127.0.0.1" });
      expect(listed?.createdAt).toBeInstanceOf(Date);
    } finally {
      await closeServer(server);
    }
    expect(() => createKoaStore({ client, trackDevices: "yes" as never })).toThrow(/option "trackDevices" must be a boolean/);
    expect(() => createKoaStore({ client, userId: false, trackDevices: true })).toThrow(/"trackDevices" needs the per-user index/);
  });

  test("React Router: commitSession(session, { device }) records it; a bad device is refused by name", async () => {
    const storage = createRedisSessionStorage({ client, prefix: `rr-dev${++prefixes}:`, cookie: { secrets: ["s"] }, trackDevices: true });
    const s = await storage.getSession(null);
    s.set("userId", "hal");
    const header = await storage.commitSession(s, { device: { userAgent: FIREFOX_LINUX, ip: "198.51.100.4" } });
    expect(header).toMatch(/^__session=/);
    const [listed] = await storage.store.listUserSessions("hal");
    expect(listed?.device).toEqual({ name: "Firefox on Linux", userAgent: FIREFOX_LINUX, ip: "198.51.100.4" });
    await expect(storage.commitSession(s, { device: { userAgent: 1 } as never })).rejects.toThrow(
      /commitSession's device must be \{ userAgent: string, ip: string \}/,
    );
  });
});
