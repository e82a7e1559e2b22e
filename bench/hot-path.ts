/**
 * Workload 1, the hot path: set, get, touch and destroy of N realistic sessions with 64 calls in
 * flight, every contestant in this one process on one shared node-redis client, in alternating
 * order, round after round. Each contestant-round starts on an empty Redis (FLUSHALL) with fresh
 * session ids. Reported: median ops/s per call and the median of the per-round ratios to raw
 * node-redis measured in the same round.
 */

import type { SessionData } from "express-session";
import type { Redis } from "ioredis";
import { DAY_MS, fmtRate, fmtRatio, log, makeSession, makeSid, median, rotate, runConcurrent, settle, table, timed } from "./common.js";
import { asHotPath, connectRedis, type HotPathStore, ours, type RedisClient, rawIoredisStore, rawStore } from "./stores.js";

/**
 * Timed separately: the first set() of each session (it creates it) and the repeats (a resave), the
 * first touch() (a new expiry) and the repeats (the same expiry again), get() and destroy().
 */
const OPS = ["setNew", "setAgain", "get", "touchNew", "touchAgain", "destroy"] as const;
type Op = (typeof OPS)[number];
/** Passes of set, get and touch over the N sessions per round (destroy: one), to lengthen the timed windows. */
const PASSES = 3;
const CALLS: Record<Op, number> = { setNew: 1, setAgain: PASSES - 1, get: PASSES, touchNew: 1, touchAgain: PASSES - 1, destroy: 1 };
const LABELS: Record<Op, string> = {
  setNew: "set (new)",
  setAgain: "set (again)",
  get: "get",
  touchNew: "touch (new expiry)",
  touchAgain: "touch (same expiry)",
  destroy: "destroy",
};

export interface HotPathConfig {
  client: RedisClient;
  /** An ioredis 5 client on the same Redis, for the ioredis rows. */
  ioredis: Redis;
  admin: RedisClient;
  sessions: number;
  inFlight: number;
  rounds: number;
}

interface RoundResult {
  ms: Record<Op, number>;
  misses: number;
}

/**
 * One contestant-round: set, get and touch each pass over all N sessions PASSES times (the first
 * set creates them, the next ones overwrite, as a resave does), then destroy each once.
 */
async function runRound(store: HotPathStore, admin: RedisClient, sessions: SessionData[], inFlight: number): Promise<RoundResult> {
  await admin.flushAll();
  const sids = sessions.map(() => makeSid());
  const n = sids.length;
  await settle();
  const ms = {} as Record<Op, number>;
  ms.setNew = await timed(() => runConcurrent(n, inFlight, (i) => store.set(sids[i] as string, sessions[i] as SessionData)));
  ms.setAgain = await timed(() =>
    runConcurrent(n * (PASSES - 1), inFlight, (i) => store.set(sids[i % n] as string, sessions[i % n] as SessionData)),
  );
  let misses = 0;
  ms.get = await timed(() =>
    runConcurrent(n * PASSES, inFlight, async (i) => {
      if (!(await store.get(sids[i % n] as string))) misses++;
    }),
  );
  // express-session touches with the cookie's expiry moved to now + maxAge.
  const now = Date.now();
  const touched = sessions.map(
    (s) => ({ ...s, cookie: { ...(s.cookie as object), expires: new Date(now + DAY_MS).toISOString() } }) as unknown as SessionData,
  );
  ms.touchNew = await timed(() => runConcurrent(n, inFlight, (i) => store.touch(sids[i] as string, touched[i] as SessionData)));
  ms.touchAgain = await timed(() =>
    runConcurrent(n * (PASSES - 1), inFlight, (i) => store.touch(sids[i % n] as string, touched[i % n] as SessionData)),
  );
  ms.destroy = await timed(() => runConcurrent(n, inFlight, (i) => store.destroy(sids[i] as string)));
  return { ms, misses };
}

export async function hotPath(config: HotPathConfig): Promise<string> {
  const { client, ioredis, admin, sessions: n, inFlight, rounds } = config;
  const contestants: { key: string; store: HotPathStore }[] = [
    { key: "raw", store: rawStore(client) },
    { key: "connect-redis", store: asHotPath("connect-redis 10", connectRedis(client)) },
    { key: "ours", store: asHotPath("ours, userId index on (default)", ours(client)) },
    { key: "ours-noindex", store: asHotPath("ours, userId: false", ours(client, { userId: false })) },
    { key: "ours-touchafter", store: asHotPath("ours, touchAfter: 3600", ours(client, { touchAfter: 3600 })) },
    { key: "raw-ioredis", store: rawIoredisStore(ioredis) },
    { key: "ours-ioredis", store: asHotPath("ours on ioredis 5, index on", ours(ioredis)) },
  ];
  // 5 sessions per user, as in the per-user workload.
  const sessions = Array.from({ length: n }, (_, i) => makeSession(`user-${Math.floor(i / 5)}`) as unknown as SessionData);

  const results = new Map<string, RoundResult[]>(contestants.map((c) => [c.key, []]));
  log(`hot path: ${n} sessions, ${inFlight} in flight, 1 warm-up round + ${rounds} rounds x ${contestants.length} contestants`);
  for (let round = -1; round < rounds; round++) {
    for (const c of rotate(contestants, round + 1)) {
      const result = await runRound(c.store, admin, sessions, inFlight);
      if (round >= 0) results.get(c.key)?.push(result);
    }
  }
  await admin.flushAll();

  const raw = results.get("raw") as RoundResult[];
  const total = (r: RoundResult) => OPS.reduce((sum, op) => sum + r.ms[op], 0);
  const rows = contestants.map((c) => {
    const mine = results.get(c.key) as RoundResult[];
    const cell = (ms: (r: RoundResult) => number, ops: number) => {
      const rate = median(mine.map((r) => (ops / ms(r)) * 1000));
      const ratio = median(mine.map((r, i) => ms(raw[i] as RoundResult) / ms(r)));
      return { text: `${fmtRatio(ratio)} (${fmtRate(rate)})`, ratio };
    };
    const perOp = OPS.map((op) => cell((r) => r.ms[op], n * CALLS[op]));
    const all = cell(
      total,
      OPS.reduce((sum, op) => sum + n * CALLS[op], 0),
    );
    const misses = mine.reduce((sum, r) => sum + r.misses, 0);
    const note = c.key === "raw" ? "ceiling" : misses ? `**${misses} get() returned no session**` : "";
    return [c.store.name, ...perOp.map((p) => p.text), all.text, note];
  });
  return [
    `### 1. Hot path (${n.toLocaleString("en")} sessions of ~${JSON.stringify(sessions[0]).length} B, ${inFlight} in flight, median of ${rounds} rounds)`,
    "",
    `Per round: ${PASSES} passes of set, get and touch over the ${n.toLocaleString("en")} sessions, then one destroy of each; 1 warm-up round. ` +
      "The first set of a session creates it, the next ones resave it; the first touch moves the expiry to a new date, the next ones repeat that date. " +
      "Cells: median of the per-round ratios to raw node-redis (higher is better), median ops/s in brackets. " +
      "Raw does the same JSON work as the stores.",
    "",
    table(["contestant", ...OPS.map((op) => LABELS[op]), "all calls", "note"], rows),
  ].join("\n");
}
