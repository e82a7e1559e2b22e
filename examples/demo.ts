/**
 * The demo app behind `npm run demo`: express 5 + express-session + RedisStore, with a login, a
 * visit counter, a "Your devices" page built on the per-user session index (each device named,
 * with when it signed in and was last active; this device first; a device signed out from
 * elsewhere is told why on its next visit), and the admin page of `redis-session-store/admin` at
 * /admin/sessions. Any username signs in (no passwords: a demo); the user named "admin" is the
 * administrator who may open /admin/sessions.
 *
 *   REDIS_URL       use this Redis (the demo's keys are under "demo-sess:" and "demo-sess-index:");
 *                   else a private redis-server from PATH is started on a free port and stopped on exit
 *   PORT            HTTP port (default 3000)
 *   SESSION_SECRET  cookie signing secret (default: random per run, so a restart signs everyone out)
 */
import { createHmac, randomBytes } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import { createClient } from "redis";
import { INSTALL_HINT, type RedisServer, removeDir, startRedis } from "../__tests__/helpers/redis-server.js";
import { adminRouter } from "../lib/admin.js";
import { RedisStore, RedisUnavailableError, type UserSession } from "../lib/index.js";

declare module "express-session" {
  interface SessionData {
    userId: string;
    loginAt: number;
    views: number;
  }
}

const PORT = Number(process.env.PORT ?? 3000);
const SECRET = process.env.SESSION_SECRET ?? randomBytes(32).toString("hex");
const COOKIE_NAME = "demo.sid";
const PREFIX = "demo-sess:";
/** The user who may open the admin page. */
const ADMIN_USER = "admin";

async function main(): Promise<void> {
  if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
    console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
    process.exit(1);
  }
  // ---- Redis: REDIS_URL, or a private redis-server ---------------------------------------------

  let privateServer = process.env.REDIS_URL ? undefined : await startPrivateRedis();
  const redisUrl = privateServer?.url ?? (process.env.REDIS_URL as string);
  const stopRedis = async () => {
    const server = privateServer;
    privateServer = undefined;
    if (!server) return;
    await server.stop();
    removeDir(server);
  };
  // A crash or process.exit() elsewhere: the helper kills the server; its folder goes too.
  process.once("exit", () => {
    if (privateServer) removeDir(privateServer);
  });

  const client = createClient({ url: redisUrl });
  // The store never adds an 'error' listener to your client. Without one, a lost connection is an
  // unhandled 'error' event that ends the process. Repeats of one message are logged once.
  let lastRedisError = "";
  let connected = false;
  client.on("error", (error: Error) => {
    // Before the first connection the one line below says what went wrong.
    if (connected && error.message !== lastRedisError) console.error(`redis client: ${error.message || error.name}`);
    lastRedisError = error.message;
  });
  client.on("ready", () => {
    lastRedisError = "";
  });
  // The client retries a refused connection forever; a demo started with a wrong REDIS_URL says so
  // in one line within a few seconds instead of waiting.
  const CONNECT_WITHIN_MS = 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_WITHIN_MS / 1000} s`)), CONNECT_WITHIN_MS);
      }),
    ]);
  } catch (error) {
    console.error(
      `Could not connect to Redis at ${showUrl(redisUrl)}: ${lastRedisError || (error instanceof Error ? error.message : String(error))}`,
    );
    client.destroy();
    await stopRedis();
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
  connected = true;

  const store = new RedisStore({ client, prefix: PREFIX });
  // 'disconnect' comes on every reconnection attempt; log the change of state only.
  let stopping = false;
  let down = false;
  store.on("disconnect", () => {
    if (!down && !stopping) console.error("store: Redis is down; requests run without a session until it is back");
    down = true;
  });
  store.on("connect", () => {
    if (down) console.error("store: Redis is back");
    down = false;
  });
  store.on("decodeError", (error: Error) => console.error(`store: ${error.message}`));

  // ---- the app ------------------------------------------------------------------------------------

  const app = express();
  app.disable("x-powered-by");
  app.use(express.urlencoded({ extended: false, limit: "4kb" }));
  app.use(
    session({
      name: COOKIE_NAME,
      secret: SECRET,
      store,
      resave: false, // the store implements touch()
      saveUninitialized: false, // no session (and no Redis write) until something is stored in it
      cookie: { httpOnly: true, sameSite: "lax", maxAge: 24 * 60 * 60 * 1000 },
    }),
  );
  // Each signed-in session's device (its User-Agent, named "Chrome on Windows", and IP), kept
  // beside the session for the devices page: never in the session data.
  app.use(store.deviceTracker());

  // While the store has emitted 'disconnect', express-session runs requests without a session.
  app.use((req, res, next) => {
    if (req.session) return next();
    res.status(503).type("html").send(page("Unavailable", "<p>The session store is unreachable right now. Try again in a moment.</p>"));
  });

  // Cross-site form posts are refused. SameSite=Lax already keeps the cookie off them; this also
  // covers the login form, which needs no cookie.
  app.use((req, res, next) => {
    if (req.method !== "POST") return next();
    const origin = req.get("origin");
    const crossSite =
      req.get("sec-fetch-site") === "cross-site" || (origin !== undefined && origin !== "null" && hostOf(origin) !== req.get("host"));
    if (!crossSite) return next();
    res.status(403).type("html").send(page("Forbidden", "<p>Cross-site form posts are not accepted.</p>"));
  });

  app.get("/", async (req, res) => {
    const user = req.session.userId;
    // A cookie whose session is gone: if it was signed out (not just expired), say why.
    const previous = user ? undefined : cookieSid(req.headers.cookie);
    const revoked = previous && previous !== req.sessionID ? await store.revocation(previous).catch(() => null) : null;
    // Only a signed-in session counts visits: an anonymous visit writes nothing to Redis.
    if (user) req.session.views = (req.session.views ?? 0) + 1;
    const body = user
      ? `<p>Signed in as <strong>${escapeHtml(user)}</strong>.</p>
<p><a href="/devices">Your devices</a></p>${user === ADMIN_USER ? '\n<p><a href="/admin/sessions">Admin: everyone\'s sessions</a></p>' : ""}
<form method="post" action="/logout"><button>Sign out</button></form>`
      : `<p>You are not signed in. Any username works (no password: this is a demo).</p>
<form method="post" action="/login">
  <label>Username <input name="username" maxlength="64" required autofocus></label>
  <button>Sign in</button>
</form>`;
    const visits = user ? `\n<p class="muted">Visits in this session: ${req.session.views}</p>` : "";
    res.type("html").send(page("Home", `${revoked ? revokedNotice(revoked) : ""}${body}${visits}`));
  });

  app.post("/login", (req, res, next) => {
    const username = typeof req.body?.username === "string" ? req.body.username.trim() : "";
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (username.length === 0 || username.length > 64 || /[\u0000-\u001f\u007f]/.test(username)) {
      const body = '<p>A username is 1 to 64 printable characters.</p><p><a href="/">Back</a></p>';
      res.status(400).type("html").send(page("Sign in", body));
      return;
    }
    const views = req.session.views ?? 0;
    // A new session id at login (no session fixation); the old id is destroyed and tombstoned.
    req.session.regenerate((error) => {
      if (error) return next(error);
      req.session.userId = username;
      req.session.loginAt = Date.now();
      req.session.views = views;
      req.session.save((saveError) => (saveError ? next(saveError) : res.redirect(303, "/")));
    });
  });

  app.post("/logout", (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie(COOKIE_NAME);
      res.redirect(303, "/");
    });
  });

  app.get("/devices", async (req, res) => {
    const userId = req.session.userId;
    if (!userId) {
      res.redirect(303, "/");
      return;
    }
    const [sessions, activeUsers] = await Promise.all([store.listUserSessions(userId), store.countActiveUsers(300)]);
    // This device first, then the others by their last activity (the order the store lists them in).
    const listed = [...sessions.filter((s) => s.id === req.sessionID), ...sessions.filter((s) => s.id !== req.sessionID)];
    const items = listed.map((s) => deviceItem(s, s.id === req.sessionID)).join("\n");
    const others =
      sessions.length > 1
        ? '<form method="post" action="/devices/sign-out-others" class="others"><button class="danger">Sign out all other devices</button></form>'
        : "";
    const body = `${noticeFor(req.query)}
<p>Signed in as <strong>${escapeHtml(userId)}</strong> on ${plural(sessions.length, "device")}. If you don't recognise one, sign it out.</p>
<ul class="devices">
${items}
</ul>
${others}
<p class="muted">Users active in the last 5 minutes: <span id="active-users">${activeUsers}</span></p>
<p><a href="/">Home</a></p>`;
    res.type("html").send(page("Your devices", body));
  });

  app.post("/devices/sign-out", async (req, res) => {
    const userId = req.session.userId;
    if (!userId) {
      res.redirect(303, "/");
      return;
    }
    // The page names devices by a keyed hash, never by session id; only this user's sessions match.
    const handle = typeof req.body?.device === "string" ? req.body.device : "";
    const target = (await store.listUserSessions(userId)).find((s) => deviceHandle(s.id) === handle);
    if (!target) {
      res.redirect(303, "/devices?done=none");
      return;
    }
    await store.destroy(target.id, { reason: "signed-out-elsewhere" });
    res.redirect(303, "/devices?done=one");
  });

  app.post("/devices/sign-out-others", async (req, res) => {
    const userId = req.session.userId;
    if (!userId) {
      res.redirect(303, "/");
      return;
    }
    const count = await store.destroyUserSessions(userId, { except: req.sessionID });
    res.redirect(303, `/devices?done=others&n=${count}`);
  });

  // The admin page and API: only the user named "admin" gets in; everyone else gets a 403.
  app.use("/admin/sessions", adminRouter(store, { authorize: (req: Request) => req.session.userId === ADMIN_USER }));

  app.use((_req: Request, res: Response) => {
    res.status(404).type("html").send(page("Not found", '<p>No such page. <a href="/">Home</a></p>'));
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const unavailable = error instanceof RedisUnavailableError;
    console.error(unavailable ? `request failed: ${error.message}` : error);
    if (res.headersSent) return;
    const body = unavailable ? "<p>Redis is unreachable right now. Try again in a moment.</p>" : "<p>Something went wrong.</p>";
    res
      .status(unavailable ? 503 : 500)
      .type("html")
      .send(page("Error", body));
  });

  // ---- start and stop ---------------------------------------------------------------------------

  const http = app.listen(PORT);
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    http.close();
    http.closeAllConnections();
    try {
      await client.close();
    } catch {
      client.destroy();
    }
    await stopRedis();
    process.exit(code);
  };
  process.once("SIGINT", () => void shutdown(0));
  process.once("SIGTERM", () => void shutdown(0));
  // `npm run demo` may pass a SIGTERM to its shell only (dash does not forward it); when our parent
  // goes away we are orphaned, so stop rather than keep the port and the redis-server.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown(0);
  }, 1000).unref();

  http.once("error", (error: NodeJS.ErrnoException) => {
    console.error(error.code === "EADDRINUSE" ? `Port ${PORT} is in use: set PORT to another port` : `HTTP server error: ${error.message}`);
    void shutdown(1);
  });
  http.once("listening", () => {
    const which = privateServer
      ? `a private redis-server at ${showUrl(redisUrl)} (stopped when the demo exits)`
      : `REDIS_URL ${showUrl(redisUrl)}`;
    console.log(`redis-session-store demo: http://localhost:${PORT}`);
    console.log(`Redis: ${which}; keys under "${store.prefix}" and "${store.options.indexPrefix}"`);
    console.log("Press Ctrl+C to stop.");
  });
}

/** Starts redis-server from PATH, or ends the process with one line saying how to get it. */
async function startPrivateRedis(): Promise<RedisServer> {
  try {
    return await startRedis();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(message === INSTALL_HINT ? INSTALL_HINT : `Could not start redis-server: ${message}`);
    process.exit(1);
  }
}

// ---- HTML ---------------------------------------------------------------------------------------

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)} · redis-session-store demo</title>
<style>
  * { box-sizing: border-box; }
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 1.5rem auto; padding: 0 1rem; color: #1f2328; }
  .muted { color: #5f6670; } .notice { background: #eef6ee; padding: .5rem .8rem; border-radius: 6px; }
  form { display: inline; } button { font: inherit; cursor: pointer; padding: .35rem .8rem; border: 1px solid #c8ccd1; border-radius: 6px; background: #f6f8fa; }
  button.danger { color: #b3261e; border-color: #e3b4b0; background: #fff; }
  .devices { list-style: none; padding: 0; margin: 1rem 0; }
  .device { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .5rem 1rem;
    border: 1px solid #d9dce1; border-radius: 8px; padding: .75rem 1rem; margin: .5rem 0; }
  .device.current { border-color: #1a7f37; background: #f3faf4; }
  .device .what { flex: 1 1 14rem; min-width: 0; }
  .device .name { font-weight: 600; overflow-wrap: anywhere; }
  .device .when { color: #5f6670; font-size: .9rem; }
  .badge { display: inline-block; margin-left: .4rem; padding: 0 .5rem; border-radius: 999px; background: #1a7f37; color: #fff; font-size: .8rem; font-weight: 600; vertical-align: middle; }
  .others { display: block; margin: 1rem 0; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
<hr><p class="muted">redis-session-store demo · sessions under the Redis prefix "${PREFIX}"</p>
</body>
</html>
`;
}

function deviceItem(s: UserSession, current: boolean): string {
  const handle = deviceHandle(s.id);
  const name = s.device?.name ?? "Unknown device";
  const action = current
    ? ""
    : `<form method="post" action="/devices/sign-out"><input type="hidden" name="device" value="${handle}"><button class="danger">Sign out</button></form>`;
  const signedIn = s.createdAt ? `Signed in ${dateTime(s.createdAt)}` : "Signed in earlier";
  // lastActive is null when the activity record was pruned (see docs/design.md, "Pruning").
  const active = current ? "Active now" : s.lastActive ? `Last active ${ago(Date.now() - s.lastActive.getTime())}` : "";
  const agent = s.device ? ` title="${escapeHtml(s.device.userAgent)}"` : "";
  return `<li class="device${current ? " current" : ""}" data-device="${handle}"${current ? ' data-current="1"' : ""}>
  <div class="what"><div class="name"${agent}>${escapeHtml(name)}${current ? ' <span class="badge">This device</span>' : ""}</div>
  <div class="when">${signedIn}${active ? ` · ${active}` : ""}</div></div>
  ${action}
</li>`;
}

const DATE_TIME = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });

function dateTime(date: Date): string {
  return `<time datetime="${date.toISOString()}">${escapeHtml(DATE_TIME.format(date))}</time>`;
}

/** The session id in this demo's signed cookie, when its signature is ours (express-session signs "s:" + id + "." + HMAC). */
function cookieSid(header: string | undefined): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name !== COOKIE_NAME) continue;
    const value = decodeURIComponent(rest.join("="));
    if (!value.startsWith("s:")) return undefined;
    const dot = value.lastIndexOf(".");
    const sid = value.slice(2, dot);
    const signature = createHmac("sha256", SECRET).update(sid).digest("base64").replace(/=+$/, "");
    return dot > 2 && value.slice(dot + 1) === signature ? sid : undefined;
  }
  return undefined;
}

function revokedNotice(revoked: { reason: string; at: Date }): string {
  const why: Record<string, string> = {
    "signed-out-elsewhere": "You were signed out from another device",
    "device-limit": "You were signed out because you signed in on too many devices",
    admin: "An administrator signed you out",
    logout: "You signed out",
    clear: "Every session was signed out by the administrator",
  };
  // Any other reason is the one an administrator typed on the admin page.
  const text = why[revoked.reason] ?? `An administrator signed you out (${revoked.reason})`;
  return `<p class="notice">${escapeHtml(text)} ${ago(Date.now() - revoked.at.getTime())}.</p>`;
}

function noticeFor(query: Request["query"]): string {
  let text = "";
  if (query.done === "one") text = "That device is signed out.";
  else if (query.done === "none") text = "That device was already signed out.";
  else if (query.done === "others") {
    const n = Number(query.n);
    text = `Signed out ${plural(Number.isInteger(n) && n >= 0 ? n : 0, "other device")}.`;
  }
  return text ? `<p class="notice">${text}</p>` : "";
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** A stable name for a session in forms: an HMAC of its id, so no page ever shows a session id. */
function deviceHandle(sid: string): string {
  return createHmac("sha256", SECRET).update(sid).digest("base64url").slice(0, 22);
}

/** "just now" within the minute, else "5 min ago", "2 h 5 min ago". */
function ago(ms: number): string {
  return ms < 60_000 ? "just now" : `${duration(ms)} ago`;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** A Redis URL fit to print: the password, if any, is masked. */
function showUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(an unparsable REDIS_URL)";
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
