/**
 * The admin router as an admin's browser and scripts reach it: real express apps (5, and 4 beside
 * a body parser that sets `req.body = {}`), express-session on a real Redis, HTTP requests to a
 * listening server. Who may enter (authorize), where changes may come from (same origin), what bad
 * input answers, and the page's security headers. The page in a browser: admin-browser.test.ts.
 */
import type { Server } from "node:http";
import { afterAll, describe, expect, test } from "@jest/globals";
import express from "express";
import session from "express-session";
import express4 from "express4";
import { createClient } from "redis";
import request from "supertest";
import { adminRouter } from "../lib/admin";
import { RedisStore } from "../lib/index";
import { RedisSessions } from "../lib/koa";
import { closeServer, listen } from "./helpers/http-client";
import { removeDir, startRedis } from "./helpers/redis-server";
import { type TestClient, useTestClient } from "./helpers/test-client";

let client: TestClient;
useTestClient((connected) => {
  client = connected;
});
let run = 0;
const prefix = () => `admin-${process.pid}-${++run}:`;
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map(closeServer));
});

type Sess = session.Session & { userId?: string };
type Authorize = (req: express.Request) => boolean | Promise<boolean>;
const AS_ADMIN: Authorize = (req) => (req.session as Sess | undefined)?.userId === "admin";

/**
 * An app as the docs show it: express-session, a login route, and the admin router at
 * /admin/sessions. Returns its origin, the store and the errors `onError` heard.
 */
async function adminApp(options: { authorize?: Authorize; framework?: "express 5" | "express 4"; before?: express.RequestHandler[] } = {}) {
  const store = new RedisStore({ client, prefix: prefix() });
  const make = (options.framework === "express 4" ? express4 : express) as typeof express;
  const app = make();
  for (const handler of options.before ?? []) app.use(handler);
  app.use(session({ store, secret: "admin secret", resave: false, saveUninitialized: false, name: "sid" }));
  app.use(store.deviceTracker());
  app.post("/login/:user", (req, res) => {
    (req.session as Sess).userId = String(req.params.user);
    res.json({ id: req.sessionID });
  });
  const heard: unknown[] = [];
  app.use("/admin/sessions", adminRouter(store, { authorize: options.authorize ?? AS_ADMIN, onError: (error) => heard.push(error) }));
  app.use((_req, res) => {
    res.status(404).send("the app's own 404");
  });
  const { server, port } = await listen(app);
  servers.push(server);
  const origin = `http://127.0.0.1:${port}`;
  /** Signs in on a new "device": its cookie and session id. */
  const signIn = async (user: string, userAgent = "") => {
    const res = await request(origin)
      .post(`/login/${encodeURIComponent(user)}`)
      .set("User-Agent", userAgent)
      .expect(200);
    return { cookie: String(res.headers["set-cookie"]?.[0]).split(";")[0] as string, id: res.body.id as string };
  };
  const admin = await signIn("admin");
  return { store, origin, heard, signIn, admin: admin.cookie, adminId: admin.id };
}

describe("store.destroy(sid, { reason }): what the router signs one session out with", () => {
  test("the reason goes in the tombstone; destroy(sid, callback) is express-session's call as before", async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    const sess = { cookie: { originalMaxAge: 60_000 }, userId: "zed" } as never;
    await store.set("r1", sess);
    await store.set("r2", sess);
    await store.destroy("r1", { reason: "admin" });
    expect((await store.revocation("r1"))?.reason).toBe("admin");
    const args = await new Promise<unknown[]>((resolve) => void store.destroy("r2", (...given: unknown[]) => resolve(given)));
    expect(args).toEqual([null, undefined]);
    expect((await store.revocation("r2"))?.reason).toBe("logout");
    await expect(store.destroy("r3", { reason: "" })).rejects.toThrow(
      'redis-session-store: argument "reason" must be a non-empty string of at most 200 characters, got ""',
    );
  });
});

describe("adminRouter(store, options) checks what it is given", () => {
  const store = () => new RedisStore({ client, prefix: prefix() });

  test.each([
    ["no options", undefined, 'option "authorize" must be a function (req) => boolean | Promise<boolean>, got undefined'],
    ["no authorize", {}, 'option "authorize" must be a function (req) => boolean | Promise<boolean>, got undefined'],
    ["authorize: true", { authorize: true }, 'option "authorize" must be a function (req) => boolean | Promise<boolean>, got true'],
    ["a misspelt option", { authorise: () => true }, 'unknown adminRouter option "authorise" (known: authorize, allowedOrigins, onError)'],
    [
      "an origin with a path",
      { authorize: () => true, allowedOrigins: ["https://admin.example.com/x"] },
      'option "allowedOrigins" must be an array of origins such as "https://admin.example.com" (scheme, host, port; no path), got "https://admin.example.com/x"',
    ],
    ["onError: 1", { authorize: () => true, onError: 1 }, 'option "onError" must be a function (error, req) => void, got 1'],
  ])("%s: a TypeError naming it", (_, options, message) => {
    expect(() => adminRouter(store(), options as never)).toThrow(new TypeError(`redis-session-store: ${message}`));
  });

  test("a store without the per-user index, or no store at all, is refused", () => {
    const unindexed = new RedisStore({ client, prefix: prefix(), userId: false });
    expect(() => adminRouter(unindexed, { authorize: () => true })).toThrow("adminRouter needs the per-user index");
    expect(() => adminRouter(undefined as never, { authorize: () => true })).toThrow(
      'adminRouter\'s argument "store" must be a RedisStore, got undefined',
    );
  });
});

describe("authorize decides every request", () => {
  test("false: 403 JSON for the page and the API, and nothing is signed out", async () => {
    const { origin, signIn, store } = await adminApp({ authorize: () => false });
    const user = await signIn("alice");
    const page = await request(origin).get("/admin/sessions").expect(403);
    expect(page.headers["content-type"]).toMatch(/^application\/json/);
    expect(page.body).toEqual({ error: "not authorized" });
    await request(origin).get("/admin/sessions/api/users/alice/sessions").expect(403, { error: "not authorized" });
    await request(origin).post(`/admin/sessions/api/sessions/${user.id}/sign-out`).set("Origin", origin).expect(403);
    expect(await store.get(user.id)).not.toBeNull();
  });

  test("a signed-in user who is not the admin gets 403; the admin gets the page", async () => {
    const { origin, signIn, admin } = await adminApp();
    const alice = await signIn("alice");
    await request(origin).get("/admin/sessions").set("Cookie", alice.cookie).expect(403);
    await request(origin).get("/admin/sessions").expect(403); // no session at all
    const page = await request(origin).get("/admin/sessions").set("Cookie", admin).expect(200);
    expect(page.text).toContain("<title>Sessions · admin</title>");
  });

  test("a throwing authorize: 500 that does not show its message; onError hears the error", async () => {
    const { origin, heard } = await adminApp({
      authorize: () => {
        throw new Error("database password is hunter2");
      },
    });
    const res = await request(origin).get("/admin/sessions/api/active-users").expect(500);
    expect(res.body).toEqual({ error: "internal error" });
    expect(res.text).not.toContain("hunter2");
    expect(heard).toEqual([new Error("database password is hunter2")]);
  });

  test("an authorize that returns no boolean (a forgotten return, a user object) fails closed: 500, and onError says why", async () => {
    const forgot = await adminApp({ authorize: (() => undefined) as never });
    await request(forgot.origin).get("/admin/sessions/api/active-users").expect(500, { error: "internal error" });
    const user = await adminApp({ authorize: (() => ({ role: "admin" })) as never });
    await request(user.origin).get("/admin/sessions").expect(500);
    expect([...forgot.heard, ...user.heard]).toEqual([
      new TypeError('redis-session-store: option "authorize" must return true or false (or a promise of one), got undefined'),
      new TypeError('redis-session-store: option "authorize" must return true or false (or a promise of one), got an object'),
    ]);
  });

  test("an async authorize is awaited: resolving true lets in, false refuses, a rejection is a 500", async () => {
    const later = <T>(value: T) => new Promise<T>((resolve) => setImmediate(() => resolve(value)));
    const yes = await adminApp({ authorize: () => later(true) });
    await request(yes.origin).get("/admin/sessions/api/active-users").expect(200);
    const no = await adminApp({ authorize: () => later(false) });
    await request(no.origin).get("/admin/sessions/api/active-users").expect(403);
    const fails = await adminApp({ authorize: () => later(null).then(() => Promise.reject(new Error("directory down"))) });
    const res = await request(fails.origin).get("/admin/sessions/api/active-users").expect(500);
    expect(res.text).not.toContain("directory down");
    expect(fails.heard).toHaveLength(1);
  });
});

describe("the JSON API", () => {
  test("a user's sessions: ids, dates and device, most recent first, never the session data", async () => {
    const { origin, signIn, admin } = await adminApp();
    const windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    const first = await signIn("bob", windows);
    const second = await signIn("bob", "");
    const res = await request(origin).get("/admin/sessions/api/users/bob/sessions").set("Cookie", admin).expect(200);
    expect(res.body.userId).toBe("bob");
    expect(res.body.sessions.map((s: { id: string }) => s.id)).toEqual([second.id, first.id]);
    for (const s of res.body.sessions) {
      expect(Object.keys(s).sort()).toEqual(["createdAt", "device", "expiresAt", "id", "lastActive"]);
      expect(new Date(s.createdAt).getTime()).toBeLessThanOrEqual(new Date(s.lastActive).getTime());
      expect(new Date(s.expiresAt).getTime()).toBeGreaterThan(Date.now());
    }
    expect(res.body.sessions[1].device).toEqual({
      name: "Chrome on Windows",
      userAgent: windows,
      ip: expect.stringMatching(/127\.0\.0\.1$/),
    });
    expect(res.text).not.toContain("cookie");
    const nobody = await request(origin).get("/admin/sessions/api/users/nobody/sessions").set("Cookie", admin).expect(200);
    expect(nobody.body).toEqual({ userId: "nobody", sessions: [] });
  });

  test("POST sessions/:sid/sign-out signs one session out; its tombstone says why (default: admin)", async () => {
    const { origin, signIn, admin, store } = await adminApp();
    const phone = await signIn("carol");
    const laptop = await signIn("carol");
    const res = await request(origin).post(`/admin/sessions/api/sessions/${phone.id}/sign-out`).set("Cookie", admin).set("Origin", origin);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: phone.id, userId: "carol", signedOut: true, reason: "admin" });
    expect(await store.get(phone.id)).toBeNull();
    expect((await store.revocation(phone.id))?.reason).toBe("admin");
    expect(await store.get(laptop.id)).not.toBeNull();
    // The signed-out device is anonymous on its next request.
    await request(origin).get("/admin/sessions").set("Cookie", phone.cookie).expect(403);
  });

  test("DELETE sessions/:sid with a reason of the admin's; 404 for a session that is not live", async () => {
    const { origin, signIn, admin, store } = await adminApp();
    const device = await signIn("dave");
    await request(origin)
      .delete(`/admin/sessions/api/sessions/${device.id}`)
      .set("Cookie", admin)
      .set("Origin", origin)
      .send({ reason: "lost phone" })
      .expect(200);
    expect((await store.revocation(device.id))?.reason).toBe("lost phone");
    await request(origin)
      .delete(`/admin/sessions/api/sessions/${device.id}`)
      .set("Cookie", admin)
      .set("Origin", origin)
      .expect(404, { error: "no live session has this id" });
    await request(origin).delete("/admin/sessions/api/sessions/never-was").set("Cookie", admin).set("Origin", origin).expect(404);
    expect(await store.revocation("never-was")).toBeNull(); // no tombstone left for an id that was not live
  });

  test("POST users/:userId/sign-out signs a user out everywhere but `except`, with the reason given", async () => {
    const { origin, signIn, admin, store } = await adminApp();
    const devices = [await signIn("erin"), await signIn("erin"), await signIn("erin")];
    const keep = devices[2] as { id: string };
    const res = await request(origin)
      .post("/admin/sessions/api/users/erin/sign-out")
      .set("Cookie", admin)
      .set("Origin", origin)
      .send({ reason: "password reset", except: [keep.id] })
      .expect(200);
    expect(res.body).toEqual({ userId: "erin", signedOut: 2, reason: "password reset" });
    expect((await store.revocation(devices[0]?.id as string))?.reason).toBe("password reset");
    expect((await store.listUserSessions("erin")).map((s) => s.id)).toEqual([keep.id]);
  });

  test("ids travel URL-encoded: a user id with a slash, spaces and markup", async () => {
    const { origin, signIn, admin } = await adminApp();
    const odd = "ops/<b>team</b> #1";
    const device = await signIn(odd);
    const res = await request(origin)
      .get(`/admin/sessions/api/users/${encodeURIComponent(odd)}/sessions`)
      .set("Cookie", admin)
      .expect(200);
    expect(res.body.userId).toBe(odd);
    expect(res.body.sessions.map((s: { id: string }) => s.id)).toEqual([device.id]);
  });

  test("active users and sessions within a window, with a limit", async () => {
    const { origin, signIn, admin, adminId } = await adminApp();
    const frank = await signIn("frank");
    await signIn("gina");
    const users = await request(origin).get("/admin/sessions/api/active-users?within=300").set("Cookie", admin).expect(200);
    expect(users.body.within).toBe(300);
    expect(users.body.count).toBe(3);
    expect([...users.body.users].sort()).toEqual(["admin", "frank", "gina"]);
    const one = await request(origin).get("/admin/sessions/api/active-users?within=300&limit=1").set("Cookie", admin).expect(200);
    expect(one.body).toMatchObject({ count: 3, users: [expect.any(String)] });
    const sessions = await request(origin).get("/admin/sessions/api/active-sessions?within=60").set("Cookie", admin).expect(200);
    const owners = Object.fromEntries(sessions.body.sessions.map((s: { id: string; userId: string }) => [s.id, s.userId]));
    expect(owners[frank.id]).toBe("frank");
    expect(owners[adminId]).toBe("admin");
    expect(sessions.body.sessions).toHaveLength(3);
    expect(sessions.body.sessions[0]).not.toHaveProperty("session");
  });

  test("a path the router does not have goes on to the app; a wrong method is a 405 with Allow", async () => {
    const { origin, admin } = await adminApp();
    const elsewhere = await request(origin).get("/admin/sessions/favicon.ico").set("Cookie", admin).expect(404);
    expect(elsewhere.text).toBe("the app's own 404");
    await request(origin).get("/admin/sessions/api/nothing-here").set("Cookie", admin).expect(404, { error: "no such admin API path" });
    const wrong = await request(origin).get("/admin/sessions/api/users/u/sign-out").set("Cookie", admin).expect(405);
    expect(wrong.headers.allow).toBe("POST");
    await request(origin).post("/admin/sessions/api/active-users").set("Cookie", admin).set("Origin", origin).expect(405);
  });
});

describe("bad input: 400 naming the parameter", () => {
  test.each([
    ["within=abc", "/api/active-users?within=abc", 'parameter "within" must be a whole number from 1 to 31622400, got "abc"'],
    ["within=0", "/api/active-users?within=0", 'parameter "within" must be a whole number from 1 to 31622400, got "0"'],
    ["within=-5", "/api/active-sessions?within=-5", 'parameter "within" must be a whole number from 1 to 31622400, got "-5"'],
    ["within=1.5", "/api/active-sessions?within=1.5", 'parameter "within" must be a whole number from 1 to 31622400, got "1.5"'],
    ["limit=5000", "/api/active-users?limit=5000", 'parameter "limit" must be a whole number from 1 to 1000, got "5000"'],
    ["a malformed user id", "/api/users/%E0%A4%A/sessions", 'parameter "userId" is not a valid URL-encoded string'],
    ["a user id of 2000 characters", `/api/users/${"u".repeat(2000)}/sessions`, 'parameter "userId" must be 1 to 1024 characters'],
  ])("GET with %s", async (_, path, message) => {
    const { origin, admin } = await adminApp();
    await request(origin).get(`/admin/sessions${path}`).set("Cookie", admin).expect(400, { error: message });
  });

  test.each([
    ["an empty reason", { reason: "" }, 'parameter "reason" must be a non-empty string of at most 200 characters'],
    ["a reason of 300 characters", { reason: "r".repeat(300) }, 'parameter "reason" must be a non-empty string of at most 200 characters'],
    ["a numeric reason", { reason: 7 }, 'parameter "reason" must be a non-empty string of at most 200 characters'],
    ["except of numbers", { except: [1, 2] }, 'parameter "except" must be a session id or an array of session ids'],
    ["a JSON array", [1], "the body must be a JSON object"],
  ])("POST users/:userId/sign-out with %s", async (_, body, message) => {
    const { origin, admin, signIn, store } = await adminApp();
    const device = await signIn("hank");
    await request(origin)
      .post("/admin/sessions/api/users/hank/sign-out")
      .set("Cookie", admin)
      .set("Origin", origin)
      .send(body as object)
      .expect(400, { error: message });
    expect(await store.get(device.id)).not.toBeNull();
  });

  test("a body that is not JSON: 400; one sent as another type: 415", async () => {
    const { origin, admin } = await adminApp();
    const post = () => request(origin).post("/admin/sessions/api/users/x/sign-out").set("Cookie", admin).set("Origin", origin);
    await post().set("Content-Type", "application/json").send("{oops").expect(400, { error: "the body is not valid JSON" });
    await post()
      .set("Content-Type", "text/plain")
      .send("reason=x")
      .expect(415, { error: 'the body must be JSON (header "Content-Type: application/json")' });
    await post()
      .set("Content-Type", "application/json")
      .send(JSON.stringify({ reason: "x".repeat(20_000) }))
      .expect(413);
  });
});

describe("state changes only from this origin", () => {
  test.each([
    ["no Origin and no Sec-Fetch-Site", {}],
    ["an Origin of another site", { Origin: "https://evil.example" }],
    ["an Origin of another port", { Origin: "http://127.0.0.1:1" }],
    ['Origin "null" (a sandboxed frame)', { Origin: "null" }],
    ["Sec-Fetch-Site: cross-site", { "Sec-Fetch-Site": "cross-site" }],
    ["Sec-Fetch-Site: same-site (a sibling subdomain)", { "Sec-Fetch-Site": "same-site" }],
  ])("%s: 403, and the session lives on", async (_, headers) => {
    const { origin, admin, signIn, store } = await adminApp();
    const device = await signIn("ivy");
    const res = await request(origin).post(`/admin/sessions/api/sessions/${device.id}/sign-out`).set("Cookie", admin).set(headers).send({});
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(/^cross-origin request refused/);
    await request(origin).post("/admin/sessions/api/users/ivy/sign-out").set("Cookie", admin).set(headers).expect(403);
    expect(await store.get(device.id)).not.toBeNull();
  });

  test("Sec-Fetch-Site: same-origin alone, or with the right Origin, is let through", async () => {
    const { origin, admin, signIn } = await adminApp();
    const a = await signIn("jo");
    const b = await signIn("jo");
    const path = (id: string) => `/admin/sessions/api/sessions/${id}/sign-out`;
    await request(origin).post(path(a.id)).set("Cookie", admin).set("Sec-Fetch-Site", "same-origin").expect(200);
    await request(origin).post(path(b.id)).set("Cookie", admin).set({ "Sec-Fetch-Site": "same-origin", Origin: origin }).expect(200);
  });

  test("allowedOrigins lets a named origin in (a proxy that rewrites Host)", async () => {
    const store = new RedisStore({ client, prefix: prefix() });
    const app = express();
    app.use(
      "/admin",
      adminRouter(store, { authorize: () => true, allowedOrigins: ["https://admin.example.com"], onError: () => undefined }),
    );
    const { server, port } = await listen(app);
    servers.push(server);
    await store.set("k1", { cookie: { originalMaxAge: 60_000 }, userId: "kim" } as never);
    const at = `http://127.0.0.1:${port}`;
    await request(at).post("/admin/api/sessions/k1/sign-out").set("Origin", "https://other.example.com").expect(403);
    await request(at).post("/admin/api/sessions/k1/sign-out").set("Origin", "https://admin.example.com").expect(200);
  });
});

describe("the page and its files", () => {
  test("security headers: a CSP with no inline code, nosniff, no caching, no framing", async () => {
    const { origin, admin } = await adminApp();
    for (const path of ["/admin/sessions", "/admin/sessions/", "/admin/sessions/admin.js", "/admin/sessions/api/active-users"]) {
      const res = await request(origin).get(path).set("Cookie", admin).expect(200);
      const csp = String(res.headers["content-security-policy"]);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.headers["x-frame-options"]).toBe("DENY");
    }
  });

  test("the page loads its script and stylesheet from the mount path and holds no inline script, style or handler", async () => {
    const { origin, admin } = await adminApp();
    const page = await request(origin).get("/admin/sessions").set("Cookie", admin).expect(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.text).toContain('<script src="/admin/sessions/admin.js" defer></script>');
    expect(page.text).toContain('<link rel="stylesheet" href="/admin/sessions/admin.css">');
    expect(page.text.match(/<script\b[^>]*>/g)).toEqual(['<script src="/admin/sessions/admin.js" defer>']);
    expect(page.text).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    const js = await request(origin).get("/admin/sessions/admin.js").set("Cookie", admin).expect(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.text).not.toContain("innerHTML");
    const css = await request(origin).get("/admin/sessions/admin.css").set("Cookie", admin).expect(200);
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
  });
});

describe("mounted in express 4", () => {
  test("behind express.urlencoded() (which sets req.body = {} without reading a JSON body): the reason still arrives", async () => {
    const { origin, admin, signIn, store } = await adminApp({
      framework: "express 4",
      before: [express4.urlencoded({ extended: false }) as never],
    });
    const device = await signIn("lee");
    const page = await request(origin).get("/admin/sessions").set("Cookie", admin).expect(200);
    expect(page.text).toContain('src="/admin/sessions/admin.js"');
    await request(origin)
      .post(`/admin/sessions/api/sessions/${device.id}/sign-out`)
      .set("Cookie", admin)
      .set("Origin", origin)
      .send({ reason: "from express 4" })
      .expect(200);
    expect((await store.revocation(device.id))?.reason).toBe("from express 4");
  });

  test("behind express.json(): the body it parsed is used", async () => {
    const { origin, admin, signIn, store } = await adminApp({ framework: "express 4", before: [express4.json() as never] });
    const device = await signIn("max");
    await request(origin)
      .post("/admin/sessions/api/users/max/sign-out")
      .set("Cookie", admin)
      .set("Origin", origin)
      .send({ reason: "parsed" });
    expect((await store.revocation(device.id))?.reason).toBe("parsed");
  });
});

test("the Koa and React Router adapters' store (RedisSessions) serves the admin router too", async () => {
  const sessions = new RedisSessions({ client, prefix: prefix() });
  await sessions.set("koa-1", { userId: "nina" });
  await sessions.set("koa-2", { userId: "nina" });
  const app = express();
  app.use("/admin", adminRouter(sessions, { authorize: () => true }));
  const { server, port } = await listen(app);
  servers.push(server);
  const at = `http://127.0.0.1:${port}`;
  const listed = await request(at).get("/admin/api/users/nina/sessions").expect(200);
  expect(listed.body.sessions.map((s: { id: string }) => s.id).sort()).toEqual(["koa-1", "koa-2"]);
  await request(at)
    .delete("/admin/api/sessions/koa-1")
    .set("Origin", at)
    .expect(200, { id: "koa-1", userId: "nina", signedOut: true, reason: "admin" });
  expect((await sessions.revocation("koa-1"))?.reason).toBe("admin");
  await request(at).post("/admin/api/users/nina/sign-out").set("Origin", at).send({ reason: "koa" }).expect(200);
  expect(await sessions.get("koa-2")).toBeNull();
});

test("Redis down: 503 saying so, and onError hears the store's error", async () => {
  const server = await startRedis();
  const own = createClient({ url: server.url, socket: { reconnectStrategy: () => 100 } });
  own.on("error", () => undefined);
  await own.connect();
  try {
    const store = new RedisStore({ client: own, prefix: prefix(), commandTimeout: 500 });
    const heard: unknown[] = [];
    const app = express();
    app.use("/admin", adminRouter(store, { authorize: () => true, onError: (error) => heard.push(error) }));
    const { server: http, port } = await listen(app);
    servers.push(http);
    await request(`http://127.0.0.1:${port}`).get("/admin/api/users/u/sessions").expect(200);
    await server.stop();
    const res = await request(`http://127.0.0.1:${port}`).get("/admin/api/users/u/sessions").expect(503);
    expect(res.body).toEqual({ error: "the session store is unavailable; try again shortly" });
    expect(heard).toHaveLength(1);
    expect((heard[0] as Error).name).toBe("RedisUnavailableError");
  } finally {
    own.destroy();
    await server.stop();
    removeDir(server);
  }
});
