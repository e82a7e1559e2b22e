/**
 * express-session end to end through supertest, on a real Redis: the behaviours an application
 * relies on when it swaps its store for ours. One suite, run with every client on a standalone
 * Redis and with some of them on a Cluster (one server of each per file); Redis itself is inspected
 * through the handle's topology-neutral `command`.
 */

import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import express from "express";
import session, { type SessionOptions } from "express-session";
import request from "supertest";
import { RedisStore, type RedisStoreOptions } from "../lib/index";
import { type ClientHandle, type ClientName, makeClient, type TopologyName } from "./helpers/clients";
import { waitFor } from "./helpers/redis-server";
import { CLIENTS, setups, tagOf, useServers } from "./helpers/setups";

/** What these routes keep in a session (no global SessionData augmentation: the demo has its own). */
type Data = { views?: number; userId?: string };
const data = (req: express.Request) => req.session as unknown as Data;

const SETUPS = setups({ standalone: CLIENTS, cluster: ["node-redis 6", "ioredis 6", "iovalkey"] });
const servers = useServers(SETUPS);

const cookieOf = (res: request.Response) => ((res.headers["set-cookie"] as unknown as string[] | undefined) ?? [])[0]?.split(";")[0] ?? "";

describe.each(SETUPS)("%s", (_label, clientName: ClientName, topology: TopologyName) => {
  let h: ClientHandle;
  let prefixes = 0;
  const tag = `${tagOf(clientName, topology)}-${process.pid}`;
  beforeAll(async () => {
    h = await makeClient(clientName, topology, servers.target(topology));
  });
  afterAll(async () => {
    await h?.close();
  });

  const exists = async (key: string) => Number(await h.command(["EXISTS", key]));
  const get = (key: string) => h.command<string | null>(["GET", key]);
  const pTTL = async (key: string) => Number(await h.command(["PTTL", key]));
  const pExpireTime = async (key: string) => Number(await h.command(["PEXPIRETIME", key]));

  function app(sessionOptions: Partial<SessionOptions> = {}, storeOptions: Partial<RedisStoreOptions> = {}) {
    const prefix = `express-${tag}-${++prefixes}:`;
    const store = new RedisStore({ client: h.client, prefix, ...storeOptions });
    const server = express();
    server.use(session({ secret: "test secret", resave: false, saveUninitialized: false, store, ...sessionOptions }));
    server.get("/view", (req, res) => {
      data(req).views = (data(req).views ?? 0) + 1;
      res.json({ id: req.sessionID, views: data(req).views });
    });
    server.get("/peek", (req, res) => res.json({ id: req.sessionID, views: data(req).views ?? 0, userId: data(req).userId ?? null }));
    server.post("/login/:user", (req, res, next) => {
      req.session.regenerate((error) => {
        if (error) return next(error);
        data(req).userId = req.params.user;
        res.json({ id: req.sessionID });
      });
    });
    server.post("/logout", (req, res, next) => {
      req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })));
    });
    return { server, store, prefix };
  }

  describe("express-session with RedisStore", () => {
    test("the first request creates a session, the cookie brings it back, data persists", async () => {
      const { server, prefix } = app();
      const first = await request(server).get("/view").expect(200);
      expect(first.body.views).toBe(1);
      const cookie = cookieOf(first);
      expect(cookie).toMatch(/^connect\.sid=/);
      expect(await exists(`${prefix}${first.body.id}`)).toBe(1);
      const second = await request(server).get("/view").set("Cookie", cookie).expect(200);
      expect(second.body).toEqual({ id: first.body.id, views: 2 });
      const stored = JSON.parse((await get(`${prefix}${first.body.id}`)) as string);
      expect(stored.views).toBe(2);
    });

    test("saveUninitialized: false stores nothing for a visit that sets nothing", async () => {
      const { server, store } = app();
      await request(server).get("/peek").expect(200);
      expect(await store.length()).toBe(0);
    });

    test("regenerate gives a new id and the old one is gone for good", async () => {
      const { server, prefix, store } = app();
      const anonymous = await request(server).get("/view");
      const oldId = anonymous.body.id;
      const login = await request(server).post("/login/alice").set("Cookie", cookieOf(anonymous)).expect(200);
      expect(login.body.id).not.toBe(oldId);
      expect(await exists(`${prefix}${oldId}`)).toBe(0);
      const peek = await request(server).get("/peek").set("Cookie", cookieOf(login)).expect(200);
      expect(peek.body).toMatchObject({ id: login.body.id, userId: "alice" });
      expect((await store.listUserSessions("alice")).map((s) => s.id)).toEqual([login.body.id]);
    });

    test("destroy logs out: the cookie no longer finds a session", async () => {
      const { server, prefix } = app();
      const login = await request(server).post("/login/bob");
      await request(server).post("/logout").set("Cookie", cookieOf(login)).expect(200);
      expect(await exists(`${prefix}${login.body.id}`)).toBe(0);
      const after = await request(server).get("/peek").set("Cookie", cookieOf(login)).expect(200);
      expect(after.body.userId).toBeNull();
      expect(after.body.id).not.toBe(login.body.id);
    });

    test("cookie maxAge gives the Redis TTL, in milliseconds", async () => {
      const { server, prefix } = app({ cookie: { maxAge: 90_000 } });
      const res = await request(server).get("/view");
      const pttl = await pTTL(`${prefix}${res.body.id}`);
      expect(pttl).toBeGreaterThan(85_000);
      expect(pttl).toBeLessThanOrEqual(90_000);
    });

    test("a 5 ms cookie is gone from Redis 10-20 ms later (whole seconds would keep it)", async () => {
      const { server, prefix } = app({ cookie: { maxAge: 5 } });
      const res = await request(server).get("/view");
      const answered = Date.now();
      const key = `${prefix}${res.body.id}`;
      await waitFor(() => Date.now() >= answered + 20, 1000, "20 ms to pass");
      expect(await exists(key)).toBe(0);
    });

    test("without maxAge the store's ttl applies", async () => {
      const { server, prefix } = app({}, { ttl: 120 });
      const res = await request(server).get("/view");
      const pttl = await pTTL(`${prefix}${res.body.id}`);
      expect(pttl).toBeGreaterThan(115_000);
      expect(pttl).toBeLessThanOrEqual(120_000);
    });

    test("resave: false + touch: an unmodified session gets its expiry moved, visible in get()", async () => {
      const { server, store, prefix } = app({ cookie: { maxAge: 60_000 } });
      const first = await request(server).get("/view");
      const id = first.body.id;
      const before = (await store.get(id))?.cookie.expires as unknown as string;
      // Past touchAfter "auto" (1% of the minute: 600 ms), so the touch is sent.
      await waitFor(async () => Date.now() > Date.parse(before) - 60_000 + 700, 2000, "time to pass");
      const value = await get(`${prefix}${id}`);
      await request(server).get("/peek").set("Cookie", cookieOf(first)).expect(200);
      // touch() moved the expiry and rewrote only the 24 characters of cookie.expires...
      const touched = (await get(`${prefix}${id}`)) as string;
      const stored = JSON.parse(touched);
      expect(touched).toBe((value as string).replace(/"expires":"[^"]+"/, `"expires":"${stored.cookie.expires}"`));
      // The key's expiry is the stored cookie.expires, to within the request (the lifetime travels as a duration).
      const expiry = await pExpireTime(`${prefix}${id}`);
      expect(expiry).toBeGreaterThanOrEqual(Date.parse(stored.cookie.expires) - 1);
      expect(expiry).toBeLessThan(Date.parse(stored.cookie.expires) + 1000);
      // ...and get() and all() show it (express-session's ".touch() should reset session expiration").
      const after = (await store.get(id))?.cookie.expires as unknown as string;
      expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
      const [listed] = await store.all();
      expect(listed?.cookie.expires).toBe(after);
    });

    test("disableTouch: an unmodified session keeps its expiry", async () => {
      const { server, store } = app({ cookie: { maxAge: 60_000 } }, { disableTouch: true });
      const first = await request(server).get("/view");
      const before = (await store.get(first.body.id))?.cookie.expires;
      await waitFor(() => Date.now() > Date.parse(before as unknown as string) - 60_000 + 50, 1000, "time to pass");
      await request(server).get("/peek").set("Cookie", cookieOf(first)).expect(200);
      expect((await store.get(first.body.id))?.cookie.expires).toEqual(before);
    });

    test("rolling: every response sets the cookie again and the TTL restarts once it has moved past touchAfter", async () => {
      const { server, prefix } = app({ rolling: true, cookie: { maxAge: 60_000 } });
      const first = await request(server).get("/view");
      const key = `${prefix}${first.body.id}`;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // past the 600 ms of touchAfter "auto"
      const ttlBefore = await pTTL(key);
      const again = await request(server).get("/peek").set("Cookie", cookieOf(first)).expect(200);
      expect(cookieOf(again)).toMatch(/^connect\.sid=/);
      const ttlAfter = await pTTL(key);
      expect(ttlAfter).toBeGreaterThan(ttlBefore + 800);
      expect(ttlAfter).toBeGreaterThan(59_000);
    });

    test("rolling with touchAfter: 0: every response restarts the TTL, even of a key something else shortened", async () => {
      const { server, prefix } = app({ rolling: true, cookie: { maxAge: 60_000 } }, { touchAfter: 0 });
      const first = await request(server).get("/view");
      const key = `${prefix}${first.body.id}`;
      await h.command(["PEXPIRE", key, "10000"]);
      const again = await request(server).get("/peek").set("Cookie", cookieOf(first)).expect(200);
      expect(cookieOf(again)).toMatch(/^connect\.sid=/);
      expect(await pTTL(key)).toBeGreaterThan(50_000);
    });

    test("a cookie without maxAge (the store's ttl): Redis skips a touch within touchAfter; touchAfter: 0 sends each one", async () => {
      for (const [touchAfter, moves] of [
        ["auto", false],
        [0, true],
      ] as const) {
        const { server, prefix } = app({}, { ttl: 3600, touchAfter });
        const first = await request(server).get("/view");
        const key = `${prefix}${first.body.id}`;
        // Shorten the key by less than "auto" (1% of an hour: 36 s): a touch that would undo it is not worth a write.
        await h.command(["PEXPIRE", key, "3590000"]);
        await request(server).get("/peek").set("Cookie", cookieOf(first)).expect(200);
        const ttl = await pTTL(key);
        if (moves) expect(ttl).toBeGreaterThan(3_595_000);
        else expect(ttl).toBeLessThanOrEqual(3_590_000);
      }
    });

    test("a concurrent save is never lost to another request's touch", async () => {
      const { server, store } = app({ cookie: { maxAge: 60_000 } });
      const first = await request(server).get("/view");
      const cookie = cookieOf(first);
      // Many touches (peek) and saves (view) at once: every save must land.
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 ? request(server).get("/peek").set("Cookie", cookie) : request(server).get("/view").set("Cookie", cookie),
        ),
      );
      const final = await store.get(first.body.id);
      expect((final as Data | null)?.views).toBeGreaterThanOrEqual(2);
    });
  });

  describe("touch() and a concurrent save", () => {
    /**
     * Lifetimes travel as durations and reads report the time left in whole milliseconds: an expiry
     * is the one asked for, never earlier (but for rounding) and never later than the calls took since `began`.
     */
    const expectNear = (actual: number, expected: Date, began: number) => {
      expect(actual).toBeGreaterThanOrEqual(expected.getTime() - 1);
      expect(actual).toBeLessThanOrEqual(expected.getTime() + (Date.now() - began) + 1);
    };
    const loaded = (views: number, expires: Date) => ({ cookie: { originalMaxAge: 60_000, expires, httpOnly: true, path: "/" }, views });

    test("a touch from a request that loaded an older copy keeps the newer save (JSON serializer)", async () => {
      const store = new RedisStore({ client: h.client, prefix: `touch-race-${tag}:` });
      const first = new Date(Date.now() + 60_000);
      await store.set("s", loaded(1, first) as never);
      const copy = await store.get("s"); // request A loads views: 1
      await store.set("s", loaded(2, first) as never); // request B saves views: 2
      const later = new Date(Date.now() + 120_000);
      await store.touch("s", { ...(copy as object), cookie: { ...(copy as { cookie: object }).cookie, expires: later } } as never); // A touches
      const after = (await store.get("s")) as unknown as { views: number; cookie: { expires: string } };
      expect(after.views).toBe(2);
      expect(after.cookie.expires).toBe(later.toISOString());
    });

    test("a large session with every cookie field: only the date changes", async () => {
      const store = new RedisStore({ client: h.client, prefix: `touch-large-${tag}:` });
      const cookie = {
        originalMaxAge: 60_000,
        partitioned: true,
        priority: "high",
        expires: new Date(Date.now() + 60_000),
        secure: true,
        httpOnly: true,
        domain: "example.com",
        path: "/",
        sameSite: "lax",
      };
      const session = { cookie, blob: "x".repeat(200_000), expires: "2030-01-01T00:00:00.000Z" };
      await store.set("big", session as never);
      const before = (await get(`touch-large-${tag}:big`)) as string;
      const later = new Date(Date.now() + 120_000);
      await store.touch("big", { ...session, cookie: { ...cookie, expires: later } } as never);
      const after = (await get(`touch-large-${tag}:big`)) as string;
      expect(after).toBe(before.replace(cookie.expires.toISOString(), later.toISOString()));
      expect(JSON.parse(after).expires).toBe("2030-01-01T00:00:00.000Z");
    });

    test("with a custom serializer the touch moves the expiry alone and reads report it", async () => {
      const serializer = { stringify: (s: unknown) => `v1|${JSON.stringify(s)}`, parse: async (t: string) => JSON.parse(t.slice(3)) };
      const prefix = `touch-custom-${tag}:`;
      const store = new RedisStore({ client: h.client, prefix, serializer });
      const first = new Date(Date.now() + 60_000);
      await store.set("s", loaded(1, first) as never);
      const raw = await get(`${prefix}s`);
      await store.set("s", loaded(2, first) as never);
      const later = new Date(Date.now() + 120_000);
      const began = Date.now();
      await store.touch("s", loaded(1, later) as never);
      expect(await get(`${prefix}s`)).toBe((raw as string).replace('"views":1', '"views":2'));
      // Reads ask Redis for the time left: the key's real expiry, which is `later` to within the calls.
      const read = (await store.get("s")) as unknown as { views: number; cookie: { expires: string } };
      expect(read.views).toBe(2);
      expectNear(Date.parse(read.cookie.expires), later, began);
      const [listed] = (await store.all()) as unknown as { cookie: { expires: string } }[];
      expectNear(Date.parse(listed?.cookie.expires as string), later, began);
    });

    test("a value that is not express-session's JSON shape only gets its expiry moved", async () => {
      const prefix = `touch-shape-${tag}:`;
      const store = new RedisStore({ client: h.client, prefix });
      const odd = JSON.stringify({ views: 1, cookie: { expires: new Date(Date.now() + 60_000) }, note: '"expires":"x"' });
      await h.command(["SET", `${prefix}s`, odd, "PX", "60000"]);
      const later = new Date(Date.now() + 120_000);
      const began = Date.now();
      await store.touch("s", { cookie: { originalMaxAge: 120_000, expires: later } } as never);
      expect(await get(`${prefix}s`)).toBe(odd);
      expectNear(await pExpireTime(`${prefix}s`), later, began);
      // A cookie without expires and a user field named "expires" after it: the user field stays.
      const userField = JSON.stringify({ cookie: { originalMaxAge: null, expires: null }, expires: "2030-01-01T00:00:00.000Z" });
      await h.command(["SET", `${prefix}t`, userField, "PX", "60000"]);
      await store.touch("t", { cookie: { originalMaxAge: 120_000, expires: later } } as never);
      expect(await get(`${prefix}t`)).toBe(userField);
    });
  });
});
