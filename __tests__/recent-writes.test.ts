/**
 * A store repeats saves and touches of the sessions it wrote itself with plain commands (SET XX GET,
 * PEXPIREAT), trusting what it remembers of them (lib/recent.ts). Another process may have changed
 * any of it since: destroyed the session, given it another owner, shortened it. Two stores on two
 * connections play the two processes, and every test checks what a user relies on: the per-user
 * index tells the truth, "sign out everywhere" reaches every session, and nothing destroyed returns.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import { createClient } from "redis";
import { RedisStore } from "../lib/index";
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
  const prefix = `recent-${process.pid}-${++run}:`;
  const a = new RedisStore({ client: clientA, prefix });
  const b = new RedisStore({ client: clientB, prefix });
  const session = (sid: string) => `${prefix}${sid}`;
  const meta = async (sid: string) => {
    const found = await clientA.keys(`${a.options.indexPrefix}s:*${sid}`);
    expect(found).toHaveLength(1);
    return found[0] as string;
  };
  const index = (userId: string) => `${a.options.indexPrefix}user:${userId}`;
  /** The invariant the plain-command path rests on: owner record and index entry outlive the session. */
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

describe("a process's memory of its sessions never outranks Redis", () => {
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

  test("a touch from a process that remembers an older owner and a later expiry: the new owner's index still covers the session", async () => {
    const { a, b, expectCovered } = stores();
    await a.set("s3", sess({ userId: "ursula" }, 600_000));
    await b.set("s3", sess({ userId: "victor" }, 60_000)); // new owner, shorter life
    const stale = sess({ userId: "ursula" }, 600_000);
    await a.touch("s3", stale);
    expect(((await b.get("s3")) as Sess).userId).toBe("victor");
    await expectCovered("s3", "victor");
    expect((await b.listUserSessions("victor")).map((s) => s.id)).toEqual(["s3"]);
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

  test("forty saves and touches in a row, some past the remembered horizon: owner record and index entry always outlive the session", async () => {
    const { a, expectCovered } = stores();
    const start = Date.now();
    for (let i = 0; i < 40; i++) {
      // Lifetimes grow by 30 s a step: every few steps the new expiry leaves the horizon (an eighth of the lifetime).
      const ms = 60_000 + i * 30_000;
      const s = { ...sess({ userId: "yuri", step: i }, ms), cookie: { originalMaxAge: ms, expires: new Date(start + ms) } } as Sess;
      if (i % 3 === 0) await a.set("s5", s);
      else await a.touch("s5", s);
      await expectCovered("s5", "yuri");
      expect(Date.parse(String(((await a.get("s5")) as Sess).cookie.expires))).toBe(start + ms);
    }
  });
});

describe("a user with thousands of sessions", () => {
  test("repeat saves made together record every session's and user's activity in one ZADD per set, and share its errors", async () => {
    const { a } = stores();
    const sids = Array.from({ length: 200 }, (_, i) => `busy-${i}`);
    const owner = (i: number) => `busy-user-${i % 40}`;
    await Promise.all(sids.map((sid, i) => a.set(sid, sess({ userId: owner(i) }))));
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the one-second activity resolution
    const since = Date.now();
    const zadds = async () =>
      Number(
        /\bcalls=(\d+)/.exec((await clientA.info("commandstats")).split("\n").find((l) => l.startsWith("cmdstat_zadd:")) ?? "")?.[1] ?? 0,
      );
    const before = await zadds();
    await Promise.all(sids.map((sid, i) => a.set(sid, sess({ userId: owner(i), again: true }))));
    // One ZADD per activity set for the 200 saves (counted where no other client shares the server).
    if (redis.private) expect((await zadds()) - before).toBe(2);
    const activeSessions = `${a.options.indexPrefix}{active}sessions`;
    const activeUsers = `${a.options.indexPrefix}{active}users`;
    expect((await clientA.zRangeByScore(activeSessions, since, "+inf")).sort()).toEqual([...sids].sort());
    expect(await a.countActiveUsers((Date.now() - since) / 1000 + 0.5)).toBe(40);
    expect(await clientA.zCount(activeUsers, since, "+inf")).toBe(40);

    // A failed activity write fails every save of its batch (the sessions themselves were saved).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await clientA.del(activeSessions);
    await clientA.set(activeSessions, "not a sorted set");
    const results = await Promise.allSettled(sids.slice(0, 20).map((sid, i) => a.set(sid, sess({ userId: owner(i), third: true }))));
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect(String((result as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    }
    await clientA.del(activeSessions);
  });

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
