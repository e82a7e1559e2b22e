/**
 * commandTimeout's bookkeeping (lib/driver/deadlines.ts) keeps one small entry per call until the
 * calls before it are answered. An entry must not keep its call's reply alive: all() of 100k
 * sessions read in batches held every batch's raw values until the deadline timer swept the queue,
 * 51 MiB more heap than the sessions themselves, and a busy app kept its last thousand replies.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createClient } from "redis";
import { NodeRedisDriver } from "../lib/driver/node-redis";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  await client.connect();
  await client.set("big", "x".repeat(1 << 20));
});

afterAll(async () => {
  await client?.quit();
  await redis?.stop();
  if (redis) removeDir(redis);
});

/** Sends one command through a driver with a long commandTimeout; hands back only a weak reference to its reply. */
async function replyOf(driver: NodeRedisDriver, args: string[]): Promise<WeakRef<object>> {
  const reply = await driver.command<object>(undefined, args);
  return new WeakRef(reply);
}

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

test("a reply is collectable as soon as the caller drops it, long before its deadline", async () => {
  const driver = new NodeRedisDriver(client, 60_000);
  const first = await replyOf(driver, ["MGET", "big", "big", "big"]);
  expect(await collected(first)).toBe(true);
  // Many calls at once, as all() reads ahead: none of their replies outlives its caller.
  const many = await Promise.all(Array.from({ length: 50 }, () => replyOf(driver, ["MGET", "big"])));
  for (const ref of many) expect(await collected(ref)).toBe(true);
});
