/**
 * Scripting denied: an ACL user without @scripting (a private server, restricted with ACL SETUSER).
 * With `userId: false` the store sends connect-redis's commands only, so every method works; with
 * the index on, the first write fails at once with one error that names what the store needs.
 * On a single Redis and on Cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import { createClient, createCluster } from "redis";
import { RedisStore } from "../lib/index";
import { cli, startCluster, type TestCluster } from "./helpers/cluster";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

type Client = ReturnType<typeof createClient>;

let redis: RedisServer;
let admin: Client;
let restricted: Client;
const PREFIX = `acl-${process.pid}:`;

function sess(extra: Record<string, unknown> = {}, ms = 60_000): SessionData {
  return {
    cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: "/" },
    ...extra,
  } as unknown as SessionData;
}

beforeAll(async () => {
  redis = await startRedis();
  // Everything but scripting, on every key: what a connect-redis user typically gets.
  expect((await cli(redis.port, ["ACL", "SETUSER", "noscript", "on", ">secret", "~*", "&*", "+@all", "-@scripting"])).trim()).toBe("OK");
  admin = createClient({ url: redis.url });
  restricted = createClient({ url: `redis://noscript:secret@127.0.0.1:${redis.port}` });
  await Promise.all([admin.connect(), restricted.connect()]);
});

afterAll(async () => {
  admin?.destroy();
  restricted?.destroy();
  await redis?.stop();
  if (redis) removeDir(redis);
});

describe("an ACL user without @scripting", () => {
  test("the user really can't run scripts", async () => {
    await expect(restricted.sendCommand(["EVAL", "return 1", "0"])).rejects.toThrow(/NOPERM/);
  });

  test("userId: false: get, set, touch, destroy, all, ids, length and clear all work (no script is sent)", async () => {
    const store = new RedisStore({ client: restricted, prefix: `${PREFIX}plain:`, userId: false });
    for (let i = 0; i < 5; i++) await store.set(`s${i}`, sess({ n: i }));
    expect(((await store.get("s1")) as unknown as { n: number }).n).toBe(1);
    await store.touch("s1", sess({ n: 1 }, 120_000));
    expect(await admin.pTTL(`${PREFIX}plain:s1`)).toBeGreaterThan(60_000);
    await store.destroy("s0");
    expect(await store.get("s0")).toBeNull();
    expect((await store.ids()).sort()).toEqual(["s1", "s2", "s3", "s4"]);
    expect((await store.all()).map((s) => s.id).sort()).toEqual(["s1", "s2", "s3", "s4"]);
    expect(await store.length()).toBe(4);
    await store.clear();
    expect(await store.length()).toBe(0);
    expect(await admin.keys(`${PREFIX}plain:*`)).toEqual([]);
  });

  test("the index on: the first write fails at once with one error naming +@scripting and the other needs; nothing is written", async () => {
    const store = new RedisStore({ client: restricted, prefix: `${PREFIX}indexed:`, commandTimeout: 5000 });
    const error = await store.set("s1", sess({ userId: "u1" })).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/^NOPERM/);
    expect(message).toContain("+@scripting");
    expect(message).toContain("+@read");
    expect(message).toContain("+@write");
    expect(message).toContain("+time");
    expect(message).toContain("redis-session-store");
    expect(await admin.keys(`${PREFIX}indexed:*`)).toEqual([]);
    // The same clear error from the other scripted calls, not a hang or a different story each.
    await expect(store.listUserSessions("u1")).rejects.toThrow(/\+@scripting/);
    await expect(store.destroy("s1")).rejects.toThrow(/\+@scripting/);
  });

  test("the same user with +@scripting (and what the scripts call): the indexed store works", async () => {
    expect((await cli(redis.port, ["ACL", "SETUSER", "noscript", "+@scripting"])).trim()).toBe("OK");
    try {
      const store = new RedisStore({ client: restricted, prefix: `${PREFIX}allowed:` });
      await store.set("s1", sess({ userId: "u1" }));
      expect((await store.listUserSessions("u1")).map((s) => s.id)).toEqual(["s1"]);
      expect(await store.destroyUserSessions("u1")).toBe(1);
    } finally {
      await cli(redis.port, ["ACL", "SETUSER", "noscript", "-@scripting"]);
    }
  });
});

describe("an ACL user without @scripting, on Cluster", () => {
  let cluster: TestCluster;
  let client: ReturnType<typeof createCluster>;
  beforeAll(async () => {
    cluster = await startCluster();
    for (const node of cluster.nodes) {
      expect((await cli(node.port, ["ACL", "SETUSER", "noscript", "on", ">secret", "~*", "&*", "+@all", "-@scripting"])).trim()).toBe("OK");
    }
    client = createCluster({ rootNodes: cluster.rootNodes, defaults: { username: "noscript", password: "secret" } });
    client.on("error", () => undefined);
    await client.connect();
  }, 60000);
  afterAll(async () => {
    client?.destroy();
    await cluster?.stop();
  });

  test("userId: false: every method works; the index on: the first write fails with the ACL needs", async () => {
    const plain = new RedisStore({ client, prefix: `${PREFIX}cplain:`, userId: false });
    for (let i = 0; i < 5; i++) await plain.set(`s${i}`, sess({ n: i }));
    expect(await plain.get("s1")).not.toBeNull();
    await plain.touch("s1", sess({ n: 1 }, 120_000));
    await plain.destroy("s0");
    expect((await plain.ids()).sort()).toEqual(["s1", "s2", "s3", "s4"]);
    expect((await plain.all()).length).toBe(4);
    expect(await plain.length()).toBe(4);
    await plain.clear();
    expect(await plain.length()).toBe(0);
    const indexed = new RedisStore({ client, prefix: `${PREFIX}cindexed:` });
    await expect(indexed.set("s1", sess({ userId: "u1" }))).rejects.toThrow(/^NOPERM.*\+@scripting/);
  });
});
