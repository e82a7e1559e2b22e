/**
 * Runs every workload against one private redis-server started here (never a Redis already
 * running on the machine), prints the results as markdown on stdout (progress goes to stderr),
 * writes them to results/latest.md (and, for a full run, to docs/benchmarks.md), and stops the
 * server.
 *
 * Environment:
 *   BENCH_SIZES=100000,1000000   store sizes of the bulk workload; the largest is also the per-user
 *                                workload's large size (BENCH_SIZES=100000 for a quick run)
 *   BENCH_ONLY=hot,bulk,user,e2e,frameworks  run only these workloads
 *   BENCH_ROUNDS=5               measured rounds of the hot path and the end-to-end workloads
 *   BENCH_E2E_REQUESTS=20000     requests per measured run of the end-to-end workloads (express, frameworks)
 *   BENCH_WRITE_DOCS=1           let a partial run (BENCH_ONLY) write docs/benchmarks.md too
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus as listCpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { removeDir, startRedis } from "../__tests__/helpers/redis-server.js";
import { bulk } from "./bulk.js";
import { envInt, envList, log } from "./common.js";
import { endToEnd } from "./e2e.js";
import { frameworks } from "./frameworks.js";
import { hotPath } from "./hot-path.js";
import { perUser } from "./per-user.js";

const here = dirname(fileURLToPath(import.meta.url));
const started = Date.now();
const WORKLOADS = ["hot", "bulk", "user", "e2e", "frameworks"];
const only = new Set((process.env.BENCH_ONLY || WORKLOADS.join(",")).split(",").map((s) => s.trim()));
const unknown = [...only].filter((key) => !WORKLOADS.includes(key));
if (unknown.length) throw new Error(`BENCH_ONLY: unknown workload(s) ${unknown.join(", ")}; known: ${WORKLOADS.join(", ")}`);
const sizes = envList("BENCH_SIZES", [100_000, 1_000_000]);
const rounds = envInt("BENCH_ROUNDS", 5);

const server = await startRedis({ args: ["--enable-debug-command", "local"] });
log(`private redis-server on port ${server.port}`);
const client = createClient({ url: server.url });
const admin = createClient({ url: server.url });
client.on("error", (error) => log(`client error: ${error}`));
admin.on("error", (error) => log(`admin client error: ${error}`));
await Promise.all([client.connect(), admin.connect()]);
const redisVersion = /redis_version:(\S+)/.exec(await admin.info("server"))?.[1] ?? "unknown";

const sections: string[] = [];
const failures: string[] = [];
async function section(key: string, run: () => Promise<string>): Promise<void> {
  if (!only.has(key)) return;
  const start = Date.now();
  try {
    sections.push(await run());
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    failures.push(`${key}: ${text}`);
    sections.push(`### ${key}\n\n**The ${key} workload failed:** \`${String(error instanceof Error ? error.message : error)}\``);
    log(`${key} failed: ${text}`);
  }
  log(`${key} done in ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

try {
  await section("hot", async () => {
    const ioredis = new Redis(server.url);
    ioredis.on("error", (error) => log(`ioredis client error: ${error}`));
    try {
      return await hotPath({ client, ioredis, admin, sessions: 20_000, inFlight: 64, rounds });
    } finally {
      ioredis.disconnect();
    }
  });
  await section("bulk", () => bulk({ url: server.url, admin, sizes, rounds: envInt("BENCH_BULK_ROUNDS", 3) }));
  await section("user", () => perUser({ url: server.url, client, admin, sizes: [...new Set([10_000, Math.max(...sizes)])] }));
  await section("e2e", () =>
    endToEnd({
      url: server.url,
      admin,
      requests: envInt("BENCH_E2E_REQUESTS", 20_000),
      connections: 32,
      rounds: Math.max(3, Math.ceil(rounds / 2)),
      processes: [1, 4],
    }),
  );
  await section("frameworks", () =>
    frameworks({
      url: server.url,
      admin,
      requests: envInt("BENCH_E2E_REQUESTS", 20_000),
      connections: 32,
      rounds: Math.max(3, Math.ceil(rounds / 2)),
    }),
  );
} finally {
  await Promise.allSettled([client.quit(), admin.quit()]);
  await server.stop();
  removeDir(server);
}

const seconds = (Date.now() - started) / 1000;
const cpus = listCpus();
const settings = Object.entries(process.env)
  .filter(([name]) => name.startsWith("BENCH_"))
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, value]) => `${name}=${value} `)
  .join("");
const machine = `${cpus[0]?.model.trim() ?? "unknown CPU"}, ${cpus.length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM; Node ${process.version}; Redis ${redisVersion} (one private redis-server for the whole run)`;
const date = new Date().toISOString().slice(0, 16).replace("T", " ");
const body = sections.join("\n\n");
const report = [`## redis-session-store benchmark (${date} UTC)`, "", `${machine}; wall time ${seconds.toFixed(0)} s`, "", body, ""].join(
  "\n",
);
process.stdout.write(`\n${report}`);
const out = join(here, "results", "latest.md");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, report);
log(`written to ${out}`);

// docs/benchmarks.md is the record of one complete run; partial runs write it only when asked to.
const full = process.env.BENCH_ONLY === undefined || process.env.BENCH_ONLY === "";
if (failures.length) log("a workload failed: docs/benchmarks.md left as it was");
else if (full || process.env.BENCH_WRITE_DOCS === "1") {
  const docs = join(here, "..", "docs", "benchmarks.md");
  mkdirSync(dirname(docs), { recursive: true });
  writeFileSync(
    docs,
    [
      "# Benchmarks",
      "",
      "Generated by `bench/run.ts` from a single run; the method is in [bench/README.md](../bench/README.md).",
      "",
      `- command: \`${settings}npm run bench\``,
      `- machine: ${machine}`,
      `- date: ${date} UTC (wall time ${seconds.toFixed(0)} s)`,
      "",
      body.replace(/^### /gm, "## ").replace(/^#### /gm, "### "),
      "",
    ].join("\n"),
  );
  log(`written to ${docs}`);
}
if (failures.length) process.exitCode = 1;
