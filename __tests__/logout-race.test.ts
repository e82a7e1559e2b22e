/**
 * "Logout is final": a request that loaded a session before logout and saves (or touches) it after
 * must not bring it back. Real concurrent HTTP requests through express + express-session against
 * private servers; the only thing the test controls is when the slow request may go on. One suite,
 * run with every client on a standalone Redis and with two of them on a Cluster.
 */
import type { Server } from "node:http";
import express, { type NextFunction, type Request, type Response } from "express";
import session from "express-session";
import { RedisStore } from "../lib/index";
import { type ClientHandle, type ClientName, makeClient, type TopologyName } from "./helpers/clients";
import { CookieJar, closeServer, type Deferred, deferred, listen, send } from "./helpers/http-client";
import { CLIENTS, setups, tagOf, useServers } from "./helpers/setups";

jest.setTimeout(60000);

type Sess = session.Session & { userId?: string; hits?: number; data?: string };

const RACES = 1000;
const BATCH = 100;
const EXCEPT_RACES = 300;

const SETUPS = setups({ standalone: CLIENTS, cluster: ["node-redis 6", "ioredis 5"] });
const servers = useServers(SETUPS);

/** Requests parked inside a route until the test lets them go on, by token. */
interface Hold {
  loaded: Deferred<{ sid: string; userId: string | null }>;
  release: Deferred<void>;
}

function makeApp(store: RedisStore) {
  const holds = new Map<string, Hold>();
  const hold = (token: string): Hold => {
    let found = holds.get(token);
    if (!found) {
      found = { loaded: deferred(), release: deferred() };
      holds.set(token, found);
    }
    return found;
  };
  const app = express();
  app.use(express.json());
  app.use(session({ store, secret: "race-secret", resave: false, saveUninitialized: false, name: "sid" }));
  app.post("/login", (req, res) => {
    const s = req.session as Sess;
    s.userId = String(req.query.user);
    if (typeof req.query.data === "string") s.data = req.query.data;
    res.json({ sid: req.sessionID });
  });
  // Request A: loads the session, waits for the test, then modifies it (store.set) or not (store.touch).
  app.get("/slow", async (req, res) => {
    const s = req.session as Sess;
    const h = hold(String(req.query.token));
    h.loaded.resolve({ sid: req.sessionID, userId: s.userId ?? null });
    await h.release.promise;
    if (req.query.modify === "1") s.hits = (s.hits ?? 0) + 1;
    res.json({ sid: req.sessionID, userId: s.userId ?? null });
  });
  // Request B, three ways to log out.
  app.post("/logout", (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })));
  });
  app.post("/logout-all", async (req, res) => {
    const destroyed = await store.destroyUserSessions(String((req.session as Sess).userId));
    res.json({ destroyed });
  });
  app.post("/logout-others", async (req, res) => {
    const destroyed = await store.destroyUserSessions(String((req.session as Sess).userId), { except: req.sessionID });
    res.json({ destroyed });
  });
  app.get("/me", (req, res) => {
    const s = req.session as Sess;
    res.json({ sid: req.sessionID, userId: s.userId ?? null, hits: s.hits ?? 0, data: s.data ?? null });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    res.status(500).json({ error: String(error) });
  });
  return { app, hold, holds };
}

/** Runs `count` tasks, `batch` at a time in parallel. */
async function inBatches(count: number, batch: number, task: (i: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, k) => task(start + k)));
  }
}

describe.each(SETUPS)("%s", (_label, clientName: ClientName, topology: TopologyName) => {
  let h: ClientHandle;
  const tag = `${tagOf(clientName, topology)}-${process.pid}`;
  const race = `race-${tag}:`;

  beforeAll(async () => {
    h = await makeClient(clientName, topology, servers.target(topology));
  });

  afterAll(async () => {
    await h?.close();
  });

  async function exists(key: string): Promise<boolean> {
    return Number(await h.command(["EXISTS", key])) === 1;
  }

  describe("logout is final: a request that loaded the session before logout cannot revive it", () => {
    let store: RedisStore;
    let http: { server: Server; port: number };
    let hold: (token: string) => Hold;
    let holds: Map<string, Hold>;
    /** The second "process": its own store on its own connection, behind its own HTTP server. */
    let other: { h: ClientHandle; store: RedisStore; http: { server: Server; port: number } };

    beforeAll(async () => {
      store = new RedisStore({ client: h.client, prefix: race });
      const made = makeApp(store);
      hold = made.hold;
      holds = made.holds;
      http = await listen(made.app);
      const otherClient = await makeClient(clientName, topology, servers.target(topology));
      const otherStore = new RedisStore({ client: otherClient.client, prefix: race });
      other = { h: otherClient, store: otherStore, http: await listen(makeApp(otherStore).app) };
    });

    afterAll(async () => {
      for (const h of holds.values()) h.release.resolve();
      await closeServer(http.server);
      await closeServer(other.http.server);
      await other.h.close();
    });

    test.each([
      ["one process", false],
      ["two processes: the logout reaches another process than the slow request", true],
    ])(
      `${RACES} races, %s: A loads, B logs out, A saves or touches afterwards (or at the same time): 0 revivals`,
      async (_, twoProcesses) => {
        const logoutPort = twoProcesses ? other.http.port : http.port;
        const logouts = ["/logout", "/logout-all"] as const;
        const revived: string[] = [];
        const problems: string[] = [];
        const seen = { saves: 0, touches: 0, ordered: 0, simultaneous: 0 };

        await inBatches(RACES, BATCH, async (i) => {
          const jar = new CookieJar();
          const user = `racer-${i}`;
          const login = await send(http.port, "POST", `/login?user=${user}`, { jar });
          if (login.status !== 200) {
            problems.push(`race ${i}: login ${login.status} ${login.body}`);
            return;
          }
          const sid: string = login.json.sid;
          const token = `t${i}`;
          const modify = i % 4 !== 3; // 3 of 4 save (store.set), 1 of 4 only touches
          const simultaneous = i % 5 === 4; // 1 of 5: B and A's save race freely
          const logout = logouts[i % 2] as string;
          if (modify) seen.saves++;
          else seen.touches++;
          if (simultaneous) seen.simultaneous++;
          else seen.ordered++;

          const a = send(http.port, "GET", `/slow?token=${token}&modify=${modify ? 1 : 0}`, { jar });
          const loaded = await hold(token).loaded.promise;
          if (loaded.sid !== sid || loaded.userId !== user) problems.push(`race ${i}: A loaded ${JSON.stringify(loaded)}`);

          let b: ReturnType<typeof send>;
          if (simultaneous) {
            b = send(logoutPort, "POST", logout, { jar });
            hold(token).release.resolve();
          } else {
            b = send(logoutPort, "POST", logout, { jar });
            const done = await b;
            if (done.status !== 200) problems.push(`race ${i}: logout ${done.status} ${done.body}`);
            hold(token).release.resolve();
          }
          const [aDone, bDone] = await Promise.all([a, b]);
          holds.delete(token);
          if (aDone.status !== 200) problems.push(`race ${i}: A ${aDone.status} ${aDone.body}`);
          if (bDone.status !== 200) problems.push(`race ${i}: B ${bDone.status} ${bDone.body}`);

          if ((await exists(`${race}${sid}`)) || (await store.get(sid)) !== null)
            revived.push(`${sid} (${modify ? "set" : "touch"}, ${simultaneous ? "simultaneous" : "after"} ${logout})`);
          if ((await store.listUserSessions(user)).length !== 0) problems.push(`race ${i}: ${user} still lists a session`);
        });

        expect(problems).toEqual([]);
        expect(seen).toEqual({ saves: 750, touches: 250, ordered: 800, simultaneous: 200 });
        // The figure this file exists for: revivals out of RACES.
        expect(`${revived.length}/${RACES} revived: ${revived.slice(0, 5).join(", ")}`).toBe(`0/${RACES} revived: `);
      },
    );

    test("touch() after destroy() does not revive, in the store and through express", async () => {
      const sess = { cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000) }, userId: "toucher" } as any;
      await store.set("touched-after-destroy", sess);
      await store.destroy("touched-after-destroy");
      await store.touch("touched-after-destroy", sess);
      await store.touch("touched-after-destroy", { ...sess, cookie: { ...sess.cookie, expires: new Date(Date.now() + 120000) } });
      expect(await exists(`${race}touched-after-destroy`)).toBe(false);
      expect(await store.get("touched-after-destroy")).toBeNull();
      expect(await store.listUserSessions("toucher")).toEqual([]);
      expect(await store.countUserSessions("toucher")).toBe(0);

      // Through express: A only reads (express-session then calls store.touch) after B destroyed the session.
      const jar = new CookieJar();
      const login = await send(http.port, "POST", "/login?user=toucher2", { jar });
      const a = send(http.port, "GET", "/slow?token=touch-http&modify=0", { jar });
      await hold("touch-http").loaded.promise;
      expect((await send(http.port, "POST", "/logout", { jar })).status).toBe(200);
      hold("touch-http").release.resolve();
      expect((await a).status).toBe(200);
      expect(await exists(`${race}${login.json.sid}`)).toBe(false);
      expect(await store.get(login.json.sid)).toBeNull();
      // A set() after the touch is still refused: the tombstone outlives the touch.
      await store.set(login.json.sid, sess);
      expect(await exists(`${race}${login.json.sid}`)).toBe(false);
      expect(await store.listUserSessions("toucher2")).toEqual([]);
    });
  });

  describe("concurrent writes to different sessions never lose each other", () => {
    test("500 sessions logged in and then modified concurrently through express: all present with the right content", async () => {
      const store = new RedisStore({ client: h.client, prefix: `many-${tag}:` });
      const { app, hold, holds } = makeApp(store);
      const http = await listen(app);
      try {
        const N = 500;
        const jars = Array.from({ length: N }, () => new CookieJar());
        const logins = await Promise.all(
          jars.map((jar, i) => send(http.port, "POST", `/login?user=user-${i % 50}&data=payload-${i}`, { jar })),
        );
        expect(logins.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
        const sids = logins.map((r) => r.json.sid as string);
        expect(new Set(sids).size).toBe(N);

        // All 500 load, then all save at once.
        const slow = jars.map((jar, i) => send(http.port, "GET", `/slow?token=w${i}&modify=1`, { jar }));
        await Promise.all(jars.map((_, i) => hold(`w${i}`).loaded.promise));
        for (let i = 0; i < N; i++) hold(`w${i}`).release.resolve();
        expect((await Promise.all(slow)).filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
        holds.clear();

        const lost: string[] = [];
        await Promise.all(
          sids.map(async (sid, i) => {
            const s = (await store.get(sid)) as Sess | null;
            if (!s || s.userId !== `user-${i % 50}` || s.data !== `payload-${i}` || s.hits !== 1) lost.push(`${i}: ${JSON.stringify(s)}`);
          }),
        );
        expect(lost).toEqual([]);
        expect(await store.length()).toBe(N);
        expect((await store.ids()).sort()).toEqual([...sids].sort());
        const all = await store.all();
        expect(all).toHaveLength(N);
        for (const s of all as unknown as (Sess & { id: string })[]) expect(s.data).toBe(`payload-${sids.indexOf(s.id)}`);
        // Through express too: every device still sees its own session.
        const me = await Promise.all(jars.map((jar) => send(http.port, "GET", "/me", { jar })));
        expect(me.map((r) => r.json?.data)).toEqual(sids.map((_, i) => `payload-${i}`));
        // And the per-user index has every one of them.
        for (let u = 0; u < 50; u++) {
          expect((await store.listUserSessions(`user-${u}`)).map((s) => s.id).sort()).toEqual(sids.filter((_, i) => i % 50 === u).sort());
        }
      } finally {
        for (const h of holds.values()) h.release.resolve();
        await closeServer(http.server);
      }
    });
  });

  describe("destroyUserSessions with except: the others stay logged out, the kept session still saves", () => {
    test(`${EXCEPT_RACES} races: requests on both devices loaded before "sign out everywhere else", saved after`, async () => {
      const store = new RedisStore({ client: h.client, prefix: `except-${tag}:` });
      const { app, hold, holds } = makeApp(store);
      const http = await listen(app);
      const revived: string[] = [];
      const problems: string[] = [];
      try {
        await inBatches(EXCEPT_RACES, BATCH, async (i) => {
          const user = `two-devices-${i}`;
          const keepJar = new CookieJar();
          const victimJar = new CookieJar();
          const keep = (await send(http.port, "POST", `/login?user=${user}`, { jar: keepJar })).json.sid as string;
          const victim = (await send(http.port, "POST", `/login?user=${user}`, { jar: victimJar })).json.sid as string;
          const modify = i % 3 !== 2;
          const onKeep = send(http.port, "GET", `/slow?token=k${i}&modify=1`, { jar: keepJar });
          const onVictim = send(http.port, "GET", `/slow?token=v${i}&modify=${modify ? 1 : 0}`, { jar: victimJar });
          await Promise.all([hold(`k${i}`).loaded.promise, hold(`v${i}`).loaded.promise]);
          const signOut = await send(http.port, "POST", "/logout-others", { jar: keepJar });
          if (signOut.status !== 200 || signOut.json.destroyed !== 1)
            problems.push(`race ${i}: logout-others ${signOut.status} ${signOut.body}`);
          hold(`k${i}`).release.resolve();
          hold(`v${i}`).release.resolve();
          const [k, v] = await Promise.all([onKeep, onVictim]);
          holds.delete(`k${i}`);
          holds.delete(`v${i}`);
          if (k.status !== 200 || v.status !== 200) problems.push(`race ${i}: A ${k.status}/${v.status}`);

          if ((await exists(`except-${tag}:${victim}`)) || (await store.get(victim)) !== null) revived.push(victim);
          const kept = (await store.get(keep)) as Sess | null;
          if (!kept || kept.userId !== user || kept.hits !== 1) problems.push(`race ${i}: kept session ${JSON.stringify(kept)}`);
          const listed = (await store.listUserSessions(user)).map((s) => s.id);
          if (listed.length !== 1 || listed[0] !== keep)
            problems.push(`race ${i}: ${user} lists ${JSON.stringify(listed)}, expected [${keep}]`);
          const victimMe = await send(http.port, "GET", "/me", { jar: victimJar });
          if (victimMe.json?.userId !== null) problems.push(`race ${i}: the signed-out device still sees ${victimMe.body}`);
        });
      } finally {
        for (const h of holds.values()) h.release.resolve();
        await closeServer(http.server);
      }
      expect(problems).toEqual([]);
      expect(`${revived.length}/${EXCEPT_RACES} revived`).toBe(`0/${EXCEPT_RACES} revived`);
    });
  });
});
