/**
 * One contract, eight setups: every store method against a standalone Redis, a Redis Cluster
 * (3 masters + 3 replicas) and Sentinel (master + replica + 3 sentinels), each through node-redis
 * 5 (RESP2) and node-redis 6 (RESP3); and against a standalone Valkey 8 and a Valkey Cluster through
 * node-redis 6 (SKIP_VALKEY=1 leaves those two out). Each topology is started once for the file;
 * every test uses its own prefix, so tests never see each other's keys. Real servers only.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import {
  RedisStore,
  type RedisStoreOptions,
  SessionDecodeError,
  SessionFieldsError,
  SessionNotFoundError,
  type UserSession,
} from "../lib/index";
import { sidOfMember } from "../lib/keys";
import { ACTIVITY_RESOLUTION_MS, FIELDS_SLACK_MS } from "../lib/scripts/lua";
import { type ClientHandle, type ClientName, COMBOS, makeClient, type Target, type TopologyName } from "./helpers/clients";
import { cli, parseInfo, startCluster, startSentinel, type TestCluster, type TestSentinel } from "./helpers/cluster";
import { type RedisServer, removeDir, type ServerKind, serverName, startRedis, waitFor } from "./helpers/redis-server";

interface Topologies {
  standalone?: RedisServer;
  cluster?: TestCluster;
  sentinel?: TestSentinel;
}
const started: Record<ServerKind, Topologies> = { redis: {}, valkey: {} };

beforeAll(async () => {
  // Every topology COMBOS names, all at once; if one fails, stop the others too (afterAll still runs).
  const wanted = new Set(COMBOS.map(([server, topology]) => `${server} ${topology}`));
  const starts = [...wanted].map(async (name) => {
    const [server, topology] = name.split(" ") as [ServerKind, TopologyName];
    if (topology === "standalone") started[server].standalone = await startRedis({ server });
    else if (topology === "cluster") started[server].cluster = await startCluster({ server });
    else started[server].sentinel = await startSentinel();
  });
  for (const result of await Promise.allSettled(starts)) if (result.status === "rejected") throw result.reason;
  // Command statistics count from here: only the clients' and the store's traffic (see the last test).
  await Promise.all(
    COMBOS.flatMap(([server, topology]) => serverPorts(server, topology).map((port) => cli(port, ["CONFIG", "RESETSTAT"]))),
  );
}, 90000);

afterAll(async () => {
  await Promise.all(
    Object.values(started).flatMap(({ standalone, cluster, sentinel }) => [
      standalone?.stop().then(() => removeDir(standalone)),
      cluster?.stop(),
      sentinel?.stop(),
    ]),
  );
}, 30000);

function targetOf(server: ServerKind, topology: TopologyName): Target {
  const { standalone, cluster, sentinel } = started[server];
  if (topology === "standalone") return { url: (standalone as RedisServer).url };
  if (topology === "cluster") return cluster as TestCluster;
  return sentinel as TestSentinel;
}

/** Ports of the data servers (not sentinels) of a topology, for INFO. */
function serverPorts(server: ServerKind, topology: TopologyName): number[] {
  const { standalone, cluster, sentinel } = started[server];
  if (topology === "standalone") return [(standalone as RedisServer).port];
  if (topology === "cluster") return (cluster as TestCluster).nodes.map((n) => n.port);
  return [(sentinel as TestSentinel).master.port, (sentinel as TestSentinel).replica.port];
}

// ---- session fixtures --------------------------------------------------------------------------

interface Cookie {
  originalMaxAge: number | null;
  expires?: Date | string | null;
  httpOnly: boolean;
  path: string;
}
type Sess = SessionData & { cookie: Cookie; userId?: string | number; [key: string]: unknown };

/** A session as express-session hands it to the store: cookie.expires a Date `ms` from now. */
function sess(extra: Record<string, unknown> = {}, ms = 60_000): Sess {
  return { cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: "/" }, ...extra } as unknown as Sess;
}
/** What get() returns for a session that was saved: its JSON round trip. */
const stored = (s: Sess) => JSON.parse(JSON.stringify(s)) as Record<string, unknown>;

/** Waits until the clock has moved on by at least one millisecond (no fixed sleep). */
async function nextMs(): Promise<void> {
  const start = Date.now();
  while (Date.now() <= start) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits until the clock reaches `at` (only to age activity for a time window; never for readiness). */
async function until(at: number): Promise<void> {
  while (Date.now() < at) await new Promise((resolve) => setTimeout(resolve, Math.min(20, Math.max(1, at - Date.now()))));
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Runs `fn` over items with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

const sorted = (values: Iterable<string>) => [...values].sort();

/** Redis setups keep their plain names ("cluster, node-redis 5"); the others name their server. */
const SETUPS = COMBOS.map(
  ([server, topology, client]) => [`${server === "redis" ? "" : `${server} `}${topology}`, client, server, topology] as const,
);

describe.each(SETUPS)("%s, %s", (_name: string, clientName: ClientName, server: ServerKind, topology: TopologyName) => {
  let h: ClientHandle;
  let prefixes = 0;
  const tag = `${server}-${topology}-${clientName.replace(" ", "")}-${process.pid}`;
  /** A fresh prefix per test (and with it a fresh indexPrefix). */
  const newPrefix = () => `rss-${tag}-${++prefixes}:`;
  const newStore = (options: Partial<RedisStoreOptions> = {}) => new RedisStore({ client: h.client, prefix: newPrefix(), ...options });
  const key = (store: RedisStore, sid: string) => store.prefix + sid;
  const pexpiretime = async (k: string) => Number(await h.command(["PEXPIRETIME", k]));
  const exists = async (k: string) => Number(await h.command(["EXISTS", k]));
  /**
   * Lifetimes travel as durations computed from this process's clock and are applied on Redis's, so
   * a key's expiry (and a read of it, as time left) is the cookie's to within the time the calls
   * took since `began`: never earlier, never later than that.
   */
  const expectExpiry = (actual: number | undefined, expected: Date | number, began: number) => {
    const at = expected instanceof Date ? expected.getTime() : expected;
    expect(actual).toBeGreaterThanOrEqual(at - 1);
    expect(actual).toBeLessThanOrEqual(at + (Date.now() - began) + 1);
  };
  /**
   * touch() records activity at most once a second per session (docs/design.md, the per-user index),
   * judged by Redis's own record. Waits that second out, so the next touch records activity.
   */
  const waitOutActivityResolution = () => new Promise((resolve) => setTimeout(resolve, ACTIVITY_RESOLUTION_MS + 5));

  beforeAll(async () => {
    h = await makeClient(clientName, topology, targetOf(server, topology));
  });
  afterAll(async () => {
    await h?.close();
  });

  test("the store reports its topology", () => {
    expect(newStore().topology).toBe(topology);
  });

  test(`every server of this setup is ${server} (INFO server_name)`, async () => {
    const names = await Promise.all(serverPorts(server, topology).map((port) => serverName(port)));
    expect(new Set(names)).toEqual(new Set([server]));
  });

  // ---- get / set / touch / destroy -------------------------------------------------------------

  test("set then get returns the session; the key's expiry is cookie.expires, to within the call", async () => {
    const store = newStore();
    const s = sess({ views: 3, nested: { a: [1, 2] } }, 90_000);
    const began = Date.now();
    await store.set("a1", s);
    expect(await store.get("a1")).toEqual(stored(s));
    expectExpiry(await pexpiretime(key(store, "a1")), s.cookie.expires as Date, began);
    expect(await store.get("missing")).toBeNull();
    // The callback form: called once, with (null, value).
    const viaCallback = await new Promise<unknown[]>((resolve) => void store.get("a1", (...args) => resolve(args)));
    expect(viaCallback).toEqual([null, stored(s)]);
  });

  test("without cookie.expires the ttl option (seconds) applies; ttl function wins over the cookie", async () => {
    const plain = newStore({ ttl: 100 });
    const before = Date.now();
    await plain.set("t1", { cookie: { originalMaxAge: null, httpOnly: true, path: "/" } } as unknown as SessionData);
    const at = await pexpiretime(key(plain, "t1"));
    expect(at).toBeGreaterThanOrEqual(before + 100_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 100_000);

    const fn = newStore({ ttl: () => 50 });
    const before2 = Date.now();
    await fn.set("t2", sess({}, 3_600_000));
    const at2 = await pexpiretime(key(fn, "t2"));
    expect(at2).toBeGreaterThanOrEqual(before2 + 50_000);
    expect(at2).toBeLessThanOrEqual(Date.now() + 50_000);

    // A ttl function result <= 0 deletes on set.
    const zero = newStore({ ttl: (s) => ((s as Sess).gone ? 0 : 60) });
    await zero.set("t3", sess());
    expect(await zero.get("t3")).not.toBeNull();
    await zero.set("t3", sess({ gone: true }));
    expect(await zero.get("t3")).toBeNull();
    expect(await exists(key(zero, "t3"))).toBe(0);
  });

  test("touch moves the expiry; get shows the new cookie.expires; the value is not rewritten", async () => {
    const store = newStore();
    const s = sess({ n: 1 }, 60_000);
    await store.set("b1", s);
    const later = new Date(Date.now() + 600_000);
    const began = Date.now();
    await store.touch("b1", { ...s, cookie: { ...s.cookie, expires: later } } as Sess);
    expectExpiry(await pexpiretime(key(store, "b1")), later, began);
    const got = (await store.get("b1")) as Sess;
    expect(new Date(got.cookie.expires as string).getTime()).toBe(later.getTime());
    expect(got.n).toBe(1);
    // touch() never rewrites the value: a concurrent save's data stays.
    await store.set("b1", { ...s, n: 2 } as Sess);
    await store.touch("b1", { ...s, n: 1, cookie: { ...s.cookie, expires: later } } as Sess);
    expect(((await store.get("b1")) as Sess).n).toBe(2);
    // touch of an unknown session creates nothing.
    await store.touch("nobody", s);
    expect(await exists(key(store, "nobody"))).toBe(0);
  });

  test("set with an already expired cookie deletes the session", async () => {
    const store = newStore();
    await store.set("c1", sess({ userId: "cu" }));
    expect(await store.get("c1")).not.toBeNull();
    await store.set("c1", sess({ userId: "cu" }, -1000));
    expect(await store.get("c1")).toBeNull();
    expect(await exists(key(store, "c1"))).toBe(0);
    expect(await store.countUserSessions("cu")).toBe(0);
    // An expiry is not a logout: no tombstone, the id may be saved again.
    await store.set("c1", sess({ userId: "cu", again: true }));
    expect(((await store.get("c1")) as Sess | null)?.again).toBe(true);
    expect(await store.countUserSessions("cu")).toBe(1);
  });

  test("destroy deletes the session and its index entries", async () => {
    const store = newStore();
    await store.set("d1", sess({ userId: "du" }));
    await store.set("d2", sess({ userId: "du" }));
    await store.destroy("d1");
    expect(await store.get("d1")).toBeNull();
    expect(await exists(key(store, "d1"))).toBe(0);
    expect((await store.listUserSessions("du")).map((s) => s.id)).toEqual(["d2"]);
    const active = await collect(store.listActiveSessions(3600));
    expect(active.map((s) => s.id)).toEqual(["d2"]);
    await store.destroy("never-existed"); // no error
  });

  test("an undecodable value reads as null with a decodeError event", async () => {
    const store = newStore();
    await h.command(["SET", key(store, "bad"), "{not json"]);
    const errors: SessionDecodeError[] = [];
    store.on("decodeError", (error: SessionDecodeError) => errors.push(error));
    expect(await store.get("bad")).toBeNull();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SessionDecodeError);
    expect(errors[0]?.sessionId).toBe("bad");
  });

  // ---- all / ids / length / clear / scan -------------------------------------------------------

  test("all/ids/length/clear see only this prefix; clear leaves other prefixes and keys alone", async () => {
    const a = newStore();
    const b = newStore();
    const other = `rss-other-${tag}-${prefixes}`;
    const sessionsA = new Map<string, Sess>();
    for (let i = 0; i < 5; i++) sessionsA.set(`a${i}`, sess({ i, userId: `ua${i % 2}` }));
    await Promise.all([...sessionsA].map(([sid, s]) => a.set(sid, s)));
    await Promise.all([0, 1, 2].map((i) => b.set(`b${i}`, sess({ i, userId: "ub" }))));
    await h.command(["SET", other, "keep me"]);

    expect(sorted(await a.ids())).toEqual(sorted(sessionsA.keys()));
    expect(await a.length()).toBe(5);
    const all = await a.all();
    expect(all).toHaveLength(5);
    for (const entry of all) {
      const { id, ...rest } = entry as unknown as { id: string };
      expect(rest).toEqual(stored(sessionsA.get(id) as Sess));
    }

    const ownsA = (k: string) => k.startsWith(a.prefix) || k.startsWith(a.options.indexPrefix);
    const othersBefore = sorted((await h.keys("*")).filter((k) => !ownsA(k)));
    // Keys of earlier tests that expire by themselves meanwhile (short lifetimes) are not clear()'s doing.
    const lasting = new Set<string>();
    for (const k of othersBefore) {
      const pttl = Number(await h.command(["PTTL", k], k));
      if (pttl === -1 || pttl > 30_000) lasting.add(k);
    }
    await a.clear();
    // Not one key outside this store's prefixes appeared or went away.
    const othersAfter = sorted((await h.keys("*")).filter((k) => !ownsA(k)));
    expect(othersAfter.filter((k) => !othersBefore.includes(k))).toEqual([]);
    expect([...lasting].filter((k) => !othersAfter.includes(k))).toEqual([]);
    expect(lasting.has(other)).toBe(true);
    expect(await h.keys(`${a.prefix}*`)).toEqual([]);
    // What clear() leaves of its own: only tombstones (so a late save cannot revive a session).
    for (const k of await h.keys(`${a.options.indexPrefix}*`)) {
      expect(k.startsWith(`${a.options.indexPrefix}s:`)).toBe(true);
      // A tombstone keeps when (Redis's clock) and why: clear() signed this session out.
      expect(await h.command(["GET", k])).toMatch(/^D\d{13}:clear$/);
    }
    expect(await a.length()).toBe(0);
    expect(await a.ids()).toEqual([]);
    expect(await a.all()).toEqual([]);
    expect(await a.countUserSessions("ua0")).toBe(0);
    expect(await a.countActiveUsers(3600)).toBe(0);
    expect(await h.keys(`${a.options.indexPrefix}user:*`)).toEqual([]);
    // The other store and the unrelated key are untouched.
    expect(await b.length()).toBe(3);
    expect(await b.countUserSessions("ub")).toBe(3);
    expect(await b.countActiveUsers(3600)).toBe(1);
    expect(await h.command(["GET", other])).toBe("keep me");
    await h.command(["DEL", other]);
  });

  test("glob characters in the prefix are matched literally", async () => {
    const base = `rss-glob-${tag}-${++prefixes}`;
    const store = new RedisStore({ client: h.client, prefix: `${base}*[a]?:` });
    const lookalike = `${base}XaZ:x`; // what an unescaped "base*[a]?:*" would match
    await h.command(["SET", lookalike, "keep"]);
    await store.set("g1", sess());
    expect(await store.ids()).toEqual(["g1"]);
    expect(await store.length()).toBe(1);
    await store.clear();
    expect(await store.length()).toBe(0);
    expect(await h.command(["GET", lookalike])).toBe("keep");
    await h.command(["DEL", lookalike]);
  });

  test("scan() streams every session once in batches; breaking early is safe", async () => {
    const store = newStore();
    const sids = Array.from({ length: 250 }, (_, i) => `s${i}`);
    await pool(sids, 50, (sid, i) => store.set(sid, sess({ i })));
    // SCAN calls the servers received (to show scan() streams instead of collecting first).
    const scanCalls = async () => {
      let total = 0;
      for (const port of serverPorts(server, topology)) {
        const line = parseInfo(await cli(port, ["INFO", "commandstats"])).get("cmdstat_scan") ?? "";
        total += Number(/calls=(\d+)/.exec(line)?.[1] ?? 0);
      }
      return total;
    };
    const iterator = store.scan({ count: 10 });
    expect(typeof iterator[Symbol.asyncIterator]).toBe("function");
    const seen = new Map<string, unknown>();
    const fullBefore = await scanCalls();
    for await (const { id, session } of iterator) {
      expect(seen.has(id)).toBe(false);
      seen.set(id, session);
    }
    const fullPass = (await scanCalls()) - fullBefore;
    expect(sorted(seen.keys())).toEqual(sorted(sids));
    expect((seen.get("s7") as Sess).i).toBe(7);

    // Stopping after 3 sessions leaves most SCAN pages unasked (scan() reads a few batches ahead).
    const earlyBefore = await scanCalls();
    let taken = 0;
    for await (const _ of store.scan({ count: 10 })) if (++taken === 3) break;
    expect(taken).toBe(3);
    const early = (await scanCalls()) - earlyBefore;
    expect(fullPass).toBeGreaterThanOrEqual(25);
    expect(early * 2).toBeLessThan(fullPass);
    expect(await store.length()).toBe(250);
    await store.clear();
  });

  test("bulk operations across thousands of keys and slots (no CROSSSLOT)", async () => {
    const store = newStore({ scanCount: 200 });
    const total = 2000;
    const sids = Array.from({ length: total }, (_, i) => `bulk-${i}`);
    // 500 of one user's sessions (spread over every slot), the rest over 30 users.
    const owner = (i: number) => (i < 500 ? "heavy" : `u${i % 30}`);
    await pool(sids, 100, (sid, i) => store.set(sid, sess({ userId: owner(i), i })));

    if (topology === "cluster") {
      // The keys really are spread over the three shards.
      const perMaster = await h.keysPerMaster(`${store.prefix}*`);
      expect(perMaster).toHaveLength(3);
      for (const keys of perMaster) expect(keys.length).toBeGreaterThan(400);
    }

    expect(await store.length()).toBe(total);
    expect((await store.ids()).length).toBe(total);
    expect((await store.all()).length).toBe(total);
    expect((await collect(store.scan({ count: 300 }))).length).toBe(total);
    expect(await store.countUserSessions("heavy")).toBe(500);
    expect((await store.listUserSessions("heavy")).length).toBe(500);
    expect(await store.countActiveUsers(3600)).toBe(31);
    expect((await collect(store.listActiveSessions(3600, { pageSize: 500 }))).length).toBe(total);
    expect(await store.destroyUserSessions("heavy", { except: ["bulk-0", "bulk-1"] })).toBe(498);
    expect(await store.length()).toBe(total - 498);
    await store.clear();
    expect(await store.length()).toBe(0);
    expect(await h.keys(`${store.options.indexPrefix}user:*`)).toEqual([]);
  });

  test("bulk calls honour scanCount per SCAN call; on a single Redis one round trip runs 20 of them", async () => {
    const store = newStore({ scanCount: 50 });
    const total = 2500;
    await pool(
      Array.from({ length: total }, (_, i) => `sweep-${i}`),
      100,
      (sid, i) => store.set(sid, sess(i % 2 ? { userId: `u${i % 7}` } : {})),
    );
    // SCAN calls the servers ran (sent by a client or inside a script) and scripts they ran.
    const counters = async () => {
      let scans = 0;
      let scripts = 0;
      for (const port of serverPorts(server, topology)) {
        const info = parseInfo(await cli(port, ["INFO", "commandstats"]));
        // Calls that ran (a NOSCRIPT EVALSHA, answered by an EVAL, did not).
        const calls = (command: string) => {
          const line = info.get(`cmdstat_${command}`) ?? "";
          return Number(/\bcalls=(\d+)/.exec(line)?.[1] ?? 0) - Number(/failed_calls=(\d+)/.exec(line)?.[1] ?? 0);
        };
        scans += calls("scan");
        scripts += calls("evalsha") + calls("eval");
      }
      return { scans, scripts };
    };
    const measure = async (call: () => Promise<unknown>) => {
      const before = await counters();
      const result = await call();
      const after = await counters();
      return { result, scans: after.scans - before.scans, scripts: after.scripts - before.scripts };
    };
    // On a single Redis the SCAN calls run inside scripts, 20 to a round trip (1,000 keys' worth);
    // on Cluster each is its own round trip.
    // Each sweep (one SCAN pattern run to its end) may end with one round trip of fewer calls.
    const perRoundTrip = (scans: number, scripts: number, others = 0, sweeps = 1) => {
      if (topology === "cluster") return;
      expect(scripts - others).toBeGreaterThanOrEqual(Math.ceil(scans / 20));
      expect(scripts - others).toBeLessThanOrEqual(Math.ceil(scans / 20) + sweeps);
    };
    for (const call of [() => store.length(), () => store.ids(), () => store.all()]) {
      const { result, scans, scripts } = await measure(call);
      expect(typeof result === "number" ? result : (result as unknown[]).length).toBe(total);
      // Every SCAN call, on the server or from us, covers scanCount (50) slots: about 50 keys.
      expect(scans).toBeGreaterThanOrEqual(total / 50 / 2);
      perRoundTrip(scans, scripts);
    }
    // clear(): the signed-in half goes user by user through the index, one script for each user in
    // the active-users set (this store's 7, and any other store's on this indexPrefix).
    const users = Number(await h.command(["ZCARD", `${store.options.indexPrefix}{active}users`]));
    expect(users).toBeGreaterThanOrEqual(7);
    const { scans, scripts } = await measure(() => store.clear());
    expect(scans).toBeGreaterThanOrEqual(total / 50 / 2);
    // Three sweeps: the sessions, then the fields and info keys of sessions gone.
    perRoundTrip(scans, scripts, users, 3);
    expect(await store.length()).toBe(0);
    expect(await h.keys(`${store.prefix}*`)).toEqual([]);
  });

  // ---- per-user index --------------------------------------------------------------------------

  test("listUserSessions: the user's live sessions, newest activity first, with Dates", async () => {
    // touchAfter 0: the touch below moves the expiry by less than "auto" would send (1% of a minute).
    const store = newStore({ touchAfter: 0 });
    const s1 = sess({ userId: "alice", n: 1 }, 60_000);
    const s2 = sess({ userId: "alice", n: 2 }, 120_000);
    const s3 = sess({ userId: "alice", n: 3 }, 180_000);
    const t0 = Date.now();
    await store.set("l1", s1);
    await nextMs();
    await store.set("l2", s2);
    await nextMs();
    await store.set("l3", s3);
    await store.set("lb", sess({ userId: "bob" }));
    await store.set("lanon", sess());
    await nextMs();
    const touchedAt = Date.now();
    await waitOutActivityResolution();
    await store.touch("l1", s1); // l1 becomes the most recently active
    const t1 = Date.now();

    const list = await store.listUserSessions("alice");
    expect(list.map((s) => s.id)).toEqual(["l1", "l3", "l2"]);
    for (const entry of list) {
      expect(entry.expiresAt).toBeInstanceOf(Date);
      expect(entry.lastActive).toBeInstanceOf(Date);
      expect(entry.lastActive?.getTime()).toBeGreaterThanOrEqual(t0);
      expect(entry.lastActive?.getTime()).toBeLessThanOrEqual(t1);
    }
    expect(list[0]?.lastActive?.getTime()).toBeGreaterThanOrEqual(touchedAt);
    expectExpiry(list[1]?.expiresAt?.getTime(), s3.cookie.expires as Date, t0);
    expectExpiry(list[2]?.expiresAt?.getTime(), s2.cookie.expires as Date, t0);
    expect((list[1] as UserSession).session).toEqual(stored(s3));
    expect((list[2] as UserSession).session).toEqual(stored(s2));
    expect(await store.listUserSessions("nobody")).toEqual([]);
    // Numeric ids are the same user as their string form.
    await store.set("num", sess({ userId: 42 }));
    expect((await store.listUserSessions(42)).map((s) => s.id)).toEqual(["num"]);
    expect(await store.countUserSessions("42")).toBe(1);
  });

  test("countUserSessions counts live sessions only", async () => {
    const store = newStore();
    expect(await store.countUserSessions("carol")).toBe(0);
    await Promise.all(["k1", "k2", "k3"].map((sid) => store.set(sid, sess({ userId: "carol" }))));
    expect(await store.countUserSessions("carol")).toBe(3);
    await store.destroy("k2");
    expect(await store.countUserSessions("carol")).toBe(2);
  });

  test("destroyUserSessions destroys all but `except`, returns the count, and is final", async () => {
    const store = newStore();
    const sids = ["e1", "e2", "e3", "e4"];
    await Promise.all(sids.map((sid) => store.set(sid, sess({ userId: "dave" }))));
    await store.set("other", sess({ userId: "erin" }));
    expect(await store.destroyUserSessions("dave", { except: "e2" })).toBe(3);
    expect((await store.listUserSessions("dave")).map((s) => s.id)).toEqual(["e2"]);
    expect(await store.get("e1")).toBeNull();
    expect(await store.get("e2")).not.toBeNull();
    expect(await store.get("other")).not.toBeNull();
    // A request that loaded e1 before the logout cannot save it back.
    await store.set("e1", sess({ userId: "dave" }));
    expect(await store.get("e1")).toBeNull();
    expect(await store.countUserSessions("dave")).toBe(1);
    // except as an array, and everything.
    await store.set("e5", sess({ userId: "dave" }));
    expect(await store.destroyUserSessions("dave", { except: ["e5", "unknown"] })).toBe(1);
    expect((await store.listUserSessions("dave")).map((s) => s.id)).toEqual(["e5"]);
    expect(await store.destroyUserSessions("dave")).toBe(1);
    expect(await store.countUserSessions("dave")).toBe(0);
    expect(await store.countUserSessions("erin")).toBe(1);
  });

  test("destroyUserSessions counts the sessions that still existed, and tombstones and unlinks every one it names", async () => {
    const store = newStore();
    const sids = ["g1", "g2", "g3"];
    await Promise.all(sids.map((sid) => store.set(sid, sess({ userId: "gone" }))));
    const prefix = store.options.indexPrefix;
    // g2's value vanishes behind the store's back (evicted): its meta key and index entry are left.
    await h.command(["DEL", key(store, "g2")]);
    const destroyed: string[] = [];
    store.on("destroyed", (event: { id: string }) => destroyed.push(event.id));
    expect(await store.destroyUserSessions("gone", { reason: "password-changed" })).toBe(2);
    expect(sorted(destroyed)).toEqual(["g1", "g3"]);
    expect(await h.command(["EXISTS", `${prefix}user:gone`])).toBe(0);
    for (const sid of sids) {
      const meta = (await h.keys(`${prefix}s:*${sid}`))[0] as string;
      expect(String(await h.command(["GET", meta]))).toMatch(/^D\d+:password-changed$/);
      expect(await h.keys(`${prefix}i:*${sid}`)).toEqual([]);
      // A late save of any of them is refused.
      await store.set(sid, sess({ userId: "gone" }));
      expect(await store.get(sid)).toBeNull();
    }
    expect(await store.countUserSessions("gone")).toBe(0);
  });

  test("an owner change moves the session to the new user's list only", async () => {
    const store = newStore();
    await store.set("o1", sess({ userId: "frank" }));
    await store.set("o2", sess({ userId: "frank" }));
    await store.set("o1", sess({ userId: "grace" }));
    expect((await store.listUserSessions("frank")).map((s) => s.id)).toEqual(["o2"]);
    expect((await store.listUserSessions("grace")).map((s) => s.id)).toEqual(["o1"]);
    expect(await store.countUserSessions("frank")).toBe(1);
    // passport's layout is an owner too.
    await store.set("o2", sess({ passport: { user: "grace" } }));
    expect(sorted((await store.listUserSessions("grace")).map((s) => s.id))).toEqual(["o1", "o2"]);
    expect(await store.countUserSessions("frank")).toBe(0);
    // Logging out without destroying (the session becomes anonymous): it leaves every list.
    await store.set("o1", sess({}));
    expect((await store.listUserSessions("grace")).map((s) => s.id)).toEqual(["o2"]);
    expect(await store.get("o1")).not.toBeNull();
    // The entry left in the old owner's index never signs the new owner out.
    await store.set("o3", sess({ userId: "ivan" }));
    await store.set("o3", sess({ userId: "judy" }));
    expect(await store.destroyUserSessions("ivan")).toBe(0);
    expect(((await store.get("o3")) as Sess).userId).toBe("judy");
    expect((await store.listUserSessions("judy")).map((s) => s.id)).toEqual(["o3"]);
  });

  test("a late touch from a request that loaded the session anonymous keeps the new owner's index entry past the session", async () => {
    const store = newStore();
    await store.set("late", sess({ visits: 1 }, 600_000));
    // Signed in meanwhile on the same id (an app that does not regenerate at login), for a shorter life.
    await store.set("late", sess({ userId: "hana" }, 60_000));
    await store.touch("late", sess({ visits: 1 }, 600_000));
    const until = await pexpiretime(key(store, "late"));
    expect(until).toBeGreaterThan(Date.now() + 500_000);
    const entry = (await h.keys(`${store.options.indexPrefix}s:*late`))[0] as string;
    const member = entry.slice(`${store.options.indexPrefix}s:`.length);
    expect(await h.command(["GET", entry])).toBe("uhana");
    expect(await pexpiretime(entry)).toBeGreaterThanOrEqual(until);
    expect(Number(await h.command(["ZSCORE", `${store.options.indexPrefix}user:hana`, member]))).toBeGreaterThanOrEqual(until);
    expect((await store.listUserSessions("hana")).map((s) => s.id)).toEqual(["late"]);
    expect(await store.destroyUserSessions("hana")).toBe(1);
    expect(await store.get("late")).toBeNull();
  });

  test("countActiveUsers / listActiveUsers: distinct users in the window, most recent first", async () => {
    const store = newStore();
    await store.set("x1", sess({ userId: "u1" }));
    await store.set("x1b", sess({ userId: "u1" }));
    const u1Done = Date.now(); // u1's activity is at or before this
    await until(u1Done + 400);
    const t1 = Date.now(); // u2's and 3's activity is at or after this
    await store.set("x2", sess({ userId: "u2" }));
    await nextMs();
    await store.set("x3", sess({ userId: 3 }));
    await store.set("anon", sess());
    expect(await store.countActiveUsers(3600)).toBe(3);
    expect(await store.listActiveUsers(3600)).toEqual(["3", "u2", "u1"]);
    // A window starting 200 ms before t1: after u1's activity, before u2's. Computed right before
    // each call, so it starts at the same instant for the store.
    const window = () => (Date.now() - t1 + 200) / 1000;
    expect(await store.countActiveUsers(window())).toBe(2);
    expect(await store.listActiveUsers(window())).toEqual(["3", "u2"]);
    // touch() is activity.
    await nextMs();
    await waitOutActivityResolution();
    await store.touch("x1", sess({ userId: "u1" }));
    expect(await store.listActiveUsers(window())).toEqual(["u1", "3", "u2"]);
  });

  test("listActiveSessions pages through every active session once, newest first", async () => {
    const store = newStore();
    const sids = Array.from({ length: 23 }, (_, i) => `p${i}`);
    // All at once: many share a millisecond score, which the paging must not lose or repeat.
    await Promise.all(sids.map((sid, i) => store.set(sid, sess({ userId: `pu${i % 4}`, i }))));
    await Promise.all(["p3", "p9", "p15"].map((sid) => store.destroy(sid)));
    const other = newStore();
    await other.set("elsewhere", sess({ userId: "pu0" }));

    const pages = await collect(store.listActiveSessions(3600, { pageSize: 4 }));
    const ids = pages.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(sorted(ids)).toEqual(sorted(sids.filter((sid) => !["p3", "p9", "p15"].includes(sid))));
    for (let i = 1; i < pages.length; i++) {
      expect((pages[i - 1] as { lastActive: Date }).lastActive.getTime()).toBeGreaterThanOrEqual(
        (pages[i] as { lastActive: Date }).lastActive.getTime(),
      );
    }
    for (const page of pages) {
      expect(page.lastActive).toBeInstanceOf(Date);
      expect(page.expiresAt).toBeInstanceOf(Date);
      expect((page.session as Sess).i).toBe(Number(page.id.slice(1)));
    }
    // Page size 1 gives the same sequence; a touched session moves to the front.
    await nextMs();
    await waitOutActivityResolution();
    await store.touch("p20", sess({ userId: "pu0" }));
    const one = await collect(store.listActiveSessions(3600, { pageSize: 1 }));
    expect(one[0]?.id).toBe("p20");
    expect(sorted(one.map((p) => p.id))).toEqual(sorted(ids));
  });

  test("a touch within a second of the last activity moves the expiry but not lastActive", async () => {
    const store = newStore();
    await store.set("r1", sess({ userId: "res" }, 60_000));
    const [first] = await store.listUserSessions("res");
    await nextMs();
    const later = sess({ userId: "res" }, 120_000);
    const began = Date.now();
    await store.touch("r1", later);
    expectExpiry(await pexpiretime(key(store, "r1")), later.cookie.expires as Date, began);
    const [second] = await store.listUserSessions("res");
    expect(second?.lastActive).toEqual(first?.lastActive);
    expectExpiry(second?.expiresAt?.getTime(), later.cookie.expires as Date, began);
    // A set() always records activity; so does a touch a second or more after the last one.
    await waitOutActivityResolution();
    const beforeTouch = Date.now();
    await store.touch("r1", sess({ userId: "res" }, 180_000));
    const [third] = await store.listUserSessions("res");
    expect(third?.lastActive?.getTime()).toBeGreaterThanOrEqual(beforeTouch);
  });

  test("maxSessionsPerUser destroys the least recently active, never the one being saved", async () => {
    const store = newStore({ maxSessionsPerUser: 3 });
    for (const sid of ["m1", "m2", "m3", "m4", "m5"]) {
      await store.set(sid, sess({ userId: "max" }));
      expect(await store.countUserSessions("max")).toBeLessThanOrEqual(3);
      await nextMs();
    }
    expect((await store.listUserSessions("max")).map((s) => s.id)).toEqual(["m5", "m4", "m3"]);
    expect(await store.get("m1")).toBeNull();
    expect(await store.get("m2")).toBeNull();
    // Activity, not creation, decides: m3 is touched, so m4 is now the oldest.
    await waitOutActivityResolution();
    await store.touch("m3", sess({ userId: "max" }));
    await nextMs();
    await store.set("m6", sess({ userId: "max" }));
    expect((await store.listUserSessions("max")).map((s) => s.id)).toEqual(["m6", "m3", "m5"]);
    expect(await store.get("m4")).toBeNull();
    // The limit is per user.
    await store.set("other", sess({ userId: "someone" }));
    expect(await store.countUserSessions("someone")).toBe(1);
    expect(await store.countUserSessions("max")).toBe(3);
  });

  test("an expired session leaves the index by itself (no timers): polled, never slept", async () => {
    const store = newStore();
    await store.set("short", sess({ userId: "exp" }, 300));
    await store.set("long", sess({ userId: "exp" }, 60_000));
    expect(await store.countUserSessions("exp")).toBe(2);
    await waitFor(async () => (await store.countUserSessions("exp")) === 1, 5000, "the 300 ms session to leave the index");
    expect((await store.listUserSessions("exp")).map((s) => s.id)).toEqual(["long"]);
    const entries = (await h.command(
      ["ZRANGE", `${store.options.indexPrefix}user:exp`, "0", "-1"],
      `${store.options.indexPrefix}user:exp`,
    )) as string[];
    expect(entries.map(sidOfMember)).toEqual(["long"]);
    expect(await store.get("short")).toBeNull();
    expect((await collect(store.listActiveSessions(3600))).map((s) => s.id)).toEqual(["long"]);
    expect(await store.ids()).toEqual(["long"]);
  });

  test("session ids with hash-tag braces, glob characters and non-ASCII work everywhere", async () => {
    const store = newStore();
    const sids = ["{a}1", "{a}2", "x{}y", "}{b}", "{", "a*b?[c]", "sé-🙂", "a:b:c"];
    await Promise.all(sids.map((sid, i) => store.set(sid, sess({ userId: "weird", i }))));
    for (const [i, sid] of sids.entries()) expect(((await store.get(sid)) as Sess | null)?.i).toBe(i);
    expect(sorted(await store.ids())).toEqual(sorted(sids));
    expect(sorted((await store.listUserSessions("weird")).map((s) => s.id))).toEqual(sorted(sids));
    await store.touch("{a}1", sess({ userId: "weird", i: 0 }, 120_000));
    expect(await store.destroyUserSessions("weird", { except: "sé-🙂" })).toBe(sids.length - 1);
    expect(await store.ids()).toEqual(["sé-🙂"]);
    await store.destroy("sé-🙂");
    expect(await store.length()).toBe(0);
  });

  test("disableTTL stores without expiry; disableTouch makes touch() a no-op", async () => {
    const noTtl = newStore({ disableTTL: true });
    await noTtl.set("n1", sess({ userId: "nt" }, 1000));
    expect(await pexpiretime(key(noTtl, "n1"))).toBe(-1);
    expect((await noTtl.listUserSessions("nt"))[0]?.expiresAt).toBeNull();

    const noTouch = newStore({ disableTouch: true });
    const s = sess({}, 60_000);
    const began = Date.now();
    await noTouch.set("n2", s);
    await noTouch.touch("n2", sess({}, 600_000));
    expectExpiry(await pexpiretime(key(noTouch, "n2")), s.cookie.expires as Date, began);
  });

  test("userId: false writes nothing but the session keys", async () => {
    const store = newStore({ userId: false });
    await store.set("f1", sess({ userId: "ignored" }));
    await store.touch("f1", sess({ userId: "ignored" }, 120_000));
    await store.set("f2", sess({ userId: "ignored" }));
    await store.destroy("f2");
    expect(await store.get("f1")).not.toBeNull();
    expect(await store.ids()).toEqual(["f1"]);
    expect(await h.keys(`${store.options.indexPrefix}*`)).toEqual([]);
    await store.clear();
    expect(await h.keys(`${store.prefix}*`)).toEqual([]);
  });

  test("tombstone: set() or touch() after destroy() does not revive; tombstoneTtl 0 turns it off", async () => {
    const store = newStore();
    const s = sess({ userId: "tomb" });
    await store.set("z1", s);
    await store.destroy("z1");
    await store.set("z1", s);
    await store.touch("z1", s);
    expect(await store.get("z1")).toBeNull();
    expect(await exists(key(store, "z1"))).toBe(0);
    expect(await store.countUserSessions("tomb")).toBe(0);
    expect(await collect(store.listActiveSessions(3600))).toEqual([]);

    const off = newStore({ tombstoneTtl: 0 });
    await off.set("z2", s);
    await off.destroy("z2");
    await off.set("z2", s);
    expect(await off.get("z2")).toEqual(stored(s));
  });

  test("200 concurrent logins and logouts of one user leave the index equal to the truth", async () => {
    const store = newStore();
    const sids = Array.from({ length: 200 }, (_, i) => `r${i}`);
    const loggedOut = new Set(sids.filter((_, i) => i % 3 === 0));
    // Every login and every logout in flight at once; a logout may even reach Redis before its
    // login (the tombstone then refuses the login): either way a logged-out session is gone.
    await Promise.all(
      sids.flatMap((sid) => [store.set(sid, sess({ userId: "race" })), ...(loggedOut.has(sid) ? [store.destroy(sid)] : [])]),
    );
    // A second wave: re-saves of live sessions racing with more logouts.
    const wave2 = sids.filter((sid, i) => !loggedOut.has(sid) && i % 5 === 0);
    await Promise.all(
      sids.flatMap((sid, i) =>
        loggedOut.has(sid)
          ? []
          : i % 5 === 0
            ? [store.destroy(sid), store.set(sid, sess({ userId: "race" }))]
            : [store.touch(sid, sess({ userId: "race" }))],
      ),
    );
    for (const sid of wave2) loggedOut.add(sid);
    const truth = sids.filter((sid) => !loggedOut.has(sid));

    const gets = await Promise.all(sids.map(async (sid) => [sid, await store.get(sid)] as const));
    expect(sorted(gets.filter(([, v]) => v !== null).map(([sid]) => sid))).toEqual(sorted(truth));
    expect(sorted((await store.listUserSessions("race")).map((s) => s.id))).toEqual(sorted(truth));
    expect(await store.countUserSessions("race")).toBe(truth.length);
    // The raw index converges too (listing heals stale entries).
    expect(Number(await h.command(["ZCARD", `${store.options.indexPrefix}user:race`]))).toBe(truth.length);
    expect(await store.destroyUserSessions("race")).toBe(truth.length);
    expect(await store.listUserSessions("race")).toEqual([]);
  });

  test("revocation(sid): the tombstone's reason and time, for each way a session is signed out", async () => {
    const store = newStore({ maxSessionsPerUser: 1 });
    expect(await store.revocation("nobody")).toBeNull();
    await store.set("r1", sess({ userId: "rv" }));
    expect(await store.revocation("r1")).toBeNull();
    const before = Date.now();
    await store.destroy("r1");
    const logout = await store.revocation("r1");
    expect(logout?.reason).toBe("logout");
    expect(logout?.at.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(logout?.at.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    await store.set("r2", sess({ userId: "rw" }));
    await store.destroyUserSessions("rw", { reason: "password-changed" });
    expect((await store.revocation("r2"))?.reason).toBe("password-changed");
    await store.set("r3", sess({ userId: "rx" }));
    await store.destroyUserSessions("rx");
    expect((await store.revocation("r3"))?.reason).toBe("signed-out-elsewhere");
    await store.set("r4", sess({ userId: "ry" }));
    await waitOutActivityResolution();
    await store.set("r5", sess({ userId: "ry" }));
    expect((await store.revocation("r4"))?.reason).toBe("device-limit");
    await store.clear();
    expect((await store.revocation("r5"))?.reason).toBe("clear");
  });

  test("audit events: created, destroyed (with its reason) and evicted, for the writes the store makes", async () => {
    const store = newStore({ maxSessionsPerUser: 1 });
    const events: [string, unknown][] = [];
    for (const type of ["created", "destroyed", "evicted"] as const) store.on(type, (event) => events.push([type, event]));
    await store.set("a1", sess({ userId: "au" }));
    await store.set("a1", sess({ userId: "au", again: true })); // a save of an existing session creates nothing
    await waitOutActivityResolution();
    await store.set("a2", sess({ userId: "au" })); // over the limit: a1 goes
    await store.destroy("a2");
    await store.set("a3", sess({ userId: "av" }));
    await store.destroyUserSessions("av", { reason: "password-changed" });
    await store.set("a4", sess({ userId: "aw" }));
    await store.clear();
    expect(events).toEqual([
      ["created", { id: "a1", userId: "au" }],
      ["created", { id: "a2", userId: "au" }],
      ["destroyed", { id: "a1", userId: "au", reason: "device-limit" }],
      ["evicted", { id: "a1", userId: "au" }],
      ["destroyed", { id: "a2", userId: "au", reason: "logout" }],
      ["created", { id: "a3", userId: "av" }],
      ["destroyed", { id: "a3", userId: "av", reason: "password-changed" }],
      ["created", { id: "a4", userId: "aw" }],
      ["destroyed", { id: "a4", userId: "aw", reason: "clear" }],
    ]);
  });

  // ---- session fields --------------------------------------------------------------------------

  test("fields: set/get/getMany/setMany/delete/increment/all, JSON values, never part of get()", async () => {
    const store = newStore();
    const s = sess({ userId: "fa" });
    await store.set("f1", s);
    const fields = store.fields("f1");
    await fields.set("cart", [{ sku: "a", n: 1 }]);
    await fields.setMany({ csrf: "t1", theme: { dark: true }, count: 2 });
    expect(await fields.get("cart")).toEqual([{ sku: "a", n: 1 }]);
    expect(await fields.getMany(["csrf", "missing", "theme"])).toEqual(["t1", undefined, { dark: true }]);
    expect(await fields.increment("count")).toBe(3);
    expect(await fields.increment("count", -5)).toBe(-2);
    expect(await fields.increment("fresh", 7)).toBe(7);
    await fields.delete("csrf", "nothing-there");
    expect({ ...(await fields.all()) }).toEqual({ cart: [{ sku: "a", n: 1 }], theme: { dark: true }, count: -2, fresh: 7 });
    expect(await store.get("f1")).toEqual(stored(s)); // the session value never carries them
    await expect(fields.increment("theme")).rejects.toBeInstanceOf(SessionFieldsError);
    // The fields key is in the session's slot: on Cluster every call above ran on one node, with no CROSSSLOT.
    const [fieldsKey] = await h.keys(`${store.options.indexPrefix}f:*f1`);
    expect(fieldsKey).toBeDefined();
  });

  test("fields live and die with their session: gone means nothing to read and no write; every destroy removes them", async () => {
    const store = newStore({ maxSessionsPerUser: 1 });
    const fieldsKeyOf = async (sid: string) => h.keys(`${store.options.indexPrefix}f:*${sid}`);
    // Never saved: reads find nothing, writes say to save first, nothing is written.
    expect(await store.fields("never").get("a")).toBeUndefined();
    expect(await store.fields("never").all()).toEqual({});
    await expect(store.fields("never").set("a", 1)).rejects.toThrow(/save the session before writing its fields/);
    await expect(store.fields("never").increment("a")).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(await fieldsKeyOf("never")).toEqual([]);
    // destroy(): gone, and a late field write is refused (tombstone), as a late save is.
    await store.set("d1", sess({ userId: "fd" }));
    await store.fields("d1").set("a", 1);
    await store.destroy("d1");
    expect(await fieldsKeyOf("d1")).toEqual([]);
    await expect(store.fields("d1").set("a", 2)).rejects.toBeInstanceOf(SessionNotFoundError);
    expect(await fieldsKeyOf("d1")).toEqual([]);
    // destroyUserSessions() and the device limit.
    await store.set("d2", sess({ userId: "fe" }));
    await store.fields("d2").set("a", 1);
    expect(await store.destroyUserSessions("fe")).toBe(1);
    expect(await fieldsKeyOf("d2")).toEqual([]);
    await store.set("d3", sess({ userId: "ff" }));
    await store.fields("d3").set("a", 1);
    await waitOutActivityResolution();
    await store.set("d4", sess({ userId: "ff" })); // evicts d3 (maxSessionsPerUser: 1)
    expect(await store.get("d3")).toBeNull();
    expect(await fieldsKeyOf("d3")).toEqual([]);
    // clear(): signed-in and anonymous sessions' fields alike.
    await store.set("d5", sess());
    await store.fields("d5").set("a", 1);
    await store.fields("d4").set("a", 1);
    await store.clear();
    expect(await h.keys(`${store.options.indexPrefix}f:*`)).toEqual([]);
  });

  test("fields outlive their session by a bounded slack: saves and touches move their expiry with the session's", async () => {
    const store = newStore({ touchAfter: 0 });
    await store.set("e1", sess({ userId: "fg" }, 60_000));
    await store.fields("e1").set("a", 1);
    const fieldsKey = (await h.keys(`${store.options.indexPrefix}f:*e1`))[0] as string;
    const within = async () => {
      const session = await pexpiretime(key(store, "e1"));
      const fields = await pexpiretime(fieldsKey);
      expect(fields).toBeGreaterThanOrEqual(session);
      expect(fields).toBeLessThanOrEqual(session + FIELDS_SLACK_MS);
    };
    await within();
    await store.touch("e1", sess({ userId: "fg" }, 600_000)); // far past the fields' expiry
    await within();
    await store.set("e1", sess({ userId: "fg" }, 3_600_000));
    await within();
    expect(await store.fields("e1").get("a")).toBe(1);
  });

  test("fields limits: count, value size, names; hostile names and values round-trip", async () => {
    const store = newStore({ maxFields: 3, maxFieldSize: 100 });
    await store.set("l1", sess());
    const fields = store.fields("l1");
    await fields.setMany({ a: 1, b: 2, c: 3 });
    await expect(fields.set("d", 4)).rejects.toThrow(/would hold 4 fields, over maxFields \(3\)/);
    await fields.set("a", 10); // replacing one is no new field
    await expect(fields.set("a", "x".repeat(200))).rejects.toThrow(/over maxFieldSize \(100\)/);
    await expect(fields.set("", 1)).rejects.toThrow(TypeError);
    await expect(fields.set("u", undefined)).rejects.toThrow(/cannot be written as JSON/);
    expect(await fields.get("a")).toBe(10);
    const hostile = newStore();
    await hostile.set("h1", sess());
    const names = ["*", "{tag}", "a:b", "ünï-🔑", "\r\n", "D"];
    for (const [i, name] of names.entries()) await hostile.fields("h1").set(name, { i, text: '"}{\\' });
    expect(await hostile.fields("h1").getMany(names)).toEqual(names.map((_, i) => ({ i, text: '"}{\\' })));
  });

  test("Redis recorded no CROSSSLOT (or any other failed command) on any node", async () => {
    const unexpected: string[] = [];
    for (const port of serverPorts(server, topology)) {
      const errors = parseInfo(await cli(port, ["INFO", "errorstats"]));
      const count = (type: string) => Number(/count=(\d+)/.exec(errors.get(`errorstat_${type}`) ?? "")?.[1] ?? 0);
      expect(`${port} CROSSSLOT ${count("CROSSSLOT")}`).toBe(`${port} CROSSSLOT 0`);
      for (const [field, value] of parseInfo(await cli(port, ["INFO", "commandstats"]))) {
        const command = field.replace(/^cmdstat_/, "");
        const failed = Number(/failed_calls=(\d+)/.exec(value)?.[1] ?? 0) + Number(/rejected_calls=(\d+)/.exec(value)?.[1] ?? 0);
        if (failed === 0) continue;
        // node-redis's connection handshake sends CLIENT SETINFO, which Redis 7.0 does not know.
        if (command === "client|setinfo") continue;
        // EVALSHA fails with NOSCRIPT the first time a script meets a node; the store then sends EVAL.
        if (command === "evalsha" && failed <= count("NOSCRIPT")) continue;
        unexpected.push(`${port} ${command}: ${value}`);
      }
      // On failure, show which errors Redis replied (errorstats) next to the failed commands.
      if (unexpected.some((line) => line.startsWith(`${port} `))) {
        for (const [field, value] of errors) unexpected.push(`${port} ${field}: ${value}`);
      }
    }
    expect(unexpected).toEqual([]);
  });
});
