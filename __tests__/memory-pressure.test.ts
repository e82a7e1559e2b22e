/**
 * Redis full under `noeviction` (private servers started with --maxmemory and the policy, then
 * filled with other data until Redis refuses a write): a logout, a regenerate and "sign out
 * everywhere" still remove sessions, a touch still extends one and records its activity, and a
 * save fails with Redis's own OOM error while the old value stays. On a single Redis and on Cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import express from "express";
import session, { type SessionData } from "express-session";
import { createClient } from "redis";
import request from "supertest";
import { RedisStore } from "../lib/index";
import { Keys, keySlot } from "../lib/keys";
import { type ClientHandle, makeClient } from "./helpers/clients";
import { startCluster, type TestCluster } from "./helpers/cluster";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

jest.setTimeout(60000);

type Sess = SessionData & { userId?: string; n?: number; pad?: string };
const FULL = ["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"];

function sess(extra: Record<string, unknown> = {}, ms = 600_000): Sess {
  return { cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: "/" }, ...extra } as unknown as Sess;
}

/** "field:value" of INFO memory. */
function memory(info: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\d+)`, "m").exec(info)?.[1]);
}

/**
 * Fills Redis past maxmemory: one filler string grown by SETRANGE to the headroom plus 64 KiB. The
 * command itself is small, so Redis (which checks memory before a command runs, counting the
 * command's own bytes) accepts it; from then on every write that may grow memory is refused,
 * whatever a connection's buffers weigh. Confirmed by a small write refused with OOM.
 */
async function fill(send: (args: string[]) => Promise<unknown>, tag: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const info = String(await send(["INFO", "memory"]));
    const headroom = memory(info, "maxmemory") - memory(info, "used_memory");
    try {
      await send(["SETRANGE", `filler:{${tag}}:${i}`, String(Math.max(headroom, 0) + 64 * 1024), "x"]);
    } catch (error) {
      if (/^OOM/.test(String((error as Error).message))) return;
      throw error;
    }
  }
  throw new Error("Redis never refused a write: is maxmemory set?");
}

interface Setup {
  client: unknown;
  /** Fills every master until it refuses writes. */
  fill(): Promise<void>;
  /** Empties every master (private servers only). */
  flush(): Promise<void>;
  pTTL(key: string): Promise<number>;
  exists(key: string): Promise<boolean>;
  get(key: string): Promise<string | null>;
  close(): Promise<void>;
}

let single: RedisServer;
let singleClient: ReturnType<typeof createClient>;
let cluster: TestCluster;
let clusterHandle: ClientHandle;
/** A hash tag served by each master, to fill them all. */
let masterTags: string[] = [];

beforeAll(async () => {
  [single, cluster] = await Promise.all([startRedis({ args: FULL }), startCluster({ args: FULL })]);
  singleClient = createClient({ url: single.url });
  await singleClient.connect();
  clusterHandle = await makeClient(6, "cluster", cluster);
  const byMaster = new Map<number, string>();
  for (let n = 0; byMaster.size < cluster.masters.length && n < 10_000; n++) {
    const master = await cluster.masterOfSlot(keySlot(`{t${n}}`));
    if (!byMaster.has(master.port)) byMaster.set(master.port, `t${n}`);
  }
  masterTags = [...byMaster.values()];
}, 90000);

afterAll(async () => {
  singleClient?.destroy();
  await clusterHandle?.close();
  await Promise.all([single?.stop().then(() => removeDir(single)), cluster?.stop()]);
}, 30000);

const setups: Array<[string, () => Setup]> = [
  [
    "single Redis",
    () => ({
      client: singleClient,
      fill: () => fill((args) => singleClient.sendCommand(args), "single"),
      flush: async () => {
        await singleClient.flushAll();
      },
      pTTL: (key) => singleClient.pTTL(key),
      exists: async (key) => (await singleClient.exists(key)) === 1,
      get: (key) => singleClient.get(key),
      close: async () => undefined,
    }),
  ],
  [
    "Cluster",
    () => ({
      client: clusterHandle.client,
      fill: async () => {
        for (const tag of masterTags) await fill((args) => clusterHandle.command(args, `{${tag}}`), tag);
      },
      flush: async () => {
        for (const tag of masterTags) await clusterHandle.command(["FLUSHALL"], `{${tag}}`);
      },
      pTTL: async (key) => Number(await clusterHandle.command(["PTTL", key])),
      exists: async (key) => Number(await clusterHandle.command(["EXISTS", key])) === 1,
      get: async (key) => (await clusterHandle.command<string | null>(["GET", key])) ?? null,
      close: async () => undefined,
    }),
  ],
];

let run = 0;

describe.each(setups)("Redis full (noeviction), %s", (_name, setup) => {
  let h: Setup;
  let store: RedisStore;
  let prefix: string;
  beforeAll(() => {
    h = setup();
  });
  beforeEach(async () => {
    await h.flush();
    prefix = `full-${process.pid}-${++run}:`;
    store = new RedisStore({ client: h.client as never, prefix, touchAfter: 0 });
  });

  test("set() fails with Redis's own OOM error, and the old value stays", async () => {
    await store.set("s1", sess({ userId: "ann", n: 1 }));
    await h.fill();
    await expect(store.set("s1", sess({ userId: "ann", n: 2, pad: "y".repeat(1000) }))).rejects.toThrow(/^OOM/);
    expect(((await store.get("s1")) as Sess).n).toBe(1);
    expect((await store.listUserSessions("ann")).map((s) => s.id)).toEqual(["s1"]);
  });

  test("touch() extends the expiry and records the activity", async () => {
    await store.set("s2", sess({ userId: "bob" }, 60_000));
    await h.fill();
    const before = (await store.listUserSessions("bob"))[0]?.lastActive?.getTime() ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 1100)); // activity is recorded once a second at most
    await store.touch("s2", sess({ userId: "bob" }, 600_000));
    expect(await h.pTTL(`${prefix}s2`)).toBeGreaterThan(60_000);
    const listed = await store.listUserSessions("bob");
    expect(listed.map((s) => s.id)).toEqual(["s2"]);
    expect(listed[0]?.lastActive?.getTime()).toBeGreaterThan(before);
    expect(listed[0]?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 60_000);
  });

  test("destroy() (logout) removes the session and keeps it removed", async () => {
    await store.set("s3", sess({ userId: "cy" }));
    await h.fill();
    await store.destroy("s3");
    expect(await h.exists(`${prefix}s3`)).toBe(false);
    // Its tombstone was written after the session was removed, Redis full or not.
    expect(await h.get(new Keys(prefix, store.options.indexPrefix).meta("s3"))).toMatch(/^D\d+:logout$/);
    expect(await store.get("s3")).toBeNull();
    expect(await store.listUserSessions("cy")).toEqual([]);
    // A late save (Redis full again or not) never brings it back: refused by OOM or by the tombstone.
    await h.fill();
    await store.set("s3", sess({ userId: "cy" })).catch(() => undefined);
    await store.touch("s3", sess({ userId: "cy" })).catch(() => undefined);
    expect(await h.exists(`${prefix}s3`)).toBe(false);
  });

  test("destroyUserSessions() (sign out everywhere) removes every session of the user", async () => {
    for (let i = 0; i < 5; i++) await store.set(`d${i}`, sess({ userId: "dee" }));
    await h.fill();
    expect(await store.destroyUserSessions("dee")).toBe(5);
    for (let i = 0; i < 5; i++) expect(await h.exists(`${prefix}d${i}`)).toBe(false);
  });

  test("regenerate() through express-session removes the old session", async () => {
    const app = express();
    app.use(session({ store, secret: "full", resave: false, saveUninitialized: false }));
    app.post("/login", (req, res) => {
      (req.session as unknown as Sess).userId = "eve";
      res.json({ id: req.sessionID });
    });
    app.post("/regenerate", (req, res, next) => {
      const old = req.sessionID;
      req.session.regenerate((error) => (error ? next(error) : res.json({ old, id: req.sessionID })));
    });
    const login = await request(app).post("/login").expect(200);
    const cookie = String(login.headers["set-cookie"]?.[0]).split(";")[0] as string;
    await h.fill();
    const regenerated = await request(app).post("/regenerate").set("Cookie", cookie).expect(200);
    expect(regenerated.body.old).toBe(login.body.id);
    expect(await h.exists(`${prefix}${login.body.id}`)).toBe(false);
    expect(await store.listUserSessions("eve")).toEqual([]);
  });
});
