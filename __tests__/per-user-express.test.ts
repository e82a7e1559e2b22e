/**
 * The per-user session index through a real express app: one supertest agent per device, a private
 * redis-server, and the raw index ZSET checked against the truth the test knows.
 */
import type { Server } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import { createClient } from "redis";
import request from "supertest";
import { RedisStore } from "../lib/index";
import { sidOfMember } from "../lib/keys";
import { ACTIVITY_RESOLUTION_MS } from "../lib/scripts/lua";
import { type RedisServer, removeDir, startRedis, waitFor } from "./helpers/redis-server";

jest.setTimeout(30000);

type Sess = session.Session & { userId?: string; hits?: number };
type Device = ReturnType<typeof request.agent>;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
const servers: Server[] = [];

function makeApp(store: RedisStore, cookie: session.CookieOptions = {}): Server {
  const app = express();
  app.use(session({ store, secret: "per-user-secret", resave: false, saveUninitialized: false, name: "sid", cookie }));
  app.post("/login/:user", (req, res) => {
    (req.session as Sess).userId = String(req.params.user);
    res.json({ sid: req.sessionID });
  });
  // Logout that keeps the (now anonymous) session: delete the user id, then save.
  app.post("/logout", (req, res, next) => {
    delete (req.session as Sess).userId;
    req.session.save((error) => (error ? next(error) : res.json({ sid: req.sessionID })));
  });
  app.post("/destroy", (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })));
  });
  app.post("/logout-others", async (req, res) => {
    const destroyed = await store.destroyUserSessions(String((req.session as Sess).userId), { except: req.sessionID });
    res.json({ destroyed });
  });
  app.post("/activity", (req, res) => {
    const s = req.session as Sess;
    s.hits = (s.hits ?? 0) + 1;
    res.json({ sid: req.sessionID, hits: s.hits });
  });
  app.get("/me", (req, res) => {
    res.json({ sid: req.sessionID, userId: (req.session as Sess).userId ?? null });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    res.status(500).json({ error: String(error) });
  });
  const server = app.listen(0, "127.0.0.1");
  servers.push(server);
  return server;
}

async function listening(server: Server): Promise<Server> {
  if (!server.listening) await new Promise((resolve) => server.once("listening", resolve));
  return server;
}

async function devices(server: Server, count: number): Promise<Device[]> {
  await listening(server);
  return Array.from({ length: count }, () => request.agent(server));
}

async function login(device: Device, user: string): Promise<string> {
  const res = await device.post(`/login/${encodeURIComponent(user)}`).expect(200);
  return res.body.sid as string;
}

async function whoAmI(device: Device): Promise<string | null> {
  return (await device.get("/me").expect(200)).body.userId as string | null;
}

async function listed(store: RedisStore, user: string): Promise<string[]> {
  return (await store.listUserSessions(user)).map((s) => s.id).sort();
}

/** The raw members of a user's index ZSET. */
async function rawIndex(store: RedisStore, user: string): Promise<string[]> {
  return (await client.zRange(`${store.options.indexPrefix}user:${user}`, 0, -1)).map(sidOfMember).sort();
}

/** Waits until the clock has moved past `ms`, so two activities get different timestamps. */
async function clockPast(ms: number): Promise<void> {
  await waitFor(() => Date.now() > ms, 1000, "the clock to move");
}

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  client.on("error", () => undefined);
  await client.connect();
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  client.destroy();
  await redis.stop();
  removeDir(redis);
});

describe("one user on several devices", () => {
  let store: RedisStore;
  let server: Server;

  beforeAll(() => {
    store = new RedisStore({ client });
    server = makeApp(store);
  });

  test("3 devices log in as the same user: listUserSessions shows all 3", async () => {
    const [a, b, c] = await devices(server, 3);
    const sids = [await login(a!, "alice"), await login(b!, "alice"), await login(c!, "alice")].sort();
    expect(new Set(sids).size).toBe(3);
    expect(await listed(store, "alice")).toEqual(sids);
    expect(await store.countUserSessions("alice")).toBe(3);
    const sessions = await store.listUserSessions("alice");
    for (const s of sessions) expect(s.session).toMatchObject({ userId: "alice" });
    expect(await rawIndex(store, "alice")).toEqual(sids);
  });

  test('"sign out everywhere else" keeps the current device; the other two are logged out on their next request', async () => {
    const [current, other1, other2] = await devices(server, 3);
    const keep = await login(current!, "bruno");
    const gone = [await login(other1!, "bruno"), await login(other2!, "bruno")];
    expect((await current!.post("/logout-others").expect(200)).body).toEqual({ destroyed: 2 });

    expect(await whoAmI(current!)).toBe("bruno");
    expect(await whoAmI(other1!)).toBeNull();
    expect(await whoAmI(other2!)).toBeNull();
    expect(await listed(store, "bruno")).toEqual([keep]);
    for (const sid of gone) expect(await store.get(sid)).toBeNull();
    // The current device keeps working and saving.
    expect((await current!.post("/activity").expect(200)).body).toEqual({ sid: keep, hits: 1 });
    expect(await listed(store, "bruno")).toEqual([keep]);
    expect(await rawIndex(store, "bruno")).toEqual([keep]);
  });

  test("a user switch in one session (log in as B) moves it to B's list only", async () => {
    const [device, other] = await devices(server, 2);
    const sid = await login(device!, "carla");
    const othersSid = await login(other!, "carla");
    expect(await listed(store, "carla")).toEqual([sid, othersSid].sort());
    expect(await login(device!, "dario")).toBe(sid); // same session, new owner
    expect(await listed(store, "carla")).toEqual([othersSid]);
    expect(await listed(store, "dario")).toEqual([sid]);
    expect(await rawIndex(store, "carla")).toEqual([othersSid]);
    expect(await rawIndex(store, "dario")).toEqual([sid]);
    expect(await whoAmI(device!)).toBe("dario");
  });

  test("logout (delete req.session.userId, then save) removes the session from the list; it lives on anonymous", async () => {
    const [device, other] = await devices(server, 2);
    const sid = await login(device!, "elena");
    const othersSid = await login(other!, "elena");
    expect((await device!.post("/logout").expect(200)).body).toEqual({ sid });
    expect(await listed(store, "elena")).toEqual([othersSid]);
    expect(await rawIndex(store, "elena")).toEqual([othersSid]);
    expect(await whoAmI(device!)).toBeNull();
    const anonymous = (await store.get(sid)) as Sess | null;
    expect(anonymous).not.toBeNull();
    expect(anonymous?.userId).toBeUndefined();
  });
});

describe("maxSessionsPerUser: 2", () => {
  test("a 3rd login evicts the least recently active session, never the one logging in", async () => {
    const store = new RedisStore({ client, prefix: "limited:", maxSessionsPerUser: 2 });
    const server = makeApp(store);
    const [d1, d2, d3] = await devices(server, 3);
    const s1 = await login(d1!, "fay");
    await clockPast(Date.now());
    const s2 = await login(d2!, "fay");
    // Activity is recorded at most once a second per session: d1's next request must come later than that.
    await new Promise((resolve) => setTimeout(resolve, ACTIVITY_RESOLUTION_MS + 5));
    await d1!.post("/activity").expect(200); // d1 is now more recent than d2
    await clockPast(Date.now());
    expect(await listed(store, "fay")).toEqual([s1, s2].sort());

    const s3 = await login(d3!, "fay");
    expect(await listed(store, "fay")).toEqual([s1, s3].sort());
    expect(await store.get(s2)).toBeNull();
    expect(await whoAmI(d2!)).toBeNull();
    expect(await whoAmI(d1!)).toBe("fay");
    expect(await whoAmI(d3!)).toBe("fay");
    expect(await rawIndex(store, "fay")).toEqual([s1, s3].sort());
    // Most recent first.
    expect((await store.listUserSessions("fay")).map((s) => s.id)).toEqual([s3, s1]);
  });
});

describe("expiry", () => {
  test("an expired session (cookie maxAge 300 ms) leaves the index when it is read, with no timer in the store", async () => {
    // Two store objects on the same keys: express-session sets store.generate per app, so apps must not share one.
    const store = new RedisStore({ client, prefix: "expiry:" });
    const shortLived = makeApp(store, { maxAge: 300 });
    const longLived = makeApp(new RedisStore({ client, prefix: "expiry:" }), { maxAge: 60000 });
    const [short1, short2] = await devices(shortLived, 2);
    const [long] = await devices(longLived, 1);
    const gone = [await login(short1!, "gus"), await login(short2!, "gus")];
    const stays = await login(long!, "gus");
    const everyone = [...gone, stays].sort();
    // Right after login (well under 300 ms on any machine) all three are listed... unless the machine is very slow.
    const early = await listed(store, "gus");
    expect(early.every((sid) => everyone.includes(sid))).toBe(true);
    expect(early).toContain(stays);

    await waitFor(async () => (await listed(store, "gus")).length === 1, 10000, "the short sessions to leave the list");
    expect(await listed(store, "gus")).toEqual([stays]);
    expect(await rawIndex(store, "gus")).toEqual([stays]);
    for (const sid of gone) expect(await client.exists(`expiry:${sid}`)).toBe(0);

    // A user whose every session expired: the index key itself goes away (ZCARD 0 after reading).
    const [lone] = await devices(shortLived, 1);
    await login(lone!, "hana");
    await waitFor(async () => (await store.listUserSessions("hana")).length === 0, 10000, "hana's session to expire");
    expect(await client.zCard(`${store.options.indexPrefix}user:hana`)).toBe(0);
    expect(await store.countUserSessions("hana")).toBe(0);
  });
});

describe("200 concurrent logins and logouts for one user", () => {
  test("listUserSessions equals the truth, and the raw index has no extra members after a list", async () => {
    const store = new RedisStore({ client, prefix: "crowd:" });
    const server = makeApp(store);
    const N = 200;
    const agents = await devices(server, N);
    const truth = new Map<number, string>(); // device -> sid, while logged in as "crowd"
    const mistakes: string[] = [];

    await Promise.all(
      agents.map(async (device, i) => {
        const sid = await login(device, "crowd");
        truth.set(i, sid);
        switch (i % 5) {
          case 0: // stays logged in
            break;
          case 1: // logs out, session stays anonymous
            await device.post("/logout").expect(200);
            truth.delete(i);
            break;
          case 2: {
            // logs out, then in again (same session)
            await device.post("/logout").expect(200);
            truth.delete(i);
            const again = await login(device, "crowd");
            if (again !== sid) mistakes.push(`device ${i}: session id changed on re-login`);
            truth.set(i, again);
            break;
          }
          case 3: {
            // destroys the session, then logs in with a fresh one
            await device.post("/destroy").expect(200);
            truth.delete(i);
            const fresh = await login(device, "crowd");
            if (fresh === sid) mistakes.push(`device ${i}: destroyed session id reused`);
            truth.set(i, fresh);
            if (i % 10 === 8) {
              await device.post("/destroy").expect(200);
              truth.delete(i);
            }
            break;
          }
          case 4: // switches to another user
            await login(device, `someone-else-${i}`);
            truth.delete(i);
            break;
        }
      }),
    );
    expect(mistakes).toEqual([]);

    const expected = [...truth.values()].sort();
    expect(expected.length).toBe(80 + 20); // cases 0 and 2 (40 each), and half of case 3
    expect(await listed(store, "crowd")).toEqual(expected);
    expect(await store.countUserSessions("crowd")).toBe(expected.length);
    expect(await rawIndex(store, "crowd")).toEqual(expected);
    // Every device agrees with the index.
    const who = await Promise.all(agents.map((device) => whoAmI(device)));
    expect(who.filter((user) => user === "crowd").length).toBe(expected.length);
    for (let i = 4; i < N; i += 5) expect(await listed(store, `someone-else-${i}`)).toHaveLength(1);
  });
});
