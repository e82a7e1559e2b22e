/**
 * Compatibility with connect-redis 10, the store we replace:
 * 1. sessions written by connect-redis are read unchanged by ours (and the other way round);
 * 2. connect-redis's own test file (index_test.ts, shipped in its npm package) passes against our
 *    store with only its import changed, except the one expectation that encodes connect-redis
 *    issue #259 (all() still showing the pre-touch expiry). Its file is copied at test time, not committed.
 */

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "@jest/globals";
import { RedisStore as ConnectRedisStore } from "connect-redis";
import type { SessionData } from "express-session";
import { RedisStore } from "../lib/index";
import { type TestClient, useTestClient } from "./helpers/test-client";

describe("sessions written by connect-redis 10", () => {
  let client: TestClient;
  const prefix = `compat-${process.pid}:`;
  useTestClient((connected) => {
    client = connected;
  });

  test("are read unchanged by ours, and ours by connect-redis", async () => {
    const theirs = new ConnectRedisStore({ client, prefix });
    const ours = new RedisStore({ client, prefix });
    const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000), httpOnly: true, path: "/" };
    const session = { cookie, userId: "u1", passport: { user: "u1" }, cart: [1, 2] } as unknown as SessionData;
    await theirs.set("from-connect-redis", session);
    const raw = await client.get(`${prefix}from-connect-redis`);

    expect(await ours.get("from-connect-redis")).toEqual(JSON.parse(raw as string));
    expect(await ours.ids()).toEqual(["from-connect-redis"]);
    expect(await ours.length()).toBe(1);

    await ours.set("from-ours", session);
    expect(await client.get(`${prefix}from-ours`)).toBe(JSON.stringify(session));
    expect(await theirs.get("from-ours")).toEqual(JSON.parse(JSON.stringify(session)));
    expect((await theirs.ids()).sort()).toEqual(["from-connect-redis", "from-ours"]);
    // connect-redis sees only session keys: ours keeps its index under another root.
    expect(await theirs.length()).toBe(2);
    await ours.clear();
  });

  test("a session saved by connect-redis keeps its TTL when ours touches it", async () => {
    const theirs = new ConnectRedisStore({ client, prefix });
    const ours = new RedisStore({ client, prefix });
    const expires = new Date(Date.now() + 30_000);
    await theirs.set("ttl", { cookie: { originalMaxAge: 30_000, expires } } as unknown as SessionData);
    const later = new Date(Date.now() + 90_000);
    await ours.touch("ttl", { cookie: { originalMaxAge: 90_000, expires: later } } as unknown as SessionData);
    expect(await client.pTTL(`${prefix}ttl`)).toBeGreaterThan(60_000);
    const read = (await ours.get("ttl")) as SessionData;
    expect(new Date(read.cookie.expires as unknown as string).getTime()).toBe(later.getTime());
    await ours.clear();
  });
});

describe("connect-redis 10's own test file", () => {
  const dir = join(__dirname, ".connect-redis");
  const original = readFileSync(join(__dirname, "..", "node_modules", "connect-redis", "index_test.ts"), "utf8");
  // The one expectation we change: after touch(), all() shows the new expiry (connect-redis #259).
  const before = `{id: "456", cookie: {originalMaxAge: null, expires: expires.toISOString()}},`;
  const after = `{id: "456", cookie: {originalMaxAge: null, expires: expires2.toISOString()}},`;

  test("contains exactly the expectation we change", () => {
    expect(original.split(before).length - 1).toBe(1);
  });

  mkdirSync(join(dir, "testdata"), { recursive: true });
  writeFileSync(join(dir, "index_test.ts"), original.replace(before, after));
  // "./" is the only import we redirect: to our store.
  writeFileSync(join(dir, "index.ts"), 'export { RedisStore } from "../../lib/index";\n');
  writeFileSync(
    join(dir, "testdata", "server.ts"),
    // Always a private server, even with REDIS_URL set: their file clear()s the default "sess:" prefix.
    `import { removeDir, startRedis, type RedisServer } from "../../helpers/redis-server";
let redis: RedisServer | undefined;
export let port = 0;
export async function connect() {
  redis = await startRedis();
  port = redis.port;
}
export async function disconnect() {
  await redis?.stop();
  if (redis) removeDir(redis);
}
`,
  );
  // Registers its tests ("setup", "defaults", "redis", "teardown") inside this describe.
  require(join(dir, "index_test.ts"));
});
