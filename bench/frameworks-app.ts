/**
 * The app process of the framework workload (started by frameworks.ts with fork()): one app per
 * contestant, each with its own Redis client and port on 127.0.0.1, all answering e2e-harness.ts's
 * three routes the same way (sign in as passport does, read the session, change it):
 *
 * - Fastify 5 + @fastify/cookie + @fastify/session (its defaults: `rolling: true`) with
 *   connect-redis 10 or our RedisStore (defaults), on node-redis 5;
 * - Koa 3 + koa-session 7 (its defaults: signed cookies, `rolling: false`) with koa-redis 4 (on the
 *   ioredis 4 it brings) or createKoaStore (defaults) on node-redis 5 or ioredis 5;
 * - React Router 7's data router (createStaticHandler, real Request/Response objects behind a
 *   node:http server) with a hand-written createSessionStorage on node-redis (the pattern of React
 *   Router's docs: SET PX / GET / DEL of JSON under a random id) or createRedisSessionStorage.
 *
 * Only the contestant under load gets requests; the others sit idle.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import Fastify from "fastify";
import { Redis } from "ioredis";
import Koa from "koa";
import redisStore from "koa-redis";
import koaSession, { type CreateSessionOptions } from "koa-session";
// Not a bench dependency: the root's react-router, the very copy createRedisSessionStorage uses.
import { type CookieOptions, createSessionStorage, createStaticHandler, type SessionStorage } from "react-router";
import { createClient } from "redis";
import { DAY_MS } from "./common.js";
import { serveParent } from "./e2e-harness.js";
import { createKoaStore, createRedisSessionStorage, RedisStore as OurStore } from "./ours.js";
import { trackRedisWrites } from "./redis-stats.js";
import { connectRedis, type RedisClient } from "./stores.js";

/** The contestants of each framework, the baseline (the framework's usual Redis store) first. */
export const FRAMEWORKS = {
  fastify: ["fastify-connect-redis", "fastify-ours"],
  koa: ["koa-redis", "koa-ours", "koa-ours-ioredis"],
  "react-router": ["rr-hand-written", "rr-ours"],
} as const;
export type Framework = keyof typeof FRAMEWORKS;
export type Contestant = (typeof FRAMEWORKS)[Framework][number];
export const CONTESTANTS = Object.values(FRAMEWORKS).flat() as Contestant[];

const SECRET = "a bench secret of at least thirty-two characters";
const profile = (user: string) => ({ name: `User ${user}`, locale: "en-GB", roles: ["customer"] });

interface BenchSession {
  passport?: { user?: string };
  profile?: { name: string; locale: string; roles: string[] };
  visits?: number;
}

declare module "fastify" {
  interface Session extends BenchSession {}
}

interface App {
  port: number;
  close(): Promise<unknown>;
}

const portOf = (server: Server) => (server.address() as AddressInfo).port;
const listen = (server: Server) => new Promise<Server>((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
const closeServer = (server: Server) =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });

async function fastifyApp(store: fastifySession.SessionStore): Promise<App> {
  const app = Fastify();
  await app.register(fastifyCookie);
  // secure: false, as the bench speaks plain HTTP (with the default, true, nothing would be saved).
  await app.register(fastifySession, { store, secret: SECRET, saveUninitialized: false, cookie: { maxAge: DAY_MS, secure: false } });
  app.post("/login", async (request) => {
    const user = String((request.query as { user?: string }).user);
    request.session.set("passport", { user });
    request.session.set("profile", profile(user));
    return "ok";
  });
  app.get("/me", async (request, reply) => {
    const user = request.session.get("passport")?.user;
    if (!user) return reply.code(401).send("log in first");
    return { user, name: request.session.get("profile")?.name, visits: request.session.get("visits") ?? 0 };
  });
  app.post("/visit", async (request, reply) => {
    const user = request.session.get("passport")?.user;
    if (!user) return reply.code(401).send("log in first");
    const visits = (request.session.get("visits") ?? 0) + 1;
    request.session.set("visits", visits);
    return { user, visits };
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  return { port: portOf(app.server), close: () => app.close() };
}

async function koaApp(store: CreateSessionOptions["store"]): Promise<App> {
  const app = new Koa();
  app.keys = [SECRET]; // koa-session signs its cookie (koa.sess.sig) with these
  app.use(koaSession({ store, maxAge: DAY_MS }, app));
  app.use(async (ctx) => {
    const s = ctx.session as unknown as BenchSession;
    const route = `${ctx.method} ${ctx.path}`;
    if (route === "POST /login") {
      const user = String(ctx.query.user);
      s.passport = { user };
      s.profile = profile(user);
      ctx.body = "ok";
      return;
    }
    const user = s.passport?.user;
    if (!user) {
      ctx.status = 401;
      ctx.body = "log in first";
    } else if (route === "GET /me") ctx.body = { user, name: s.profile?.name, visits: s.visits ?? 0 };
    else if (route === "POST /visit") {
      s.visits = (s.visits ?? 0) + 1;
      ctx.body = { user, visits: s.visits };
    } else ctx.status = 404;
  });
  const server = await listen(createServer(app.callback()));
  return { port: portOf(server), close: () => closeServer(server) };
}

const COOKIE: CookieOptions & { name: string } = {
  name: "__session",
  secrets: [SECRET],
  maxAge: DAY_MS / 1000,
  httpOnly: true,
  path: "/",
  sameSite: "lax",
};

/** A React Router session storage as its docs show one written by hand, here on node-redis. */
function handWrittenStorage(client: RedisClient): SessionStorage<BenchSession> {
  const key = (id: string) => `rr-session:${id}`;
  const lifetime = (expires?: Date) => (expires ? expires.getTime() - Date.now() : DAY_MS);
  return createSessionStorage<BenchSession>({
    cookie: COOKIE,
    async createData(data, expires) {
      const id = randomBytes(24).toString("base64url");
      await client.set(key(id), JSON.stringify(data), { expiration: { type: "PX", value: lifetime(expires) } });
      return id;
    },
    async readData(id) {
      const value = await client.get(key(id));
      return value === null ? null : (JSON.parse(value) as BenchSession);
    },
    async updateData(id, data, expires) {
      await client.set(key(id), JSON.stringify(data), { expiration: { type: "PX", value: lifetime(expires) } });
    },
    async deleteData(id) {
      await client.del(key(id));
    },
  });
}

async function reactRouterApp(storage: SessionStorage<BenchSession>): Promise<App> {
  const load = (request: Request) => storage.getSession(request.headers.get("Cookie"));
  const handler = createStaticHandler([
    {
      path: "/login",
      action: async ({ request }) => {
        const session = await load(request);
        const user = String(new URL(request.url).searchParams.get("user"));
        session.set("passport", { user });
        session.set("profile", profile(user));
        return new Response("ok", { headers: { "Set-Cookie": await storage.commitSession(session) } });
      },
    },
    {
      path: "/me",
      loader: async ({ request }) => {
        const session = await load(request);
        const user = session.get("passport")?.user;
        if (!user) return new Response("log in first", { status: 401 });
        return Response.json({ user, name: session.get("profile")?.name, visits: session.get("visits") ?? 0 });
      },
    },
    {
      path: "/visit",
      action: async ({ request }) => {
        const session = await load(request);
        const user = session.get("passport")?.user;
        if (!user) return new Response("log in first", { status: 401 });
        const visits = (session.get("visits") ?? 0) + 1;
        session.set("visits", visits);
        return Response.json({ user, visits }, { headers: { "Set-Cookie": await storage.commitSession(session) } });
      },
    },
  ]);
  // What a React Router server adapter does: node's request in, a Fetch Request to the router, its Response out.
  const server = createServer(async (req, res) => {
    req.resume();
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
    let response: Response;
    try {
      response = (await handler.queryRoute(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers }))) as Response;
    } catch (error) {
      response = new Response(String(error instanceof Error ? error.message : error), { status: 500 });
    }
    const body = await response.text();
    res.statusCode = response.status;
    for (const [name, value] of response.headers) if (name !== "set-cookie") res.setHeader(name, value);
    const cookies = response.headers.getSetCookie();
    if (cookies.length) res.setHeader("set-cookie", cookies);
    res.end(body);
  });
  await listen(server);
  return { port: portOf(server), close: () => closeServer(server) };
}

async function main(): Promise<void> {
  const url = process.env.BENCH_REDIS_URL;
  if (!url) throw new Error("frameworks-app.ts runs as a child of frameworks.ts (fork, BENCH_REDIS_URL)");
  const take = trackRedisWrites(Number(new URL(url).port));
  const onError = (name: string) => (error: unknown) => process.stderr.write(`[frameworks app ${process.pid}] ${name}: ${error}\n`);
  const closers: (() => Promise<unknown>)[] = [];
  const nodeRedis = async (name: string): Promise<RedisClient> => {
    const client: RedisClient = createClient({ url });
    client.on("error", onError(name));
    await client.connect();
    closers.push(() => client.quit());
    return client;
  };
  const ports = {} as Record<Contestant, number>;
  const apps: Record<Contestant, () => Promise<App>> = {
    "fastify-connect-redis": async () => fastifyApp(connectRedis(await nodeRedis("connect-redis"))),
    "fastify-ours": async () => fastifyApp(new OurStore({ client: await nodeRedis("fastify ours") })),
    "koa-redis": async () => {
      const store = redisStore({ url });
      store.on("error", onError("koa-redis"));
      closers.push(() => store.quit());
      return koaApp(store);
    },
    "koa-ours": async () => koaApp(createKoaStore({ client: await nodeRedis("koa ours") })),
    "koa-ours-ioredis": async () => {
      const client = new Redis(url, { lazyConnect: true });
      client.on("error", onError("koa ours ioredis"));
      await client.connect();
      closers.push(async () => client.disconnect());
      return koaApp(createKoaStore({ client, prefix: "ours-io:" }));
    },
    "rr-hand-written": async () => reactRouterApp(handWrittenStorage(await nodeRedis("react-router hand-written"))),
    "rr-ours": async () =>
      reactRouterApp(createRedisSessionStorage<BenchSession>({ client: await nodeRedis("react-router ours"), cookie: COOKIE })),
  };
  for (const contestant of CONTESTANTS) {
    const app = await apps[contestant]();
    closers.unshift(() => app.close()); // servers close before the clients quit
    ports[contestant] = app.port;
  }
  serveParent(ports, take, async () => {
    for (const close of closers) await close().catch(() => undefined);
  });
}

// Imported for its contestants by frameworks.ts; runs only as the forked child.
if (process.send && process.env.BENCH_REDIS_URL) await main();
