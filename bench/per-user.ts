/**
 * Workload 3, per-user: 2,000 users x 5 sessions created through each contestant's native API, then
 * list one user's sessions, count active users, and kill one user's sessions, at two store sizes
 * (the rest of the sessions belong to other users, 5 each, created the same way before the
 * measurement). All three contestants keep their data side by side in the one Redis, each under its
 * own namespace, so each sees the same Redis. list, kill and count are timed one call at a time
 * (admin calls are latency-bound), then list and kill again with 64 in flight (what one client
 * sustains: Redis's and the client's work per call, not the round trip); create uses 64 in flight.
 * Contestants alternate; medians of rounds.
 */
import { fmtMs, fmtRate, fmtRatio, log, makeSession, median, rotate, runConcurrent, table } from "./common.js";
import { ACTIVE_WINDOW_S, oursPerUser, type PerUserContestant, redisessPerUser, redisSessionsPerUser } from "./peers.js";
import type { RedisClient } from "./stores.js";

const USERS = 2000;
const PER_USER = 5;
const CREATE_CHUNKS = 5;
const ROUNDS = 5;
const BUDGET_MS = 500; // per call kind, per contestant, per round
const LIST_USERS = 400; // users 0..399: listed every round, never killed
const KILL_POOL_START = 1000; // users 1000..1999: killed one at a time, each once
const KILLS_PER_ROUND = 150; // 20 warm-up + 5 x 150 fit in the pool
const IN_FLIGHT = 64;
const BURST_POOL_START = LIST_USERS; // users 400..999: killed 64 in flight, each once
const BURST_KILLS_PER_ROUND = 100; // 64 warm-up + 5 x 100 fit in the pool
const BURST_LISTS = 1000;

export interface PerUserConfig {
  url: string;
  client: RedisClient;
  admin: RedisClient;
  sizes: number[];
}

type OpName = "create" | "list" | "kill" | "count" | "listBurst" | "killBurst";
const OP_LABEL: Record<OpName, string> = {
  create: `create (${USERS.toLocaleString("en")} users x ${PER_USER}, ${IN_FLIGHT} in flight)`,
  list: "list one user's sessions",
  kill: "kill one user's sessions",
  count: `count active users (last ${ACTIVE_WINDOW_S} s)`,
  listBurst: `list one user's sessions, ${IN_FLIGHT} in flight`,
  killBurst: `kill one user's sessions, ${IN_FLIGHT} in flight`,
};
/** Calls timed one at a time: their table cells give the time per call too. */
const ONE_AT_A_TIME: ReadonlySet<OpName> = new Set(["list", "kill", "count"]);

/** Calls `call` sequentially up to `max` times or until `budgetMs` has passed (at least `min` calls); ops/s. */
async function rate(max: number, budgetMs: number, call: (i: number) => Promise<unknown>, min = 5): Promise<number> {
  const start = performance.now();
  let i = 0;
  while (i < max && (i < min || performance.now() - start < budgetMs)) await call(i++);
  return (i / (performance.now() - start)) * 1000;
}

interface Entry {
  c: PerUserContestant;
  error?: string;
  killNext: number;
  burstNext: number;
  rates: Record<OpName, number[]>;
  notes: Set<string>;
  counted?: number;
}

export async function perUser(config: PerUserConfig): Promise<string> {
  const { url, client, admin, sizes } = config;
  const port = Number(new URL(url).port);
  const data = makeSession("nobody");
  delete (data as { passport?: unknown }).passport;

  const makers: [string, () => Promise<PerUserContestant>][] = [
    ["ours", async () => oursPerUser(client)],
    ["redis-sessions 4", () => redisSessionsPerUser(port)],
    ["redisess 2.6", () => redisessPerUser(port)],
  ];
  const contestants: { name: string; c?: PerUserContestant; error?: string }[] = [];
  for (const [name, make] of makers) {
    try {
      contestants.push({ name, c: await make() });
    } catch (error) {
      contestants.push({ name, error: `could not start: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  const parts = [
    "### 3. Per-user operations (native APIs; ops/s, higher is better)",
    "",
    `${USERS.toLocaleString("en")} measured users x ${PER_USER} sessions; at the larger size the other sessions belong to other users (${PER_USER} each), created the same way. ` +
      `list/kill/count: one call at a time (median time per call in brackets), and list/kill again with ${IN_FLIGHT} calls in flight (what one client sustains), ${ROUNDS} rounds after a warm-up, contestants alternating. ` +
      "redisess's list is getUserSessions() + get() of each session (its list gives ids only); its active-user count is getAllUsers().length (it has no count). " +
      "Ratio: ours / best peer.",
  ];
  const bySize = new Map<number, Map<string, Entry>>();

  // Warm-up (not measured): every call of every contestant on a few users, so JIT and script
  // caches are warm before the first measured size.
  await admin.flushAll();
  for (const { c } of contestants) {
    if (!c) continue;
    await runConcurrent(500, 64, (i) => c.create(`warm-${Math.floor(i / PER_USER)}`, data)).catch(() => undefined);
    for (let i = 0; i < 50; i++) {
      await c.list(`warm-${i}`).catch(() => undefined);
      await c.countActiveUsers().catch(() => undefined);
      await c.killUser(`warm-${50 + i}`).catch(() => undefined);
    }
  }

  for (const size of sizes) {
    const label = size.toLocaleString("en");
    await admin.flushAll();
    const entries = new Map<string, Entry>();
    for (const { name, c, error } of contestants) {
      const e: Entry = {
        c: c as PerUserContestant,
        killNext: KILL_POOL_START,
        burstNext: BURST_POOL_START,
        rates: { create: [], list: [], kill: [], count: [], listBurst: [], killBurst: [] },
        notes: new Set(),
      };
      if (error !== undefined) e.error = error;
      entries.set(name, e);
    }
    const live = () => [...entries.values()].filter((e) => !e.error);
    const guard = async (e: Entry, what: string, fn: () => Promise<void>) => {
      if (e.error) return;
      try {
        await fn();
      } catch (error) {
        e.error = `${what} failed: ${error instanceof Error ? error.message : String(error)}`;
        log(`per-user ${label}: ${e.c.name}: ${e.error}`);
      }
    };

    const filler = Math.max(0, size - USERS * PER_USER);
    if (filler) {
      for (const e of live()) {
        const start = Date.now();
        await guard(e, "filling", () => runConcurrent(filler, 128, (i) => e.c.create(`filler-${Math.floor(i / PER_USER)}`, data)));
        log(
          `per-user ${label}: ${e.c.name} created ${filler.toLocaleString("en")} other sessions in ${((Date.now() - start) / 1000).toFixed(1)} s`,
        );
      }
    }

    // Create the measured users' sessions in chunks, contestants alternating per chunk.
    const chunkUsers = USERS / CREATE_CHUNKS;
    for (let k = 0; k < CREATE_CHUNKS; k++) {
      for (const e of rotate(live(), k)) {
        await guard(e, "create", async () => {
          const calls = chunkUsers * PER_USER;
          const start = performance.now();
          await runConcurrent(calls, 64, (i) => e.c.create(`user-${k * chunkUsers + Math.floor(i / PER_USER)}`, data));
          e.rates.create.push((calls / (performance.now() - start)) * 1000);
        });
      }
    }

    log(`per-user ${label}: ${USERS} users x ${PER_USER} sessions created; measuring`);
    for (let round = -1; round < ROUNDS; round++) {
      const warm = round < 0;
      for (const e of rotate(live(), round + 1)) {
        await guard(e, "list", async () => {
          const r = await rate(warm ? 50 : 2000, BUDGET_MS, async (i) => {
            const n = await e.c.list(`user-${i % LIST_USERS}`);
            if (n !== PER_USER) e.notes.add(`list returned ${n} sessions, expected ${PER_USER}`);
          });
          if (!warm) e.rates.list.push(r);
        });
        await guard(e, "count", async () => {
          const r = await rate(
            warm ? 3 : 2000,
            BUDGET_MS,
            async () => {
              e.counted = await e.c.countActiveUsers();
            },
            3,
          );
          if (!warm) e.rates.count.push(r);
        });
        await guard(e, "kill", async () => {
          const r = await rate(warm ? 20 : KILLS_PER_ROUND, BUDGET_MS, async () => {
            if (e.killNext >= USERS) throw new Error("ran out of users to kill");
            const user = `user-${e.killNext++}`;
            const n = await e.c.killUser(user);
            if (n !== undefined && n !== PER_USER) e.notes.add(`kill reported ${n} sessions, expected ${PER_USER}`);
          });
          if (!warm) e.rates.kill.push(r);
          // Untimed check: the last killed user has no session left.
          const left = await e.c.list(`user-${e.killNext - 1}`);
          if (left) e.notes.add(`a killed user still lists ${left} sessions`);
        });
        // The same calls with many in flight: what the store sustains, not one call's latency.
        await guard(e, "list", async () => {
          const calls = warm ? 200 : BURST_LISTS;
          const start = performance.now();
          await runConcurrent(calls, IN_FLIGHT, async (i) => {
            const n = await e.c.list(`user-${i % LIST_USERS}`);
            if (n !== PER_USER) e.notes.add(`list returned ${n} sessions, expected ${PER_USER}`);
          });
          if (!warm) e.rates.listBurst.push((calls / (performance.now() - start)) * 1000);
        });
        await guard(e, "kill", async () => {
          const calls = warm ? IN_FLIGHT : BURST_KILLS_PER_ROUND;
          const first = e.burstNext;
          if (first + calls > KILL_POOL_START) throw new Error("ran out of users to kill");
          e.burstNext += calls;
          const start = performance.now();
          await runConcurrent(calls, IN_FLIGHT, async (i) => {
            const n = await e.c.killUser(`user-${first + i}`);
            if (n !== undefined && n !== PER_USER) e.notes.add(`kill reported ${n} sessions, expected ${PER_USER}`);
          });
          if (!warm) e.rates.killBurst.push((calls / (performance.now() - start)) * 1000);
          const left = await e.c.list(`user-${first + calls - 1}`);
          if (left) e.notes.add(`a killed user still lists ${left} sessions`);
        });
      }
    }
    bySize.set(size, entries);

    const names = [...entries.keys()];
    const rows = (Object.keys(OP_LABEL) as OpName[]).map((op) => {
      const med = (e: Entry) => (e.error && !e.rates[op].length ? Number.NaN : median(e.rates[op]));
      const cells = names.map((name) => {
        const e = entries.get(name) as Entry;
        const r = med(e);
        if (!Number.isFinite(r)) return e.error ? `**failed**: ${e.error.slice(0, 100)}` : "n/a";
        return ONE_AT_A_TIME.has(op) ? `${fmtRate(r)} (${fmtMs(1000 / r)})` : fmtRate(r);
      });
      const ourRate = med(entries.get("ours") as Entry);
      const peerRates = names
        .filter((n) => n !== "ours")
        .map((n) => med(entries.get(n) as Entry))
        .filter(Number.isFinite);
      const best = peerRates.length ? Math.max(...peerRates) : Number.NaN;
      const ratio = ourRate / best;
      return [OP_LABEL[op], ...cells, fmtRatio(ratio)];
    });
    parts.push("", `#### ${label} sessions in total (per contestant)`, "", table(["call", ...names, "ours / best peer"], rows));
    const notes: string[] = [];
    for (const [name, e] of entries) {
      if (e.counted !== undefined) notes.push(`${name} counted ${e.counted.toLocaleString("en")} active users`);
      for (const note of e.notes) notes.push(`**${name}: ${note}**`);
    }
    parts.push("", `Checks: ${notes.join("; ")}.`);
    log(`per-user ${label}: done`);
  }
  await admin.flushAll();
  for (const { c } of contestants) await c?.close().catch(() => undefined);

  // Flatness: each contestant's rate at the largest size over its rate at the smallest.
  if (sizes.length > 1) {
    const small = bySize.get(sizes[0] as number) as Map<string, Entry>;
    const large = bySize.get(sizes[sizes.length - 1] as number) as Map<string, Entry>;
    const names = [...small.keys()];
    const rows = (Object.keys(OP_LABEL) as OpName[]).map((op) => {
      const cells = names.map((name) =>
        fmtRatio(median((large.get(name) as Entry).rates[op]) / median((small.get(name) as Entry).rates[op])),
      );
      return [OP_LABEL[op], ...cells];
    });
    parts.push(
      "",
      `#### Flatness: ops/s at ${(sizes[sizes.length - 1] as number).toLocaleString("en")} / ops/s at ${(sizes[0] as number).toLocaleString("en")} sessions (1.00x = flat)`,
      "",
      table(["call", ...names], rows),
    );
  }
  return parts.join("\n");
}
