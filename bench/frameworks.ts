/**
 * Workload 5, frameworks end to end: the express workload's shape (e2e-harness.ts: 500 signed-in
 * users, 90% GET /me + 10% POST /visit over 32 connections, every response checked) for Fastify,
 * Koa and React Router apps (frameworks-app.ts, one app process), each with its most used Redis
 * store as the baseline and ours. One private Redis for all; contestants alternate; medians of
 * rounds, ratios per round against the same framework's baseline.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { log, table } from "./common.js";
import { COST_LEGEND, costCells, costHeader, type Run, runRounds, startApps, stopApps, USERS } from "./e2e-harness.js";
import { CONTESTANTS, type Contestant, FRAMEWORKS, type Framework } from "./frameworks-app.js";
import type { RedisClient } from "./stores.js";

const here = dirname(fileURLToPath(import.meta.url));

const TITLES: Record<Framework, string> = {
  fastify: "Fastify 5 + @fastify/session 11 (defaults: `rolling: true`)",
  koa: "Koa 3 + koa-session 7 (defaults: signed cookie, `rolling: false`)",
  "react-router": "React Router 7 data router + createSessionStorage (commits only on a change)",
};

const NAMES: Record<Contestant, string> = {
  "fastify-connect-redis": "connect-redis 10 (baseline)",
  "fastify-ours": "ours, defaults (index on)",
  "koa-redis": "koa-redis 4 on its ioredis 4 (baseline)",
  "koa-ours": "ours via createKoaStore, defaults (index on)",
  "koa-ours-ioredis": "ours via createKoaStore on ioredis 5, defaults",
  "rr-hand-written": "hand-written createSessionStorage on node-redis (baseline)",
  "rr-ours": "ours via createRedisSessionStorage, defaults (index on)",
};

/** What the framework's session layer asks of the store, per request of the workload. */
const CALLS: Record<Framework, string> = {
  fastify: "@fastify/session loads the session on each request and, with `rolling`, saves all of it on each (`set`, never `touch`).",
  koa: "koa-session loads the session on each request and saves it only when it changed (POST /visit); it never touches.",
  "react-router": "getSession reads on each request; commitSession (POST /visit) writes; nothing touches.",
};

export interface FrameworksConfig {
  url: string;
  admin: RedisClient;
  requests: number;
  connections: number;
  rounds: number;
}

export async function frameworks(config: FrameworksConfig): Promise<string> {
  const { url, admin, requests, connections, rounds } = config;
  const parts = [
    `### 5. Frameworks end to end (1 app process, all frameworks' apps in it; autocannon in-process: ${requests.toLocaleString("en")} requests per run, 90% GET /me + 10% POST /visit, ${connections} connections, ${USERS} signed-in users; median of ${rounds} rounds)`,
  ];
  const apps = await startApps(join(here, "frameworks-app.ts"), 1, url);
  let runs: Map<string, Run[]>;
  log(
    `frameworks end to end: 1 warm-up + ${rounds} rounds of ${requests} requests, ${connections} connections, ${CONTESTANTS.length} contestants`,
  );
  try {
    runs = await runRounds({ apps, keys: CONTESTANTS, admin, requests, connections, rounds, label: "frameworks" });
  } finally {
    await stopApps(apps);
    await admin.flushAll();
  }
  for (const [framework, keys] of Object.entries(FRAMEWORKS) as [Framework, readonly Contestant[]][]) {
    const base = runs.get(keys[0] as Contestant) as Run[];
    const rows = keys.map((key) => [NAMES[key], ...costCells(runs.get(key) as Run[], base)]);
    parts.push(
      "",
      `#### ${TITLES[framework]}`,
      "",
      CALLS[framework],
      "",
      table(["store", ...costHeader("baseline")], rows),
      "",
      "Commands per request in the last round:",
      "",
      ...keys.map((key) => `- ${NAMES[key]}: ${runs.get(key)?.at(-1)?.mix ?? "n/a"}`),
    );
  }
  parts.push("", COST_LEGEND);
  return parts.join("\n");
}
