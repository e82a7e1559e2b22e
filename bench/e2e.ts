/**
 * Workload 4, end to end: an express 5 + express-session app per store (login sets
 * req.session.userId, then an authenticated route), 1,000 users log in, then autocannon (in this
 * process, to 127.0.0.1 only) sends N authenticated requests over 32 connections, each request
 * carrying one of the 1,000 session cookies in turn. Each request costs the store a get() and a
 * touch() (resave: false, saveUninitialized: false). Contestants alternate; median of rounds.
 */
import type { AddressInfo } from "node:net";
import autocannon from "autocannon";
import express from "express";
import session from "express-session";
import { DAY_MS, fmtMs, fmtRate, fmtRatio, log, median, rotate, table, verdict } from "./common.js";
import { connectRedis, ours, type RedisClient } from "./stores.js";

const USERS = 1000;

export interface EndToEndConfig {
  client: RedisClient;
  admin: RedisClient;
  requests: number;
  connections: number;
  rounds: number;
}

interface App {
  name: string;
  url: string;
  cookies: string[];
  close(): Promise<void>;
}

async function startApp(name: string, store: session.Store): Promise<App> {
  const app = express();
  app.use(
    session({
      store,
      secret: "bench secret",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: DAY_MS, httpOnly: true, path: "/" },
    }),
  );
  app.post("/login", (req, res) => {
    (req.session as unknown as { userId: string }).userId = String(req.query.user);
    res.send("ok");
  });
  app.get("/me", (req, res) => {
    const userId = (req.session as unknown as { userId?: string }).userId;
    if (!userId) {
      res.status(401).send("log in first");
      return;
    }
    res.json({ userId, views: 1 });
  });
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cookies: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const res = await fetch(`${url}/login?user=user-${i}`, { method: "POST" });
    const cookie = res.headers.get("set-cookie");
    if (!res.ok || !cookie) throw new Error(`${name}: login failed (${res.status})`);
    cookies.push(cookie.split(";")[0] as string);
  }
  const check = await fetch(`${url}/me`, { headers: { cookie: cookies[0] as string } });
  if (check.status !== 200) throw new Error(`${name}: authenticated request after login got ${check.status}`);
  return {
    name,
    url,
    cookies,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Run {
  rps: number;
  p99: number;
  bad: number;
}

async function load(app: App, amount: number, connections: number): Promise<Run> {
  let next = 0;
  let last = 0;
  let ok = 0;
  const start = performance.now();
  const result = await autocannon({
    url: app.url,
    connections,
    amount,
    requests: [
      {
        method: "GET",
        path: "/me",
        setupRequest: (req) => ({
          ...req,
          headers: { ...req.headers, cookie: app.cookies[next++ % app.cookies.length] as string },
        }),
        onResponse: (status: number) => {
          last = performance.now();
          if (status === 200) ok++;
        },
      },
    ],
  });
  // autocannon notices the end of a run on its 1 s tick, so its duration is rounded up to whole
  // seconds: the rate here is from the first request to the last response.
  const seconds = (last - start) / 1000;
  return {
    rps: ok / seconds,
    p99: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
  };
}

export async function endToEnd(config: EndToEndConfig): Promise<string> {
  const { client, admin, requests, connections, rounds } = config;
  await admin.flushAll();
  const apps: App[] = [];
  const keys = ["memory", "connect-redis", "ours"] as const;
  apps.push(await startApp("express-session MemoryStore (upper bound)", new session.MemoryStore()));
  apps.push(await startApp("connect-redis 10", connectRedis(client) as unknown as session.Store));
  apps.push(await startApp("ours (default options)", ours(client) as unknown as session.Store));
  const runs = new Map<string, Run[]>(keys.map((k) => [k, []]));
  log(`end to end: ${USERS} users logged in per store; 1 warm-up + ${rounds} rounds of ${requests} requests, ${connections} connections`);
  try {
    for (let round = -1; round < rounds; round++) {
      for (const i of rotate([0, 1, 2], round + 1)) {
        const run = await load(apps[i] as App, round < 0 ? Math.min(2000, requests) : requests, connections);
        if (round >= 0) runs.get(keys[i] as string)?.push(run);
      }
    }
  } finally {
    for (const app of apps) await app.close();
    await admin.flushAll();
  }
  const theirs = runs.get("connect-redis") as Run[];
  const rows = keys.map((key, i) => {
    const mine = runs.get(key) as Run[];
    const ratio = median(mine.map((r, j) => r.rps / (theirs[j] as Run).rps));
    const bad = mine.reduce((sum, r) => sum + r.bad, 0);
    let target = key === "ours" ? verdict(ratio, ">=", 0.95) : key === "connect-redis" ? "baseline" : "-";
    if (bad) target += `; **${bad} non-2xx/errors**`;
    return [(apps[i] as App).name, fmtRate(median(mine.map((r) => r.rps))), fmtMs(median(mine.map((r) => r.p99))), fmtRatio(ratio), target];
  });
  return [
    `### 4. End to end (express 5 + express-session, autocannon in-process: ${requests.toLocaleString("en")} authenticated requests, ${connections} connections, ${USERS.toLocaleString("en")} sessions; median of ${rounds} rounds)`,
    "",
    table(["store", "requests/s", "p99 latency", "vs connect-redis", "target"], rows),
  ].join("\n");
}
