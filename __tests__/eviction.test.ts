/**
 * Eviction: a private Redis per policy (--maxmemory and --maxmemory-policy), 200 signed-in
 * sessions kept hot by a load of reads (express-session's lazy touches), while the application's
 * other data (cache entries with a TTL) forces Redis to evict. Then a late save of logged-out
 * sessions and a "sign out everywhere" for every user. LRU eviction samples keys, so each policy
 * runs several times over many sessions, and the figures are printed for the docs. On a single
 * Redis and on Cluster (there, each master evicts its own keys).
 */
import { afterAll, describe, expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import { createClient } from "redis";
import { RedisStore } from "../lib/index";
import { makeClient } from "./helpers/clients";
import { cli, startCluster } from "./helpers/cluster";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

jest.setTimeout(120000);

type Sess = SessionData & { userId?: string; pad?: string };
type Loaded = Sess & { resetMaxAge(): void };

const USERS = 20;
const PER_USER = 10;
const LOGGED_OUT_PER_USER = 2;
const ROUNDS = Number(process.env.EVICTION_ROUNDS ?? 4);
const CACHE_PER_ROUND = Number(process.env.EVICTION_CACHE ?? 300);
const LRU_TICK_MS = 1100;
const LIFETIME = 3_600_000;
const CACHE_TTL = Number(process.env.EVICTION_CACHE_TTL ?? 1800);
// A Cluster node starts at about 1.9 MB (a single Redis at about 0.9 MB) and holds a third of the data.
const CLUSTER_MAXMEMORY = process.env.EVICTION_CLUSTER_MAXMEMORY ?? "4mb";
const RUNS = Number(process.env.EVICTION_RUNS ?? 3);
const CLUSTER_RUNS = Number(process.env.EVICTION_CLUSTER_RUNS ?? 2);

function sess(extra: Record<string, unknown>): Sess {
  return {
    cookie: { originalMaxAge: LIFETIME, expires: new Date(Date.now() + LIFETIME), httpOnly: true, path: "/" },
    ...extra,
  } as unknown as Sess;
}

async function inChunks<T>(items: readonly T[], fn: (item: T) => Promise<unknown>, size = 50): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

interface Figures {
  policy: string;
  evicted: number;
  /** Logged-out sessions a late save of the loaded session brought back (express-session). */
  revivedLoaded: number;
  /** Logged-out sessions a late plain set() brought back (a framework without createSession). */
  revivedPlain: number;
  loggedOutEach: number;
  /** Active sessions still in Redis before "sign out everywhere". */
  active: number;
  /** Of those, how many "sign out everywhere" removed. */
  reached: number;
}

const servers: RedisServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop().then(() => removeDir(s))));
});

/** What a run needs of its Redis: a client for the store, and a few direct commands. */
interface Target {
  client: unknown;
  command(args: string[]): Promise<unknown>;
  /** Keys evicted so far, on every master. */
  evicted(): Promise<number>;
  close(): Promise<void>;
}

/** A fresh private single Redis with `policy`. */
async function singleTarget(policy: string): Promise<Target> {
  const server = await startRedis({ args: ["--maxmemory", "3mb", "--maxmemory-policy", policy] });
  servers.push(server);
  const client = createClient({ url: server.url });
  await client.connect();
  return {
    client,
    command: (args) => client.sendCommand(args),
    evicted: async () => Number(/evicted_keys:(\d+)/.exec(await client.info("stats"))?.[1]),
    close: async () => client.destroy(),
  };
}

/** A fresh private Cluster (3 masters + 3 replicas) with `policy` and the memory limit on every node. */
async function clusterTarget(policy: string): Promise<Target> {
  const cluster = await startCluster({ args: ["--maxmemory", CLUSTER_MAXMEMORY, "--maxmemory-policy", policy] });
  const handle = await makeClient(6, "cluster", cluster);
  return {
    client: handle.client,
    command: (args) => handle.command(args),
    evicted: async () => {
      let total = 0;
      for (const master of cluster.masters) total += Number(/evicted_keys:(\d+)/.exec(await cli(master.port, ["INFO", "stats"]))?.[1]);
      return total;
    },
    close: async () => {
      await handle.close();
      await cluster.stop();
    },
  };
}

/** One run of the scenario on a fresh private server with `policy`. */
async function measure(
  policy: string,
  run: number,
  touchAfter: number | "auto" = "auto",
  start: (policy: string) => Promise<Target> = singleTarget,
): Promise<Figures> {
  const target = await start(policy);
  const client = target.client as ReturnType<typeof createClient>;
  try {
    const store = new RedisStore({ client, prefix: `evict-${run}:`, touchAfter });
    const users = Array.from({ length: USERS }, (_, u) => `user${u}`);
    const sids = users.flatMap((user) =>
      Array.from({ length: PER_USER }, (_, i) => ({ sid: `${user}-${i}`, user, out: i < LOGGED_OUT_PER_USER })),
    );
    // Sign-ins.
    await inChunks(sids, ({ sid, user }) => store.set(sid, sess({ userId: user, pad: "p".repeat(1000) })));
    // Requests that load every session (express-session builds each through createSession).
    const loaded = new Map<string, Loaded>();
    await inChunks(sids, async ({ sid }) => {
      const data = (await store.get(sid)) as Sess;
      loaded.set(sid, store.createSession({ sessionID: sid } as never, data) as unknown as Loaded);
    });
    // Some log out while those requests are still running.
    const out = sids.filter((s) => s.out);
    const active = sids.filter((s) => !s.out);
    await inChunks(out, ({ sid }) => store.destroy(sid));
    // The load: every active session read each round (its lazy touch skipped), and other data written.
    let cache = 0;
    const chunks = Math.ceil(active.length / 20);
    for (let round = 0; round < ROUNDS; round++) {
      // Redis's LRU clock ticks once a second: each round spans a tick, so "recently used" means something.
      const roundEnds = Date.now() + LRU_TICK_MS;
      for (let c = 0; c < chunks; c++) {
        await inChunks(active.slice(c * 20, (c + 1) * 20), async ({ sid }) => {
          const data = await store.get(sid);
          if (!data) return; // evicted: that user is signed out
          const session = store.createSession({ sessionID: sid } as never, data) as unknown as Loaded;
          session.resetMaxAge();
          await store.touch(sid, session);
        });
        await inChunks(
          Array.from({ length: Math.ceil(CACHE_PER_ROUND / chunks) }, () => cache++),
          (n) => target.command(["SET", `cache:${n}`, "c".repeat(2000), "EX", String(CACHE_TTL)]),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, roundEnds - Date.now())));
    }
    // Late saves of the logged-out sessions: half through the loaded session, half as a plain set().
    const late = out.map((s, i) => ({ ...s, viaLoaded: i % 2 === 0 }));
    await inChunks(late, async ({ sid, user, viaLoaded }) => {
      const session = viaLoaded ? (loaded.get(sid) as Loaded) : sess({ userId: user, pad: "late" });
      await store.set(sid, session).catch(() => undefined);
    });
    const exists = async (sid: string) => Number(await target.command(["EXISTS", `evict-${run}:${sid}`])) === 1;
    let revivedLoaded = 0;
    let revivedPlain = 0;
    for (const { sid, viaLoaded } of late) if (await exists(sid)) viaLoaded ? revivedLoaded++ : revivedPlain++;
    // Sign out everywhere, for every user.
    const alive: string[] = [];
    for (const { sid } of active) if (await exists(sid)) alive.push(sid);
    for (const user of users) await store.destroyUserSessions(user);
    let left = 0;
    for (const sid of alive) if (await exists(sid)) left++;
    const evicted = await target.evicted();
    return {
      policy,
      evicted,
      revivedLoaded,
      revivedPlain,
      loggedOutEach: late.length / 2,
      active: alive.length,
      reached: alive.length - left,
    };
  } finally {
    await target.close();
  }
}

/** Every eviction warning the store emitted in this file (it warns once per process). */
function evictionWarnings(spy: jest.SpiedFunction<typeof process.emitWarning>): string[] {
  return spy.mock.calls
    .filter(([, options]) => (options as { code?: string } | undefined)?.code === "REDIS_SESSION_STORE_EVICTION")
    .map(([message]) => String(message));
}

async function runs(
  policy: string,
  touchAfter: number | "auto",
  start: (policy: string) => Promise<Target> = singleTarget,
  count = RUNS,
): Promise<Figures[]> {
  const all: Figures[] = [];
  for (let run = 0; run < count; run++) all.push(await measure(policy, run, touchAfter, start));
  const sum = (field: keyof Figures) => all.reduce((total, f) => total + Number(f[field]), 0);
  console.log(
    `${start === singleTarget ? "single Redis" : "Cluster"}, ${policy}, touchAfter ${touchAfter}, ${count} runs: revived by a late save of the loaded session ${sum("revivedLoaded")} of ${sum("loggedOutEach")}, by a plain set() ${sum("revivedPlain")} of ${sum("loggedOutEach")}; sign out everywhere reached ${sum("reached")} of ${sum("active")} sessions in use; ${sum("evicted")} keys evicted. ${JSON.stringify(all)}`,
  );
  for (const f of all) {
    expect(f.evicted).toBeGreaterThan(0);
    // express-session: a late save of a loaded session only updates, so nothing comes back under any policy.
    expect(f.revivedLoaded).toBe(0);
  }
  return all;
}

const spy = jest.spyOn(process, "emitWarning");
afterAll(() => spy.mockRestore());

describe("volatile-ttl: both goals hold", () => {
  test(`${RUNS} runs: a late save revives none, sign out everywhere reaches every session in use; no warning`, async () => {
    for (const f of await runs("volatile-ttl", "auto")) {
      expect(f.active).toBeGreaterThan(0);
      expect(f.reached).toBe(f.active);
    }
    expect(evictionWarnings(spy)).toEqual([]);
  });
});

describe("noeviction", () => {
  test("no warning", async () => {
    const server = await startRedis({ args: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"] });
    servers.push(server);
    const client = createClient({ url: server.url });
    await client.connect();
    try {
      await new RedisStore({ client, prefix: "noevict:" }).set("s", sess({ userId: "u" }));
      expect(evictionWarnings(spy)).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});

describe.each(["volatile-lru", "allkeys-lru"])("%s: hot sessions keep, what covers them goes", (policy) => {
  test(`${RUNS} runs: a late save revives none; the store warns once (REDIS_SESSION_STORE_EVICTION) naming the policy`, async () => {
    await runs(policy, "auto");
    const warnings = evictionWarnings(spy);
    // Once per process: the first LRU store warned.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("volatile-lru");
    expect(warnings[0]).toContain("volatile-ttl");
  });

  test(`${RUNS} runs with touchAfter: 0 (every request's touch keeps the owner record and index warm)`, async () => {
    const all = await runs(policy, 0);
    const reached = all.reduce((total, f) => total + f.reached, 0);
    const active = all.reduce((total, f) => total + f.active, 0);
    expect(reached).toBeGreaterThan(active * 0.8);
  });
});

describe.each(["volatile-ttl", "volatile-lru"])("Cluster, %s", (policy) => {
  test(`${CLUSTER_RUNS} runs: a late save of a loaded session revives none${policy === "volatile-ttl" ? "; sign out everywhere reaches every session in use" : ""}`, async () => {
    for (const f of await runs(policy, "auto", clusterTarget, CLUSTER_RUNS)) {
      if (policy !== "volatile-ttl") continue;
      expect(f.active).toBeGreaterThan(0);
      expect(f.reached).toBe(f.active);
    }
  });
});
