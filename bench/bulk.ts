/**
 * Workload 2, bulk: all(), length(), clear() (ours and connect-redis) and ours' streaming scan()
 * over N sessions in connect-redis's layout. Each measurement runs alone in a fresh child process
 * (see bulk-child.ts for how heap is measured); contestants alternate, median of the rounds.
 *
 * Loading: the N sessions are written once per size with pipelined SET ... PXAT, saved to an RDB
 * snapshot (SAVE), and restored with DEBUG RELOAD NOSAVE (about 1 s for 1M keys) after every clear().
 */
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { fmtBytes, fmtMs, fmtRatio, log, median, rotate, table } from "./common.js";
import { loadedSid, loadSessions } from "./load.js";
import type { RedisClient } from "./stores.js";

const here = dirname(fileURLToPath(import.meta.url));

type StoreName = "ours" | "connect-redis";
type Op = "all" | "length" | "clear" | "scan";

interface Measurement {
  ms: number;
  heapPeak: number;
  rssPeak: number;
  count: number;
}

export interface BulkConfig {
  url: string;
  admin: RedisClient;
  sizes: number[];
  rounds: number;
}

function runChild(url: string, store: StoreName, op: Op): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", "--max-old-space-size=12288", "--import", "tsx", "bulk-child.ts", JSON.stringify({ url, store, op })],
      {
        cwd: here,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    child.once("error", reject);
    child.once("close", (code, signal) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code === 0 && line.startsWith("{")) resolve(JSON.parse(line) as Measurement);
      else {
        const lines = err.trim().split("\n");
        const cause = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.slice(-3).join(" / ");
        reject(new Error(`${store} ${op}() failed (${signal ?? `exit ${code}`}): ${cause}`));
      }
    });
  });
}

/** Checks that clear() removed the sessions: a sample of 1,000 loaded ids must all be gone. */
async function sessionsLeft(admin: RedisClient, size: number): Promise<number> {
  const step = Math.max(1, Math.floor(size / 1000));
  const keys: string[] = [];
  for (let i = 0; i < size; i += step) keys.push(`sess:${loadedSid(i)}`);
  return Number(await admin.exists(keys));
}

/** The error's first line, shortened for a table cell. */
function shortError(message: string): string {
  const cause = message.replace(/^.*?\): /, "");
  return cause.replace(/\|/g, "\\|").trim().slice(0, 120);
}

export async function bulk(config: BulkConfig): Promise<string> {
  const { url, admin, sizes, rounds } = config;
  const parts: string[] = [
    "### 2. Bulk operations (ours / connect-redis; lower is better)",
    "",
    "Each cell: median time and median peak heap growth of one call, each call alone in a fresh Node process " +
      "(heap: `heapUsed` sampled every 2 ms after two `gc()`s, result still held; RSS: kernel maxRSS growth). " +
      `Sessions loaded in connect-redis's layout (~500 B each); ${rounds} rounds, contestants alternating.`,
  ];
  for (const size of sizes) {
    const label = size.toLocaleString("en");
    log(`bulk: loading ${label} sessions`);
    await admin.flushAll();
    await loadSessions(url, size);
    await admin.sendCommand(["SAVE"]);
    const restore = async () => {
      await admin.sendCommand(["DEBUG", "RELOAD", "NOSAVE"]);
      const keys = await admin.dbSize();
      if (keys !== size) throw new Error(`restore gave ${keys} keys, expected ${size}`);
    };
    const results = new Map<string, Measurement[]>();
    const failed = new Map<string, string>();
    const problems: string[] = [];
    const measure = async (store: StoreName, op: Op): Promise<boolean> => {
      const key = `${store}:${op}`;
      if (failed.has(key)) return false; // failed in an earlier round: not tried again
      try {
        record(store, op, await runChild(url, store, op));
        return true;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failed.set(key, message);
        log(`bulk ${label}: ${message}`);
        return false;
      }
    };
    const record = (store: StoreName, op: Op, m: Measurement) => {
      const key = `${store}:${op}`;
      results.set(key, [...(results.get(key) ?? []), m]);
      if (op !== "clear" && m.count !== size)
        problems.push(`${store} ${op}() returned ${m.count.toLocaleString("en")} sessions, expected ${label}`);
    };
    const stores: StoreName[] = ["ours", "connect-redis"];
    for (let round = 0; round < rounds; round++) {
      log(`bulk ${label}: round ${round + 1}/${rounds}`);
      for (const op of ["length", "all", "scan"] as const) {
        for (const store of rotate(stores, round)) {
          if (op === "scan" && store !== "ours") continue;
          await measure(store, op);
        }
      }
      for (const store of rotate(stores, round)) {
        if (!(await measure(store, "clear"))) continue;
        const left = await sessionsLeft(admin, size);
        if (left) problems.push(`${store} clear() left ${left} of 1,000 sampled sessions`);
        await restore();
      }
    }
    await admin.flushAll();

    const get = (store: StoreName, op: Op, field: "ms" | "heapPeak" | "rssPeak") =>
      median((results.get(`${store}:${op}`) ?? []).map((m) => m[field]));
    const cell = (store: StoreName, op: Op) => {
      const error = failed.get(`${store}:${op}`);
      if (error) return `**failed**: ${shortError(error)}`;
      return results.has(`${store}:${op}`)
        ? `${fmtMs(get(store, op, "ms"))}, heap +${fmtBytes(get(store, op, "heapPeak"))} (RSS +${fmtBytes(get(store, op, "rssPeak"))})`
        : "-";
    };
    const note = (op: Op) => {
      if (failed.has(`ours:${op}`)) return "ours failed";
      if (failed.has(`connect-redis:${op}`)) return "no ratio: connect-redis failed, ours completed";
      return "";
    };
    const rows = (["all", "length", "clear", "scan"] as const).map((op) => {
      if (op === "scan") {
        // scan() has no connect-redis counterpart: compare with their all(), the only way they can list sessions.
        const t = get("ours", "scan", "ms") / get("connect-redis", "all", "ms");
        const h = get("ours", "scan", "heapPeak") / get("connect-redis", "all", "heapPeak");
        return [
          "ours scan() vs their all()",
          cell("ours", "scan"),
          cell("connect-redis", "all"),
          fmtRatio(t),
          fmtRatio(h),
          "compared with their all()",
        ];
      }
      const t = get("ours", op, "ms") / get("connect-redis", op, "ms");
      const h = get("ours", op, "heapPeak") / get("connect-redis", op, "heapPeak");
      return [`${op}()`, cell("ours", op), cell("connect-redis", op), fmtRatio(t), fmtRatio(h), note(op)];
    });
    parts.push("", `#### ${label} sessions`, "", table(["call", "ours", "connect-redis", "time ratio", "heap ratio", "note"], rows));
    if (problems.length) parts.push("", ...[...new Set(problems)].map((p) => `- **problem:** ${p}`));
  }
  return parts.join("\n");
}
