/**
 * One clock: Redis's. App processes whose clocks are ten minutes off (Date.now overridden in this
 * test process, per store "process") keep their sessions' lifetimes, and two of them with different
 * clocks on one Redis never undo each other: "sign out everywhere" from either reaches every session
 * of a user, and pruning by one never removes the other's index entries or activity. Also here,
 * because it needs two processes on Cluster: a stale touch never changes a session's owner.
 * On a single Redis and on Cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import { RedisStore } from "../lib/index";
import { Keys } from "../lib/keys";
import { type ClientHandle, makeClient } from "./helpers/clients";
import { startCluster, type TestCluster } from "./helpers/cluster";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

jest.setTimeout(60000);

type Sess = SessionData & { userId?: string; n?: number };
const MINUTE = 60_000;
const SKEW = 10 * MINUTE;
const realNow = Date.now;

/** Runs `fn` with this process's clock `offsetMs` off, as an app server whose clock drifted would. */
async function withClock<T>(offsetMs: number, fn: () => Promise<T>): Promise<T> {
  Date.now = () => realNow() + offsetMs;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

/** A session as express-session builds it, on the clock in force: it expires `ms` from "now". */
function sess(extra: Record<string, unknown>, ms: number): Sess {
  return { cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: "/" }, ...extra } as unknown as Sess;
}

let single: RedisServer;
let cluster: TestCluster;
const handles: Record<string, ClientHandle> = {};

beforeAll(async () => {
  [single, cluster] = await Promise.all([startRedis(), startCluster()]);
  // Two connections per topology: two app processes.
  const made = await Promise.all([
    makeClient(5, "standalone", single),
    makeClient(6, "standalone", single),
    makeClient(5, "cluster", cluster),
    makeClient(6, "cluster", cluster),
  ]);
  [handles.singleA, handles.singleB, handles.clusterA, handles.clusterB] = made;
}, 90000);

afterAll(async () => {
  Date.now = realNow;
  await Promise.all(Object.values(handles).map((h) => h.close()));
  await Promise.all([single?.stop().then(() => removeDir(single)), cluster?.stop()]);
}, 30000);

let run = 0;

describe.each(["single", "cluster"])("%s", (topology) => {
  let a: ClientHandle;
  let b: ClientHandle;
  beforeAll(() => {
    a = handles[`${topology}A`] as ClientHandle;
    b = handles[`${topology}B`] as ClientHandle;
  });

  /** Two stores ("processes") on one Redis, under a prefix of their own. */
  function stores() {
    const prefix = `skew-${process.pid}-${++run}:`;
    const storeA = new RedisStore({ client: a.client, prefix });
    const storeB = new RedisStore({ client: b.client, prefix });
    const keys = new Keys(prefix, storeA.options.indexPrefix);
    return { storeA, storeB, keys, prefix };
  }
  const pTTL = async (key: string) => Number(await a.command(["PTTL", key]));

  describe("an app clock ten minutes off", () => {
    test.each([SKEW, -SKEW])("offset %d ms: a 5-minute session is saved, read, listed and touched with its lifetime", async (offset) => {
      const { storeA, keys } = stores();
      await withClock(offset, async () => {
        await storeA.set("s1", sess({ userId: "ann" }, 5 * MINUTE));
        // Redis counts the lifetime itself: the key lives 5 minutes, not 0 or 15.
        const left = await pTTL(keys.session("s1"));
        expect(left).toBeGreaterThan(4 * MINUTE);
        expect(left).toBeLessThanOrEqual(5 * MINUTE);
        const read = (await storeA.get("s1")) as Sess;
        expect(read.userId).toBe("ann");
        // What the app sees is on its own clock: 5 minutes from its "now".
        const shown = new Date(read.cookie.expires as unknown as string).getTime() - Date.now();
        expect(shown).toBeGreaterThan(4 * MINUTE);
        expect(shown).toBeLessThanOrEqual(5 * MINUTE);
        const [listed] = await storeA.listUserSessions("ann");
        expect(listed?.id).toBe("s1");
        const listedLeft = (listed?.expiresAt?.getTime() ?? 0) - Date.now();
        expect(listedLeft).toBeGreaterThan(4 * MINUTE);
        expect(listedLeft).toBeLessThanOrEqual(5 * MINUTE);
        await storeA.touch("s1", sess({ userId: "ann" }, 20 * MINUTE));
        expect(await pTTL(keys.session("s1"))).toBeGreaterThan(19 * MINUTE);
        // A 30-second session is not gone at once either.
        await storeA.set("short", sess({ userId: "ann" }, 30_000));
        expect(await storeA.get("short")).not.toBeNull();
        expect(await storeA.countUserSessions("ann")).toBe(2);
      });
    });
  });

  describe("two processes whose clocks are 20 minutes apart", () => {
    test("sign out everywhere from either reaches all 5 sessions of a user; each one's listing and pruning keeps the other's entries and activity", async () => {
      for (const [first, second] of [
        [SKEW, -SKEW],
        [-SKEW, SKEW],
      ] as const) {
        const { storeA, storeB, keys } = stores();
        // Sessions saved alternately by the two processes, each with its own clock.
        for (let i = 0; i < 5; i++) {
          const [store, offset] = i % 2 === 0 ? [storeA, first] : [storeB, second];
          await withClock(offset, () => store.set(`s${i}`, sess({ userId: "bo", n: i }, 5 * MINUTE)));
        }
        // Each process lists (and prunes) in turn: every session stays listed, every index entry and activity record stays.
        for (const [store, offset] of [
          [storeA, first],
          [storeB, second],
          [storeA, first],
        ] as const) {
          await withClock(offset, async () => {
            expect((await store.listUserSessions("bo")).map((s) => s.id).sort()).toEqual(["s0", "s1", "s2", "s3", "s4"]);
            expect(await store.countUserSessions("bo")).toBe(5);
            expect(await store.countActiveUsers(60)).toBe(1);
            const active: string[] = [];
            for await (const s of store.listActiveSessions(60)) active.push(s.id);
            expect(active.sort()).toEqual(["s0", "s1", "s2", "s3", "s4"]);
          });
        }
        expect(Number(await a.command(["ZCARD", keys.user("bo")]))).toBe(5);
        expect(Number(await a.command(["ZCARD", keys.activeSessions]))).toBe(5);
        // A later save and touch by one process do not prune the other's activity either.
        await withClock(second, () => storeB.touch("s0", sess({ userId: "bo" }, 10 * MINUTE)));
        expect(Number(await a.command(["ZCARD", keys.activeSessions]))).toBe(5);
        // Sign out everywhere, from the first process: all 5.
        expect(await withClock(first, () => storeA.destroyUserSessions("bo"))).toBe(5);
        for (let i = 0; i < 5; i++) expect(Number(await a.command(["EXISTS", keys.session(`s${i}`)]))).toBe(0);
        // And a late save from the other process brings none back.
        for (let i = 0; i < 5; i++) await withClock(second, () => storeB.set(`s${i}`, sess({ userId: "bo" }, 5 * MINUTE)));
        expect(await withClock(second, () => storeB.countUserSessions("bo"))).toBe(0);
      }
    });

    test("sign out everywhere from the process whose clock is behind reaches sessions the one ahead saved, and the other way round", async () => {
      const { storeA, storeB } = stores();
      for (let i = 0; i < 5; i++) await withClock(SKEW, () => storeA.set(`ahead${i}`, sess({ userId: "cat" }, 5 * MINUTE)));
      for (let i = 0; i < 5; i++) await withClock(-SKEW, () => storeB.set(`behind${i}`, sess({ userId: "dan" }, 5 * MINUTE)));
      expect(await withClock(-SKEW, () => storeB.destroyUserSessions("cat"))).toBe(5);
      expect(await withClock(SKEW, () => storeA.destroyUserSessions("dan"))).toBe(5);
      expect(await storeA.length()).toBe(0);
    });
  });

  describe("a stale touch from another process", () => {
    test("never changes the owner: the new owner's index covers the session, the old owner's sign-out misses it", async () => {
      const { storeA, storeB, keys } = stores();
      await storeA.set("t1", sess({ userId: "ursula" }, 10 * MINUTE));
      await storeB.set("t1", sess({ userId: "victor" }, MINUTE)); // the same browser signed in as victor, shorter life
      await storeA.touch("t1", sess({ userId: "ursula" }, 10 * MINUTE)); // a slow request that loaded ursula's session
      expect(((await storeB.get("t1")) as Sess).userId).toBe("victor");
      expect(await a.command(["GET", keys.meta("t1")])).toBe("uvictor");
      // The owner record and victor's index entry outlive the session.
      const until = Number(await a.command(["PEXPIRETIME", keys.session("t1")]));
      expect(Number(await a.command(["PEXPIRETIME", keys.meta("t1")]))).toBeGreaterThanOrEqual(until);
      expect(Number(await a.command(["ZSCORE", keys.user("victor"), keys.member("t1")]))).toBeGreaterThanOrEqual(until);
      expect((await storeB.listUserSessions("victor")).map((s) => s.id)).toEqual(["t1"]);
      expect(await storeA.listUserSessions("ursula")).toEqual([]);
      // ursula's listing dropped her stale entry (the touch did not renew it).
      expect(await a.command(["ZSCORE", keys.user("ursula"), keys.member("t1")])).toBeNull();
      expect(await storeA.destroyUserSessions("ursula")).toBe(0);
      expect(((await storeB.get("t1")) as Sess).userId).toBe("victor");
      expect(await storeB.destroyUserSessions("victor")).toBe(1);
      expect(await storeA.get("t1")).toBeNull();
    });

    test("of an anonymous session that signed in elsewhere: the owner's index still covers it", async () => {
      const { storeA, storeB, keys } = stores();
      await storeA.set("t2", sess({ n: 1 }, 10 * MINUTE));
      await storeB.set("t2", sess({ userId: "wendy" }, MINUTE));
      await storeA.touch("t2", sess({ n: 1 }, 10 * MINUTE));
      expect(await a.command(["GET", keys.meta("t2")])).toBe("uwendy");
      const until = Number(await a.command(["PEXPIRETIME", keys.session("t2")]));
      expect(Number(await a.command(["ZSCORE", keys.user("wendy"), keys.member("t2")]))).toBeGreaterThanOrEqual(until);
      expect(await storeB.destroyUserSessions("wendy")).toBe(1);
      expect(await storeA.get("t2")).toBeNull();
    });
  });
});
