/**
 * Runs every workload against one private redis-server started here (never a Redis already
 * running on the machine), prints the results as markdown on stdout (progress goes to stderr),
 * writes them to results/latest.md, and stops the server.
 *
 * Environment:
 *   BENCH_SIZES=100000,1000000   store sizes of the bulk workload; the largest is also the per-user
 *                                workload's large size (BENCH_SIZES=100000 for a quick run)
 *   BENCH_ONLY=hot,bulk,user,e2e  run only these workloads
 *   BENCH_ROUNDS=5               measured rounds of the hot path and the end-to-end workloads
 *   BENCH_E2E_REQUESTS=20000     requests per measured run of the end-to-end workload
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { removeDir, startRedis } from "../__tests__/helpers/redis-server.js";
import { bulk } from "./bulk.js";
import { envInt, envList, log } from "./common.js";
import { endToEnd } from "./e2e.js";
import { hotPath } from "./hot-path.js";
import { perUser } from "./per-user.js";

const here = dirname(fileURLToPath(import.meta.url));
const started = Date.now();
const only = new Set((process.env.BENCH_ONLY ?? "hot,bulk,user,e2e").split(",").map((s) => s.trim()));
const sizes = envList("BENCH_SIZES", [100_000, 1_000_000]);
const rounds = envInt("BENCH_ROUNDS", 5);

const server = await startRedis({ args: ["--enable-debug-command", "local"] });
log(`private redis-server on port ${server.port}`);
const client = createClient({ url: server.url });
const admin = createClient({ url: server.url });
client.on("error", (error) => log(`client error: ${error}`));
admin.on("error", (error) => log(`admin client error: ${error}`));
await Promise.all([client.connect(), admin.connect()]);

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
  await section("hot", () => hotPath({ client, admin, sessions: 20_000, inFlight: 64, rounds }));
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
} finally {
  await Promise.allSettled([client.quit(), admin.quit()]);
  await server.stop();
  removeDir(server);
}

const seconds = (Date.now() - started) / 1000;
const info = `Node ${process.version}, ${(await import("node:os")).cpus().length} cores, private redis-server ${server.url.replace(/:\d+$/, "")} (one per run), wall time ${seconds.toFixed(0)} s`;
const report = [
  `## redis-session-store benchmark (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)`,
  "",
  info,
  "",
  sections.join("\n\n"),
  "",
].join("\n");
process.stdout.write(`\n${report}`);
const out = join(here, "results", "latest.md");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, report);
log(`written to ${out}`);
if (failures.length) process.exitCode = 1;
