/**
 * Workload 4, end to end: express 5 + express-session apps in child processes (e2e-app.ts), 1 and
 * then 4 of them, every contestant on the same private Redis. Per round and contestant: FLUSHALL,
 * 500 users sign in (one session cookie each), then autocannon (in this process, to 127.0.0.1
 * only) sends a fixed number of requests over 32 connections spread evenly over the app processes:
 * 9 in 10 read the session (GET /me), 1 in 10 changes it (POST /visit). What Redis did in that
 * phase comes from INFO commandstats before and after it, counted as redis-stats.ts explains.
 * Contestants alternate; medians of rounds, ratios per round against connect-redis.
 */
import { type ChildProcess, fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { fmtMs, fmtRate, fmtRatio, log, median, rotate, settle, table } from "./common.js";
import { type ChildMessage, CONTESTANTS, type Contestant, type ParentMessage } from "./e2e-app.js";
import { type CommandStats, diffStats, type PhaseCost, parseInfo, phaseCost, type SentCommands } from "./redis-stats.js";
import type { RedisClient } from "./stores.js";

const here = dirname(fileURLToPath(import.meta.url));
const USERS = 500;

const NAMES: Record<Contestant, string> = {
  "connect-redis": "connect-redis 10 (baseline)",
  ours: "ours, defaults (index on)",
  "ours-encrypted": "ours, encryption on (defaults + AES-256-GCM)",
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

interface AppProcess {
  child: ChildProcess;
  ports: Record<Contestant, number>;
}

async function startApps(count: number, url: string): Promise<AppProcess[]> {
  return Promise.all(
    Array.from({ length: count }, () => {
      const child = fork(join(here, "e2e-app.ts"), [], {
        env: { ...process.env, BENCH_REDIS_URL: url },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      return new Promise<AppProcess>((resolve, reject) => {
        child.once("error", reject);
        child.once("exit", (code) => reject(new Error(`app process exited at start (code ${code})`)));
        child.once("message", (message: ChildMessage) => {
          if (message.type === "ready") resolve({ child, ports: message.ports });
        });
      });
    }),
  );
}

function takeSent(app: AppProcess): Promise<{ sent: SentCommands; cpuUsec: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: ChildMessage) => {
      if (message.type !== "sent") return;
      app.child.off("message", onMessage);
      resolve({ sent: message.sent, cpuUsec: message.cpuUsec });
    };
    app.child.on("message", onMessage);
    app.child.send({ type: "take" } satisfies ParentMessage);
  });
}

/** The Redis commands every app process sent, and the CPU time they used, since the last take. */
async function takeAll(apps: AppProcess[]): Promise<{ sent: SentCommands; cpuUsec: number }> {
  const total: SentCommands = { sent: {}, queued: {} };
  let cpuUsec = 0;
  for (const part of await Promise.all(apps.map(takeSent))) {
    cpuUsec += part.cpuUsec;
    for (const kind of ["sent", "queued"] as const)
      for (const [name, count] of Object.entries(part.sent[kind])) total[kind][name] = (total[kind][name] ?? 0) + count;
  }
  return { sent: total, cpuUsec };
}

async function stopApps(apps: AppProcess[]): Promise<void> {
  await Promise.all(
    apps.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.removeAllListeners("exit");
          child.once("exit", () => resolve());
          child.send({ type: "stop" } satisfies ParentMessage);
        }),
    ),
  );
}

/** Signs USERS users in, round-robin over the app processes; returns their cookies. */
async function signIn(urls: string[]): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const res = await fetch(`${urls[i % urls.length]}/login?user=user-${i}`, { method: "POST" });
    const cookie = res.headers.get("set-cookie");
    if (!res.ok || !cookie) throw new Error(`login failed (${res.status})`);
    cookies.push(cookie.split(";")[0] as string);
  }
  const check = await fetch(`${urls[urls.length - 1]}/me`, { headers: { cookie: cookies[0] as string } });
  if (check.status !== 200) throw new Error(`an authenticated request after login got ${check.status}`);
  return cookies;
}

interface Run extends PhaseCost {
  /** Commands per request by name, as sent, and those run inside scripts. */
  mix: string;
  /** User + system CPU time of the app processes over the phase (process.cpuUsage()). */
  appCpuUsec: number;
  rps: number;
  p99: number;
  bad: number;
  requests: number;
}

async function load(
  urls: string[],
  cookies: string[],
  amount: number,
  connections: number,
): Promise<Omit<Run, keyof PhaseCost | "mix" | "appCpuUsec">> {
  let next = 0;
  let last = 0;
  let ok = 0;
  const start = performance.now();
  const result = await autocannon({
    // Several URLs: autocannon gives connection i to URL i mod n and each connection amount/connections requests.
    url: urls as unknown as string,
    connections,
    amount,
    timeout: 30,
    requests: [
      {
        setupRequest: (req) => {
          const n = next++;
          const write = n % 10 === 9;
          const headers = { ...req.headers, cookie: cookies[n % cookies.length] as string };
          return { ...req, method: write ? "POST" : "GET", path: write ? "/visit" : "/me", headers };
        },
        onResponse: (status: number) => {
          last = performance.now();
          if (status === 200) ok++;
        },
      },
    ],
  });
  // autocannon notices the end of a run on its 1 s tick, so its duration is rounded up to whole
  // seconds: the rate here is from the first request to the last response.
  return {
    rps: ok / ((last - start) / 1000),
    p99: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
    requests: next,
  };
}

async function redisInfo(admin: RedisClient): Promise<string> {
  return String(await admin.sendCommand(["INFO", "commandstats", "cpu"]));
}

async function measure(apps: AppProcess[], contestant: Contestant, config: EndToEndConfig, amount: number): Promise<Run> {
  const { admin, connections } = config;
  const urls = apps.map((app) => `http://127.0.0.1:${app.ports[contestant]}`);
  await admin.flushAll();
  const cookies = await signIn(urls);
  await settle(50);
  await takeAll(apps); // the sign-in phase is not measured
  const before = parseInfo(await redisInfo(admin));
  const run = await load(urls, cookies, amount, connections);
  await settle(50);
  const after = parseInfo(await redisInfo(admin));
  const diff = diffStats(before, after);
  const { sent, cpuUsec } = await takeAll(apps);
  return { ...run, ...phaseCost(diff, sent), mix: commandMix(diff, sent, run.requests), appCpuUsec: cpuUsec };
}

/** "get 1.00, evalsha 0.10; inside scripts: set 0.10": commands per request, by name. */
function commandMix(diff: CommandStats, sent: SentCommands, requests: number): string {
  const list = (entries: [string, number][]) =>
    entries
      .filter(([name, count]) => count > 0 && name !== "info")
      .sort(([, a], [, b]) => b - a)
      .map(([name, count]) => `${name} ${(count / requests).toFixed(2)}`)
      .join(", ");
  const inside = [...diff]
    .filter(([name]) => name !== " cpu")
    .map(([name, stat]): [string, number] => [name, stat.calls - (sent.sent[name] ?? 0)]);
  const nested = list(inside);
  return `${list(Object.entries(sent.sent)) || "none"}${nested ? `; inside scripts: ${nested}` : ""}`;
}

function report(runs: Map<Contestant, Run[]>): string[][] {
  const base = runs.get("connect-redis") as Run[];
  const perRequest = (r: Run, value: number) => value / r.requests;
  const ratio = (mine: Run[], pick: (r: Run) => number) => fmtRatio(median(mine.map((r, j) => pick(r) / pick(base[j] as Run))));
  return CONTESTANTS.map((key) => {
    const mine = runs.get(key) as Run[];
    const cmds = (r: Run) => perRequest(r, r.commands);
    const usec = (r: Run) => perRequest(r, r.redisUsec);
    const cpu = (r: Run) => perRequest(r, r.cpuUsec);
    const appCpu = (r: Run) => perRequest(r, r.appCpuUsec);
    const bad = mine.reduce((sum, r) => sum + r.bad, 0);
    const unseen = mine.reduce((sum, r) => sum + r.unseen, 0);
    const notes = [bad ? `**${bad} non-2xx/errors**` : "", unseen ? `**${unseen} sent commands missing from commandstats**` : ""]
      .filter(Boolean)
      .join("; ");
    return [
      NAMES[key],
      `${fmtRate(median(mine.map((r) => r.rps)))} (${ratio(mine, (r) => r.rps)})`,
      `${median(mine.map(cmds)).toFixed(2)} (${ratio(mine, cmds)})`,
      median(mine.map((r) => perRequest(r, r.inner))).toFixed(2),
      `${median(mine.map(usec)).toFixed(1)} (${ratio(mine, usec)})`,
      `${median(mine.map(cpu)).toFixed(1)} (${ratio(mine, cpu)})`,
      `${median(mine.map(appCpu)).toFixed(1)} (${ratio(mine, appCpu)})`,
      fmtMs(median(mine.map((r) => r.p99))),
      notes || "-",
    ];
  });
}

export async function endToEnd(config: EndToEndConfig): Promise<string> {
  const { url, requests, connections, rounds, processes } = config;
  const header = [
    "store",
    "requests/s (vs connect-redis)",
    "commands/request (vs)",
    "inside scripts/request",
    "Redis µs/request (vs)",
    "Redis CPU µs/request (vs)",
    "app CPU µs/request (vs)",
    "p99 latency",
    "notes",
  ];
  const parts = [
    `### 4. End to end (express 5 + express-session in child processes; autocannon in-process: ${requests.toLocaleString("en")} requests per run, 90% GET /me + 10% POST /visit, ${connections} connections, ${USERS} signed-in users; median of ${rounds} rounds)`,
  ];
  for (const count of processes) {
    const apps = await startApps(count, url);
    const runs = new Map<Contestant, Run[]>(CONTESTANTS.map((key) => [key, []]));
    log(`end to end, ${count} app process(es): 1 warm-up + ${rounds} rounds of ${requests} requests, ${connections} connections`);
    try {
      for (let round = -1; round < rounds; round++) {
        for (const contestant of rotate(CONTESTANTS, round + 1)) {
          const run = await measure(apps, contestant, config, round < 0 ? Math.min(4000, requests) : requests);
          if (round >= 0) runs.get(contestant)?.push(run);
          log(
            `  ${count} app(s), round ${round + 1}, ${contestant}: ${fmtRate(run.rps)}, ${(run.commands / run.requests).toFixed(2)} commands/request`,
          );
        }
      }
    } finally {
      await stopApps(apps);
      await config.admin.flushAll();
    }
    const mixes = CONTESTANTS.map((key) => `- ${NAMES[key]}: ${runs.get(key)?.at(-1)?.mix ?? "n/a"}`);
    parts.push(
      "",
      `#### ${count} app process${count > 1 ? "es" : ""}`,
      "",
      table(header, report(runs)),
      "",
      "Commands per request in the last round:",
      "",
      ...mixes,
    );
  }
  parts.push(
    "",
    "Commands/request: the commands the apps' clients sent (an EVALSHA is one command; what runs inside it is the next column). " +
      "Redis µs/request: INFO commandstats usec over the measured phase, with script and EXEC inner commands counted once. " +
      "Redis CPU: redis-server main-thread user + sys CPU (INFO cpu), which also covers network I/O. " +
      "App CPU: user + system CPU of the app processes over the phase (process.cpuUsage()). See bench/README.md.",
  );
  return parts.join("\n");
}
