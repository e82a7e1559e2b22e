/** @jest-environment ./__tests__/helpers/host-process-environment.ts */
/**
 * What a new user runs into, tried as one would: the callback in the second place, a value that is
 * not a session, a client never connected, owner ids that are not strings, messages that name what
 * went wrong, and stores built per request. Real express apps on a private (or REDIS_URL) Redis.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, test } from "@jest/globals";
import express from "express";
import session, { type SessionData } from "express-session";
import { createClient } from "redis";
import request from "supertest";
import { translate } from "../lib/driver/errors";
import { RedisStore, RedisUnavailableError, type SessionDecodeError } from "../lib/index";
import { hostProcess } from "./helpers/host-process";
import { type TestClient, useTestClient } from "./helpers/test-client";

let client: TestClient;
useTestClient((connected) => {
  client = connected;
});
let run = 0;
const prefix = () => `newuser-${process.pid}-${++run}:`;
const sess = (extra: Record<string, unknown> = {}) =>
  ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) }, ...extra }) as unknown as SessionData;

function appOn(store: RedisStore) {
  const app = express();
  app.use(session({ store, secret: "new user", resave: false, saveUninitialized: false }));
  app.get("/", (req, res) => {
    if (!req.session) {
      res.status(503).send("sessions are unavailable");
      return;
    }
    res.json({ id: req.sessionID, userId: (req.session as unknown as { userId?: string }).userId ?? null });
  });
  app.post("/login", (req, res) => {
    (req.session as unknown as { userId: string }).userId = "nu";
    res.json({ id: req.sessionID });
  });
  return app;
}

describe("calls as JavaScript makes them", () => {
  test("destroyUserSessions(userId, callback): the function in second place is the callback, called once with the count", async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    await store.set("a", sess({ userId: "cb" }));
    await store.set("b", sess({ userId: "cb" }));
    const args = await new Promise<unknown[]>((resolve) => void store.destroyUserSessions("cb", (...given: unknown[]) => resolve(given)));
    expect(args).toEqual([null, 2]);
    expect(await store.get("a")).toBeNull();
  });

  test("a bad number is shown with its value", async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    await expect(store.countActiveUsers(-5)).rejects.toThrow('argument "withinSeconds" must be a non-negative number of seconds, got -5');
  });
});

describe("a stored value that is not a session", () => {
  test.each([
    ["{}", "{}"],
    ["an object without a cookie", '{"userId":"u1"}'],
  ])("%s: express answers 200 with a fresh session, and the store reports a decodeError", async (_name, value) => {
    const store = new RedisStore({ client, prefix: prefix() });
    const errors: SessionDecodeError[] = [];
    store.on("decodeError", (error) => errors.push(error));
    const app = appOn(store);
    const login = await request(app).post("/login").expect(200);
    const cookie = String(login.headers["set-cookie"]?.[0]).split(";")[0] as string;
    await client.set(`${store.prefix}${login.body.id}`, value, { PX: 60_000 });
    const res = await request(app).get("/").set("Cookie", cookie).expect(200);
    expect(res.body.userId).toBeNull();
    expect(res.body.id).not.toBe(login.body.id);
    expect(errors.map((e) => e.sessionId)).toEqual([login.body.id]);
    expect(errors[0]?.message).toMatch(/is not a session: no cookie object/);
  });

  test("set() of a session without a cookie object is refused with a TypeError, nothing written", async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    await expect(store.set("nc", { userId: "u1" } as unknown as SessionData)).rejects.toThrow(
      /argument "session.cookie" must be an object \(express-session's cookie\)/,
    );
    expect(await client.exists(`${store.prefix}nc`)).toBe(0);
  });
});

describe("a client that was never connected", () => {
  test("the store emits disconnect at once; express runs without a session (the app answers 503); calls say to connect", async () => {
    const idle = createClient({ url: "redis://127.0.0.1:1" });
    const store = new RedisStore({ client: idle, prefix: prefix() });
    const app = appOn(store); // in the same tick, as an app does: express-session hears the event
    await new Promise<void>((resolve) => store.once("disconnect", resolve));
    await request(app).get("/").expect(503);
    const error = await store.get("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as RedisUnavailableError).code).toBe("ENOTREADY");
    expect((error as Error).message).toMatch(/await client\.connect\(\)/);
  });
});

describe("owner ids that are not strings", () => {
  type Owned = { owner: string };
  test("a bigint is taken by its string form", async () => {
    const store = new RedisStore({ client, prefix: prefix(), userId: (s) => BigInt((s as unknown as Owned).owner) });
    await store.set("big", sess({ owner: "12345678901234567890" }));
    expect((await store.listUserSessions("12345678901234567890")).map((s) => s.id)).toEqual(["big"]);
  });

  test("an ObjectId (what passport may hand over as the user's _id) is taken by its hex string", async () => {
    const objectId = (hex: string) => ({ toHexString: () => hex });
    const store = new RedisStore({ client, prefix: prefix(), userId: (s) => objectId((s as unknown as Owned).owner) });
    await store.set("oid", sess({ owner: "65f0c0ffee0000000000beef" }));
    expect((await store.listUserSessions("65f0c0ffee0000000000beef")).map((s) => s.id)).toEqual(["oid"]);
  });

  test("anything else: saved anonymous, with a one-time warning whose code names the userId option", async () => {
    const warnings: Error[] = [];
    const listener = (warning: Error) => warnings.push(warning);
    hostProcess().on("warning", listener);
    try {
      const store = new RedisStore({
        client,
        prefix: prefix(),
        userId: (s) => (s as unknown as { passport: { user: never } }).passport.user,
      });
      await store.set("obj", sess({ passport: { user: { id: 7 } } }));
      await store.set("obj2", sess({ passport: { user: { id: 8 } } }));
      await new Promise((resolve) => setImmediate(resolve));
      expect(await store.get("obj")).not.toBeNull();
      const ours = warnings.filter((w) => (w as { code?: string }).code === "REDIS_SESSION_STORE_USER_ID");
      expect(ours).toHaveLength(1);
      expect(ours[0]?.message).toMatch(/option "userId" returned an object/);
    } finally {
      hostProcess().off("warning", listener);
    }
  });
});

describe("errors reach the caller in words an application can use", () => {
  test("an error raised inside a script carries Redis's message, without the script's SHA or Lua line", async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    await client.set(`${store.options.indexPrefix}{active}sessions`, "not a sorted set");
    const error = (await store.set("w", sess({ userId: "wt" })).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^WRONGTYPE/);
    expect(error.message).not.toMatch(/script|user_script|[0-9a-f]{40}/);
  });

  test("CLUSTERDOWN and friends are 'not serving', not a lost connection", () => {
    const error = translate(new Error("CLUSTERDOWN The cluster is down")) as RedisUnavailableError;
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(error.code).toBe("ENOTSERVING");
    expect(error.message).toMatch(/not serving this key right now \(CLUSTERDOWN The cluster is down\)/);
    expect(error.message).not.toMatch(/lost the connection/);
  });
});

test("stores built per request and dropped are freed, on a connection that never drops", () => {
  // A child process with --expose-gc builds 50,000 stores on one connected client and drops them.
  const script = `
    const { createClient } = require("redis");
    const { RedisStore } = require("./lib/index.ts");
    (async () => {
      const client = createClient({ url: process.env.URL });
      await client.connect();
      const build = (n) => { for (let i = 0; i < n; i++) new RedisStore({ client, prefix: "per-request:" }); };
      build(5000);
      for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
      const before = process.memoryUsage().heapUsed;
      build(50000);
      for (let i = 0; i < 10; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
      console.log(process.memoryUsage().heapUsed - before);
      client.destroy();
    })();
  `;
  const url = client.options?.url as string;
  const grown = Number(
    execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", "-e", script], {
      cwd: join(__dirname, ".."),
      env: { ...process.env, URL: url },
      encoding: "utf8",
    }).trim(),
  );
  // Kept alive, each store's readiness entry alone (a WeakRef in a Set, about 60 bytes) would be 3 MB.
  expect(grown).toBeLessThan(1_000_000);
});
