/**
 * Workload 4, end to end: express 5 + express-session apps in child processes (e2e-app.ts), 1 and
 * then 4 of them, every contestant on the same private Redis. Per round and contestant: FLUSHALL,
 * 500 users sign in (one session cookie each), then autocannon (in this process, to 127.0.0.1
 * only) sends a fixed number of requests over 32 connections spread evenly over the app processes:
 * 9 in 10 read the session (GET /me), 1 in 10 changes it (POST /visit). What Redis did in that
 * phase comes from INFO commandstats before and after it, counted as redis-stats.ts explains; every
 * response is checked (e2e-harness.ts). Contestants alternate; medians of rounds, ratios per round
 * against connect-redis.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { log, table } from "./common.js";
import { CONTESTANTS, type Contestant } from "./e2e-app.js";
import { COST_LEGEND, costCells, costHeader, type Run, runRounds, startApps, stopApps, USERS } from "./e2e-harness.js";
import type { RedisClient } from "./stores.js";

const here = dirname(fileURLToPath(import.meta.url));

const NAMES: Record<Contestant, string> = {
  "connect-redis": "connect-redis 10 (baseline)",
  ours: "ours, defaults (index on)",
  "ours-devices": "ours, deviceTracker() on",
  "ours-encrypted": "ours, encryption on (AES-256-GCM)",
  "ours-touch60": "ours, touchAfter: 60",
  raw: "raw node-redis (GET/SET PX/PEXPIRE/DEL)",
  "ours-ioredis": "ours on ioredis 5, defaults",
  "raw-ioredis": "raw ioredis 5 (GET/SET PX/PEXPIRE/DEL)",
};

export interface EndToEndConfig {
  url: string;
  admin: RedisClient;
  requests: number;
  connections: number;
  rounds: number;
  processes: readonly number[];
}

export async function endToEnd(config: EndToEndConfig): Promise<string> {
  const { url, admin, requests, connections, rounds, processes } = config;
  const header = ["store", ...costHeader("connect-redis")];
  const parts = [
    `### 4. End to end (express 5 + express-session in child processes; autocannon in-process: ${requests.toLocaleString("en")} requests per run, 90% GET /me + 10% POST /visit, ${connections} connections, ${USERS} signed-in users; median of ${rounds} rounds)`,
  ];
  for (const count of processes) {
    const apps = await startApps(join(here, "e2e-app.ts"), count, url);
    let runs: Map<string, Run[]>;
    log(`end to end, ${count} app process(es): 1 warm-up + ${rounds} rounds of ${requests} requests, ${connections} connections`);
    try {
      runs = await runRounds({ apps, keys: CONTESTANTS, admin, requests, connections, rounds, label: `${count} app(s)` });
    } finally {
      await stopApps(apps);
      await admin.flushAll();
    }
    const base = runs.get("connect-redis") as Run[];
    const rows = CONTESTANTS.map((key) => [NAMES[key], ...costCells(runs.get(key) as Run[], base)]);
    const mixes = CONTESTANTS.map((key) => `- ${NAMES[key]}: ${runs.get(key)?.at(-1)?.mix ?? "n/a"}`);
    parts.push(
      "",
      `#### ${count} app process${count > 1 ? "es" : ""}`,
      "",
      table(header, rows),
      "",
      "Commands per request in the last round:",
      "",
      ...mixes,
    );
  }
  parts.push("", COST_LEGEND);
  return parts.join("\n");
}
