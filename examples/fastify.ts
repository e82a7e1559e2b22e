/**
 * The Fastify example: fastify 5 + @fastify/session + RedisStore (express-session is not needed),
 * with a login, a visit counter and "Your devices" from the per-user session index.
 *
 *   node --import tsx examples/fastify.ts
 *
 *   REDIS_URL       use this Redis (keys under "fastify-sess:"); else a private redis-server from
 *                   PATH is started on a free port and stopped on exit
 *   PORT            HTTP port (default 3001)
 *   SESSION_SECRET  cookie signing secret, 32+ characters (default: random per run)
 */
import { randomBytes } from "node:crypto";
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import Fastify from "fastify";
import { createClient } from "redis";
import { INSTALL_HINT, type RedisServer, removeDir, startRedis } from "../__tests__/helpers/redis-server.js";
import { RedisStore, RedisUnavailableError } from "../lib/index.js";

declare module "fastify" {
  interface Session {
    userId?: string;
    views?: number;
    userAgent?: string;
  }
}

const PORT = Number(process.env.PORT ?? 3001);
const SECRET = process.env.SESSION_SECRET ?? randomBytes(32).toString("hex");

async function main(): Promise<void> {
  let privateServer: RedisServer | undefined;
  if (!process.env.REDIS_URL) {
    try {
      privateServer = await startRedis();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(message === INSTALL_HINT ? INSTALL_HINT : `Could not start redis-server: ${message}`);
      process.exit(1);
    }
  }
  const client = createClient({ url: privateServer?.url ?? process.env.REDIS_URL });
  // The store never listens to the client's errors: without a listener a lost connection ends the process.
  client.on("error", (error: Error) => console.error(`redis client: ${error.message || error.name}`));
  await client.connect();
  const store = new RedisStore({ client, prefix: "fastify-sess:", maxSessionsPerUser: 5 });

  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    store,
    secret: SECRET,
    cookieName: "fastify.sid",
    saveUninitialized: false,
    // @fastify/session saves on every request by default (rolling); the cookie's maxAge is the session's lifetime in Redis.
    cookie: { secure: false, maxAge: 86_400_000 },
  });
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );

  const page = (title: string, body: string) => `<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1>${body}`;
  const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  app.get("/", async (request, reply) => {
    const { session } = request;
    if (!session.userId) {
      return reply
        .type("text/html")
        .send(
          page(
            "Sign in",
            `<form method="post" action="/login"><input name="user" placeholder="user name"> <button>Sign in</button></form>`,
          ),
        );
    }
    session.views = (session.views ?? 0) + 1;
    const devices = await store.listUserSessions(session.userId);
    const rows = devices
      .map(
        (d) =>
          `<li>${d.id === session.sessionId ? "<b>this device</b>" : escapeHtml(String((d.session as { userAgent?: string }).userAgent ?? "?"))}, last active ${d.lastActive?.toISOString() ?? "?"}</li>`,
      )
      .join("");
    return reply.type("text/html").send(
      page(
        `Hello ${escapeHtml(session.userId)}`,
        `<p>Visits in this session: ${session.views}</p><h2>Your devices (${devices.length})</h2><ul>${rows}</ul>
         <form method="post" action="/sign-out-others"><button>Sign out everywhere else</button></form>
         <form method="post" action="/logout"><button>Sign out</button></form>`,
      ),
    );
  });
  app.post<{ Body: { user?: string } }>("/login", async (request, reply) => {
    const user = String(request.body?.user ?? "").trim();
    if (!user) return reply.redirect("/");
    await request.session.regenerate(); // a new id at login
    request.session.userId = user;
    request.session.userAgent = request.headers["user-agent"] ?? "?";
    return reply.redirect("/");
  });
  app.post("/sign-out-others", async (request, reply) => {
    if (request.session.userId) await store.destroyUserSessions(request.session.userId, { except: request.session.sessionId });
    return reply.redirect("/");
  });
  app.post("/logout", async (request, reply) => {
    await request.session.destroy();
    return reply.redirect("/");
  });
  // While Redis is down every store call fails within commandTimeout: answer 503 rather than hang.
  app.setErrorHandler((error, _request, reply) => {
    const unavailable = error instanceof RedisUnavailableError;
    reply
      .status(unavailable ? 503 : 500)
      .type("text/html")
      .send(page(unavailable ? "Sessions are unavailable" : "Error", escapeHtml((error as Error).message)));
  });

  const shutdown = async () => {
    await app.close();
    client.destroy();
    if (privateServer) {
      await privateServer.stop();
      removeDir(privateServer);
    }
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown());
  process.once("SIGTERM", () => void shutdown());
  await app.listen({ port: PORT, host: "127.0.0.1" });
  console.log(`redis-session-store Fastify example: http://localhost:${PORT}`);
  console.log(`Redis: ${privateServer ? `a private redis-server on port ${privateServer.port} (stopped on exit)` : "REDIS_URL"}`);
}

void main();
