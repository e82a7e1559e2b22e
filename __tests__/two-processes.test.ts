/**
 * Several app processes share one Redis, and a request may finish after another process changed
 * its session: destroyed it, gave it another owner, shortened it. Two stores on two connections play
 * two processes, and every test checks what a user relies on: the per-user index tells the truth,
 * "sign out everywhere" reaches every session, nothing destroyed returns, and a touch never changes
 * an owner. The lazy touch (touchAfter "auto") is checked behind a round-robin of two express apps:
 * what a request loaded travels with its session, not in a process's memory.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import express from "express";
import session, { type SessionData } from "express-session";
import { createClient } from "redis";
import request from "supertest";
import { RedisStore, type RedisStoreOptions } from "../lib/index";
import { testRedis } from "./helpers/redis-server";

type Client = ReturnType<typeof createClient>;
type Sess = SessionData & Record<string, unknown>;

let redis: Awaited<ReturnType<typeof testRedis>>;
let clientA: Client;
let clientB: Client;
let run = 0;

function sess(extra: Record<string, unknown>, ms = 60_000): Sess {
  return { cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: "/" }, ...extra } as unknown as Sess;
}

/** Two "processes" on one Redis, under a prefix of their own. */
function stores() {
  const prefix = `procs-${process.pid}-${++run}:`;
  const a = new RedisStore({ client: clientA, prefix });
  const b = new RedisStore({ client: clientB, prefix });
  const session = (sid: string) => `${prefix}${sid}`;
  const meta = async (sid: string) => {
    const found = await clientA.keys(`${a.options.indexPrefix}s:*${sid}`);
    expect(found).toHaveLength(1);
    return found[0] as string;
  };
  const index = (userId: string) => `${a.options.indexPrefix}user:${userId}`;
  /** What sign-out relies on: the owner record and the index entry outlive the session. */
  const expectCovered = async (sid: string, owner: string) => {
    const until = await clientA.pExpireTime(session(sid));
    expect(until).toBeGreaterThan(0);
    expect(await clientA.get(await meta(sid))).toBe(`u${owner}`);
    expect(await clientA.pExpireTime(await meta(sid))).toBeGreaterThanOrEqual(until);
    const entry = (await meta(sid)).slice(a.options.indexPrefix.length + 2); // the meta key is indexPrefix + "s:" + entry
    expect(Number(await clientA.zScore(index(owner), entry))).toBeGreaterThanOrEqual(until);
  };
  return { a, b, session, meta, index, expectCovered };
}

beforeAll(async () => {
  redis = await testRedis();
  clientA = createClient({ url: redis.url });
  clientB = createClient({ url: redis.url });
  await Promise.all([clientA.connect(), clientB.connect()]);
});

afterAll(async () => {
  clientA?.destroy();
  clientB?.destroy();
  await redis?.close();
});

describe("another process changed the session meanwhile", () => {
  test("a save after another process changed the owner re-indexes: the index, the count and sign-out follow the stored session", async () => {
    const { a, b, expectCovered } = stores();
    await a.set("s1", sess({ userId: "ursula", cart: 1 }));
    await b.set("s1", sess({ userId: "victor", cart: 2 })); // elsewhere: another user on the same id
    await a.set("s1", sess({ userId: "ursula", cart: 3 })); // a late save from the first process
    expect(((await b.get("s1")) as Sess).userId).toBe("ursula");
    expect((await b.listUserSessions("ursula")).map((s) => s.id)).toEqual(["s1"]);
    expect(await b.countUserSessions("victor")).toBe(0);
    await expectCovered("s1", "ursula");
    expect(await b.destroyUserSessions("ursula")).toBe(1);
    expect(await a.get("s1")).toBeNull();
  });

  test("the same late save, byte for byte identical to what the first process wrote, is still re-indexed", async () => {
    const { a, b } = stores();
    const first = sess({ userId: "ursula" });
    await a.set("s2", first);
    await b.set("s2", sess({ userId: "victor" }));
    await a.set("s2", first);
    expect((await b.listUserSessions("ursula")).map((s) => s.id)).toEqual(["s2"]);
    expect(await b.listUserSessions("victor")).toEqual([]);
  });

  test("a stale touch never changes the owner: the new owner's index covers the session, the old owner's sign-out misses it", async () => {
    const { a, b, expectCovered } = stores();
    await a.set("s3", sess({ userId: "ursula" }, 600_000));
    await b.set("s3", sess({ userId: "victor" }, 60_000)); // new owner, shorter life
    const stale = sess({ userId: "ursula" }, 600_000);
    await a.touch("s3", stale);
    expect(((await b.get("s3")) as Sess).userId).toBe("victor");
    await expectCovered("s3", "victor");
    expect((await b.listUserSessions("victor")).map((s) => s.id)).toEqual(["s3"]);
    expect(await a.listUserSessions("ursula")).toEqual([]);
    expect(await a.destroyUserSessions("ursula")).toBe(0);
    expect(((await b.get("s3")) as Sess).userId).toBe("victor");
    expect(await b.destroyUserSessions("victor")).toBe(1);
    expect(await a.get("s3")).toBeNull();
  });

  test("a late touch of an anonymous session that logged in elsewhere with a shorter life: the owner's index still covers it", async () => {
    const { a, b, expectCovered } = stores();
    await a.set("s5", sess({ visits: 1 }, 600_000));
    await b.set("s5", sess({ userId: "victor" }, 60_000)); // signed in elsewhere on the same id, shorter life
    await a.touch("s5", sess({ visits: 1 }, 600_000)); // a request that loaded it anonymous, finishing late
    expect(((await b.get("s5")) as Sess).userId).toBe("victor");
    await expectCovered("s5", "victor");
    expect((await b.listUserSessions("victor")).map((s) => s.id)).toEqual(["s5"]);
    expect(await b.destroyUserSessions("victor")).toBe(1);
    expect(await a.get("s5")).toBeNull();
  });

  test("sessions destroyed by another process stay destroyed, whatever the first process saves or touches", async () => {
    const { a, b, session } = stores();
    const ways = ["destroy", "destroyUserSessions", "clear"] as const;
    for (const way of ways) {
      const sid = `gone-${way}`;
      const s = sess({ userId: `user-${way}` });
      await a.set(sid, s);
      await a.touch(sid, s);
      if (way === "destroy") await b.destroy(sid);
      else if (way === "destroyUserSessions") expect(await b.destroyUserSessions(`user-${way}`)).toBe(1);
      else await b.clear();
      await a.touch(sid, sess({ userId: `user-${way}` }, 120_000));
      await a.set(sid, sess({ userId: `user-${way}`, after: true }, 120_000));
      await a.touch(sid, sess({ userId: `user-${way}` }, 180_000));
      expect(await clientA.exists(session(sid))).toBe(0);
      expect(await b.get(sid)).toBeNull();
      expect(await b.listUserSessions(`user-${way}`)).toEqual([]);
    }
  });

  test("an anonymous session that logs in elsewhere, then gets a late anonymous save here: anonymous again, and indexed nowhere", async () => {
    const { a, b } = stores();
    await a.set("s4", sess({ visits: 1 }));
    await b.set("s4", sess({ userId: "wendy" }));
    await a.set("s4", sess({ visits: 2 }));
    expect(((await b.get("s4")) as Sess).userId).toBeUndefined();
    expect(await b.listUserSessions("wendy")).toEqual([]);
  });

  test("forty saves and touches in a row with growing lifetimes: owner record and index entry always outlive the session", async () => {
    const { a, expectCovered } = stores();
    const start = Date.now();
    for (let i = 0; i < 40; i++) {
      const ms = 60_000 + i * 30_000;
      const s = { ...sess({ userId: "yuri", step: i }, ms), cookie: { originalMaxAge: ms, expires: new Date(start + ms) } } as Sess;
      if (i % 3 === 0) await a.set("s5", s);
      else await a.touch("s5", s);
      await expectCovered("s5", "yuri");
      const shown = Date.parse(String(((await a.get("s5")) as Sess).cookie.expires));
      expect(shown).toBe(start + ms);
      // What get() shows is the key's real expiry, to within the calls (the lifetime travels as a duration).
      expect(Math.abs((await clientA.pExpireTime(`${a.prefix}s5`)) - shown)).toBeLessThan(Date.now() - start + 2);
    }
  });
});

describe("a user with thousands of sessions", () => {
  test("2,500 sessions of one user: listed, counted and destroyed in one call each (scripts chunk what they send to Redis)", async () => {
    const { a, b } = stores();
    const sids = Array.from({ length: 2500 }, (_, i) => `many-${i}`);
    for (let i = 0; i < sids.length; i += 250) await Promise.all(sids.slice(i, i + 250).map((sid) => a.set(sid, sess({ userId: "zoe" }))));
    await b.set("someone-else", sess({ userId: "zack" }));
    const listed = await b.listUserSessions("zoe");
    expect(listed.map((s) => s.id).sort()).toEqual([...sids].sort());
    expect(await b.countUserSessions("zoe")).toBe(2500);
    expect(await b.destroyUserSessions("zoe", { except: "many-7" })).toBe(2499);
    expect((await a.listUserSessions("zoe")).map((s) => s.id)).toEqual(["many-7"]);
    expect(await a.get("many-8")).toBeNull();
    expect(await a.countUserSessions("zack")).toBe(1);
  });
});

/** Calls per command on the whole server (INFO commandstats): only meaningful on a private server. */
async function commandCalls(): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const line of (await clientA.info("commandstats")).split("\n")) {
    const found = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (found) calls[found[1] as string] = Number(found[2]);
  }
  return calls;
}

function delta(before: Record<string, number>, after: Record<string, number>, command: string): number {
  return (after[command] ?? 0) - (before[command] ?? 0);
}

/** Two express apps, each with its own store and connection, as two processes behind a load balancer. */
async function twoApps(options: Partial<RedisStoreOptions>, maxAge: number) {
  const prefix = `lb-${process.pid}-${++run}:`;
  const servers = [clientA, clientB].map((client) => {
    const store = new RedisStore({ client, prefix, ...options });
    const app = express();
    app.use(session({ store, secret: "two apps", resave: false, saveUninitialized: false, cookie: { maxAge } }));
    app.post("/login", (req, res) => {
      (req.session as unknown as Sess).userId = "lb-user";
      res.json({ id: req.sessionID });
    });
    app.get("/me", (req, res) => {
      res.json({ userId: (req.session as unknown as Sess).userId ?? null });
    });
    app.post("/cart", (req, res) => {
      const s = req.session as unknown as Sess & { items?: number };
      s.items = (s.items ?? 0) + 1;
      res.json({ items: s.items });
    });
    return { store, server: app.listen(0, "127.0.0.1") };
  });
  await Promise.all(
    servers.map(({ server }) => new Promise((resolve) => (server.listening ? resolve(0) : server.once("listening", resolve)))),
  );
  const urls = servers.map(({ server }) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const login = await request(urls[0] as string)
    .post("/login")
    .expect(200);
  const cookie = String(login.headers["set-cookie"]?.[0]).split(";")[0] as string;
  let turn = 0;
  /** One request to the next app in turn, with the session's cookie. */
  const next = (method: "get" | "post", path: string) =>
    request(urls[turn++ % 2] as string)
      [method](path)
      .set("Cookie", cookie)
      .expect(200);
  const close = () => Promise.all(servers.map(({ server }) => new Promise((resolve) => server.close(resolve))));
  return { id: login.body.id as string, cookie, prefix, store: servers[0]?.store as RedisStore, next, close };
}

describe("the lazy touch, behind a round-robin of two apps", () => {
  test("touchAfter auto (the default): reads of a day-long session cost one GET each, no touch is sent; get() shows the key's real expiry", async () => {
    if (!redis.private) return; // command counts need a server of our own
    const apps = await twoApps({}, 86_400_000);
    try {
      const before = await commandCalls();
      for (let i = 0; i < 20; i++) expect((await apps.next("get", "/me")).body.userId).toBe("lb-user");
      const after = await commandCalls();
      expect(delta(before, after, "get")).toBe(20);
      expect(delta(before, after, "evalsha") + delta(before, after, "eval") + delta(before, after, "pexpire")).toBe(0);
      const shown = Date.parse(String((await apps.store.get(apps.id))?.cookie.expires));
      expect(Math.abs((await clientA.pExpireTime(`${apps.prefix}${apps.id}`)) - shown)).toBeLessThan(1000);
    } finally {
      await apps.close();
    }
  });

  test("saves of a loaded session within touchAfter are one SET each (repeat saves), and keep the key's real expiry in the value", async () => {
    if (!redis.private) return;
    const apps = await twoApps({}, 86_400_000);
    try {
      const key = `${apps.prefix}${apps.id}`;
      const expiry = await clientA.pExpireTime(key);
      const before = await commandCalls();
      for (let i = 1; i <= 10; i++) expect((await apps.next("post", "/cart")).body.items).toBe(i);
      const after = await commandCalls();
      expect(delta(before, after, "get")).toBe(10);
      expect(delta(before, after, "set")).toBe(10);
      expect(delta(before, after, "evalsha") + delta(before, after, "eval")).toBe(0);
      // The key keeps its expiry, and the stored cookie.expires is that expiry.
      expect(await clientA.pExpireTime(key)).toBe(expiry);
      const stored = JSON.parse(String(await clientA.get(key)));
      expect(Math.abs(Date.parse(stored.cookie.expires) - expiry)).toBeLessThan(50);
      expect(stored.items).toBe(10);
      expect((await apps.store.listUserSessions("lb-user")).map((s) => s.id)).toEqual([apps.id]);
    } finally {
      await apps.close();
    }
  });

  test("a repeat save after another process changed the owner writes in full: the index follows the stored session", async () => {
    const { a, b } = stores();
    await a.set("rs", sess({ userId: "olga" }, 600_000));
    // A request loads olga's session through express-session's createSession...
    const loaded = a.createSession({ sessionID: "rs" } as never, (await a.get("rs")) as SessionData) as unknown as Sess;
    // ...meanwhile the same id is signed in as pavel elsewhere...
    await b.set("rs", sess({ userId: "pavel" }, 600_000));
    // ...and the first request saves olga's session, its expiry moved by less than touchAfter.
    loaded.cart = 3;
    await a.set("rs", loaded);
    expect(((await b.get("rs")) as Sess).userId).toBe("olga");
    expect((await b.listUserSessions("olga")).map((s) => s.id)).toEqual(["rs"]);
    expect(await b.listUserSessions("pavel")).toEqual([]);
    expect(await b.destroyUserSessions("olga")).toBe(1);
    expect(await a.get("rs")).toBeNull();
  });

  test("touchAfter: 0 sends a touch with every read, as connect-redis does", async () => {
    if (!redis.private) return;
    const apps = await twoApps({ touchAfter: 0 }, 86_400_000);
    try {
      const before = await commandCalls();
      for (let i = 0; i < 10; i++) await apps.next("get", "/me");
      expect(delta(before, await commandCalls(), "evalsha")).toBe(10);
    } finally {
      await apps.close();
    }
  });

  test("a touch past the bound (1% of a 5 s life: 50 ms) is sent by whichever app serves the request, and moves what get() shows", async () => {
    const apps = await twoApps({}, 5_000);
    try {
      const key = `${apps.prefix}${apps.id}`;
      let last = await clientA.pExpireTime(key);
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 80));
        await apps.next("get", "/me");
        const now = await clientA.pExpireTime(key);
        expect(now).toBeGreaterThan(last);
        const shown = Date.parse(String((await apps.store.get(apps.id))?.cookie.expires));
        expect(Math.abs(now - shown)).toBeLessThan(50);
        last = now;
      }
      // Saves in between (the cart) keep working on either app, and none is lost.
      for (let i = 0; i < 6; i++) await apps.next("post", "/cart");
      expect(((await apps.store.get(apps.id)) as unknown as { items: number }).items).toBe(6);
    } finally {
      await apps.close();
    }
  });

  test("a loaded session whose keys vanished (evicted with its tombstone) is not brought back by the request's save", async () => {
    const apps = await twoApps({}, 86_400_000);
    try {
      await apps.next("post", "/cart");
      const keys = [`${apps.prefix}${apps.id}`, ...(await clientA.keys(`${apps.store.options.indexPrefix}s:*${apps.id}`))];
      expect(keys).toHaveLength(2);
      // A request loads the session; Redis loses every key of it (eviction) before the request saves.
      const app = express();
      app.use(session({ store: apps.store, secret: "two apps", resave: false, saveUninitialized: false }));
      app.post("/cart", async (req, res, next) => {
        await clientA.del(keys);
        (req.session as unknown as { items: number }).items = 99;
        req.session.save((error) => (error ? next(error) : res.json({ saved: true })));
      });
      await request(app).post("/cart").set("Cookie", apps.cookie).expect(200);
      expect(await clientA.exists(keys[0] as string)).toBe(0);
      expect(await apps.store.get(apps.id)).toBeNull();
      expect(await apps.store.listUserSessions("lb-user")).toEqual([]);
    } finally {
      await apps.close();
    }
  });
});
