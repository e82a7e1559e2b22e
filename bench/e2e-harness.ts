/**
 * What the end-to-end workloads share (express in e2e.ts, Fastify / Koa / React Router in
 * frameworks.ts): app processes forked from a script, users signed in over HTTP, autocannon load
 * in which every response is checked, and what Redis did during the measured phase.
 *
 * Every app answers the same three routes, for each contestant on its own port:
 *   POST /login?user=<id>  signs in as <id> (passport.user plus a small profile) and sets the cookie(s)
 *   GET  /me               200 {user, visits} for a signed-in session, else 401; only reads it
 *   POST /visit            200 {user, visits} after visits += 1, else 401; changes the session
 *
 * A figure is only worth something if the app really kept each user signed in, so a run fails
 * (throws) when any measured response is not a 200 for the user whose cookie it carried, and when
 * the sessions afterwards do not hold exactly one visit per POST /visit that was answered.
 */
import { type ChildProcess, fork } from "node:child_process";
import autocannon from "autocannon";
import { fmtMs, fmtRate, fmtRatio, log, median, rotate, runConcurrent, settle } from "./common.js";
import { type CommandStats, diffStats, type PhaseCost, parseInfo, phaseCost, type SentCommands } from "./redis-stats.js";
import type { RedisClient } from "./stores.js";

export const USERS = 500;

export type ParentMessage = { type: "take" } | { type: "stop" };
export type ChildMessage = { type: "ready"; ports: Record<string, number> } | { type: "sent"; sent: SentCommands; cpuUsec: number };

/** The app process's side of the IPC: announce the ports, hand over the sent commands, stop. */
export function serveParent(ports: Record<string, number>, take: () => SentCommands, close: () => Promise<void>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("an app process runs as a child of the bench (fork)");
  take(); // the connection handshakes are not part of any phase
  // Only the contestant under load gets requests, so the process's CPU time in a phase is its cost.
  let cpu = process.cpuUsage();
  process.on("message", async (message: ParentMessage) => {
    if (message.type === "take") {
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      send({ type: "sent", sent: take(), cpuUsec: used.user + used.system } satisfies ChildMessage);
    } else if (message.type === "stop") {
      await close();
      process.exit(0);
    }
  });
  send({ type: "ready", ports } satisfies ChildMessage);
}

export interface AppProcess {
  child: ChildProcess;
  ports: Record<string, number>;
}

export async function startApps(script: string, count: number, url: string): Promise<AppProcess[]> {
  return Promise.all(
    Array.from({ length: count }, () => {
      const child = fork(script, [], {
        env: { ...process.env, BENCH_REDIS_URL: url },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      return new Promise<AppProcess>((resolve, reject) => {
        child.once("error", reject);
        child.once("exit", (code) => reject(new Error(`app process ${script} exited at start (code ${code})`)));
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
async function takeAll(apps: AppProcess[]): Promise<{ sent: SentCommands; appCpuUsec: number }> {
  const total: SentCommands = { sent: {}, queued: {} };
  let appCpuUsec = 0;
  for (const part of await Promise.all(apps.map(takeSent))) {
    appCpuUsec += part.cpuUsec;
    for (const kind of ["sent", "queued"] as const)
      for (const [name, count] of Object.entries(part.sent[kind])) total[kind][name] = (total[kind][name] ?? 0) + count;
  }
  return { sent: total, appCpuUsec };
}

export async function stopApps(apps: AppProcess[]): Promise<void> {
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

/**
 * Signs USERS users in, round-robin over the app processes; returns each one's Cookie header. Every
 * cookie the login set is carried (koa-session signs into a second cookie, `koa.sess.sig`).
 */
async function signIn(urls: string[]): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const res = await fetch(`${urls[i % urls.length]}/login?user=user-${i}`, { method: "POST" });
    await res.arrayBuffer();
    const pairs = res.headers.getSetCookie().map((line) => line.split(";")[0] as string);
    if (!res.ok || !pairs.length)
      throw new Error(`login of user-${i} at ${urls[i % urls.length]} failed (${res.status}, ${pairs.length} cookies)`);
    cookies.push(pairs.join("; "));
  }
  return cookies;
}

/** Reads every user's session once: each must be signed in as its user, the visits add up to `writes`. */
async function checkSessions(urls: string[], cookies: string[], writes: number): Promise<void> {
  let visits = 0;
  await runConcurrent(cookies.length, 8, async (i) => {
    const url = `${urls[i % urls.length]}/me`;
    const res = await fetch(url, { headers: { cookie: cookies[i] as string } });
    const text = await res.text();
    const body = res.status === 200 ? (JSON.parse(text) as { user?: unknown; visits?: unknown }) : {};
    if (body.user !== `user-${i}` || typeof body.visits !== "number")
      throw new Error(`after the run, GET ${url} as user-${i} answered ${res.status} ${text.slice(0, 120)}`);
    visits += body.visits;
  });
  if (visits !== writes) throw new Error(`the sessions hold ${visits} visits, but ${writes} POST /visit were answered`);
}

export interface Run extends PhaseCost {
  /** Commands per request by name, as sent, and those run inside scripts. */
  mix: string;
  rps: number;
  p99: number;
  /** Responses received. */
  requests: number;
  /** User + system CPU time of the app processes over the run, µs. */
  appCpuUsec: number;
}

interface Expected {
  user?: string;
  write?: boolean;
}

/**
 * Sends `amount` requests over `connections` (9 in 10 GET /me, 1 in 10 POST /visit, each with the
 * next user's cookie) and checks every response: a 200 whose body names that user. Throws after the
 * run if any was not.
 */
async function load(urls: string[], cookies: string[], amount: number, connections: number) {
  let next = 0;
  let last = 0;
  let responses = 0;
  let writes = 0;
  let wrong = 0;
  let firstWrong = "";
  const start = performance.now();
  const result = await autocannon({
    // Several URLs: autocannon gives connection i to URL i mod n and each connection amount/connections requests.
    url: urls as unknown as string,
    connections,
    amount,
    timeout: 30,
    requests: [
      {
        // One request in flight per connection, so the context (per connection) still holds this
        // request's expectation when its response comes back.
        setupRequest: (req, context: Expected) => {
          const n = next++;
          const write = n % 10 === 9;
          context.user = `user-${n % cookies.length}`;
          context.write = write;
          const headers = { ...req.headers, cookie: cookies[n % cookies.length] as string };
          return { ...req, method: write ? "POST" : "GET", path: write ? "/visit" : "/me", headers };
        },
        onResponse: (status: number, body: string | Buffer, context: Expected) => {
          last = performance.now();
          responses++;
          let user: unknown;
          try {
            user = status === 200 ? (JSON.parse(String(body)) as { user?: unknown }).user : undefined;
          } catch {
            user = undefined;
          }
          if (user !== context.user) {
            wrong++;
            firstWrong ||= `${context.write ? "POST /visit" : "GET /me"} as ${context.user}: ${status} ${String(body).slice(0, 120)}`;
          } else if (context.write) writes++;
        },
      },
    ],
  });
  const failed = result.errors + result.timeouts;
  if (wrong || failed)
    throw new Error(
      `${wrong} of ${responses} responses were not a 200 for the signed-in user, ${failed} errors/timeouts (first: ${firstWrong || "none"})`,
    );
  // autocannon notices the end of a run on its 1 s tick, so its duration is rounded up to whole
  // seconds: the rate here is from the first request to the last response.
  return { rps: responses / ((last - start) / 1000), p99: result.latency.p99, requests: responses, writes };
}

async function redisInfo(admin: RedisClient): Promise<string> {
  return String(await admin.sendCommand(["INFO", "commandstats", "cpu"]));
}

/** One measured run of one contestant: fresh Redis, sign-in (not measured), load, checks. */
async function measure(apps: AppProcess[], key: string, admin: RedisClient, amount: number, connections: number): Promise<Run> {
  const urls = apps.map((app) => `http://127.0.0.1:${app.ports[key]}`);
  await admin.flushAll();
  const cookies = await signIn(urls);
  await settle(50);
  await takeAll(apps); // the sign-in phase is not measured
  const before = parseInfo(await redisInfo(admin));
  const { writes, ...run } = await load(urls, cookies, amount, connections);
  await settle(50);
  const after = parseInfo(await redisInfo(admin));
  const diff = diffStats(before, after);
  const { sent, appCpuUsec } = await takeAll(apps);
  await checkSessions(urls, cookies, writes);
  return { ...run, ...phaseCost(diff, sent), mix: commandMix(diff, sent, run.requests), appCpuUsec };
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

export interface RoundsConfig {
  apps: AppProcess[];
  /** Contestant keys (the apps' port names), rotated from round to round. */
  keys: readonly string[];
  admin: RedisClient;
  requests: number;
  connections: number;
  rounds: number;
  /** Progress label, e.g. "1 app(s)". */
  label: string;
}

/** A warm-up round (at most 4,000 requests each), then `rounds` measured rounds, order rotating. */
export async function runRounds(config: RoundsConfig): Promise<Map<string, Run[]>> {
  const { apps, keys, admin, requests, connections, rounds, label } = config;
  const runs = new Map<string, Run[]>(keys.map((key) => [key, []]));
  for (let round = -1; round < rounds; round++) {
    for (const key of rotate(keys, round + 1)) {
      const run = await measure(apps, key, admin, round < 0 ? Math.min(4000, requests) : requests, connections);
      if (round >= 0) runs.get(key)?.push(run);
      log(`  ${label}, round ${round + 1}, ${key}: ${fmtRate(run.rps)}, ${(run.commands / run.requests).toFixed(2)} commands/request`);
    }
  }
  return runs;
}

/** The cost columns, after the contestant's name; ratios are against `baseline`. */
export const costHeader = (baseline: string): string[] => [
  `requests/s (vs ${baseline})`,
  "commands/request (vs)",
  "inside scripts/request",
  "Redis µs/request (vs)",
  "Redis CPU µs/request (vs)",
  "app CPU µs/request (vs)",
  "p99 latency",
  "notes",
];

/** A contestant's cost cells (medians of rounds; ratios per round against `base`, then the median). */
export function costCells(mine: Run[], base: Run[]): string[] {
  const perRequest = (r: Run, value: number) => value / r.requests;
  const ratio = (pick: (r: Run) => number) => fmtRatio(median(mine.map((r, j) => pick(r) / pick(base[j] as Run))));
  const cmds = (r: Run) => perRequest(r, r.commands);
  const usec = (r: Run) => perRequest(r, r.redisUsec);
  const cpu = (r: Run) => perRequest(r, r.cpuUsec);
  const appCpu = (r: Run) => perRequest(r, r.appCpuUsec);
  const unseen = mine.reduce((sum, r) => sum + r.unseen, 0);
  return [
    `${fmtRate(median(mine.map((r) => r.rps)))} (${ratio((r) => r.rps)})`,
    `${median(mine.map(cmds)).toFixed(2)} (${ratio(cmds)})`,
    median(mine.map((r) => perRequest(r, r.inner))).toFixed(2),
    `${median(mine.map(usec)).toFixed(1)} (${ratio(usec)})`,
    `${median(mine.map(cpu)).toFixed(1)} (${ratio(cpu)})`,
    `${median(mine.map(appCpu)).toFixed(1)} (${ratio(appCpu)})`,
    fmtMs(median(mine.map((r) => r.p99))),
    unseen ? `**${unseen} sent commands missing from commandstats**` : "-",
  ];
}

export const COST_LEGEND =
  "Commands/request: the commands the apps' clients sent (an EVALSHA is one command; what runs inside it is the next column). " +
  "Redis µs/request: INFO commandstats usec over the measured phase, with script and EXEC inner commands counted once. " +
  "Redis CPU: redis-server main-thread user + sys CPU (INFO cpu), which also covers network I/O. " +
  "App CPU: user + system CPU time of the app processes (process.cpuUsage()), only the measured contestant under load. " +
  "Every measured response was checked to be a 200 for the user whose cookie it carried, and the sessions to hold every visit. See bench/README.md.";
