/** Key names: cluster slots computed exactly as Redis does, glob escaping, meta keys on their session's slot. */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createClient } from "redis";
import { escapeGlob, indexPrefixConflict, Keys, keySlot } from "../lib/keys";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

let server: RedisServer;
let client: ReturnType<typeof createClient>;

beforeAll(async () => {
  // A cluster-enabled node answers CLUSTER KEYSLOT: Redis itself is the reference.
  server = await startRedis({ args: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"], withBus: true });
  client = createClient({ url: server.url });
  await client.connect();
});
afterAll(async () => {
  client.destroy();
  await server.stop();
  removeDir(server);
});

const redisSlot = async (key: string) => Number(await client.sendCommand(["CLUSTER", "KEYSLOT", key]));

const tricky = [
  "sess:abc",
  "a{b}c",
  "{}x",
  "x{}y{z}",
  "é{ü}",
  "ключ",
  "sess:{user1}:x",
  "{",
  "}{",
  "a{b",
  "{{a}}",
  "emoji 🙂{🙂}",
  `sess:${"x".repeat(10_000)}`,
];

test("keySlot matches CLUSTER KEYSLOT, hash tags and UTF-8 included", async () => {
  const keys = [...tricky];
  for (let i = 0; i < 500; i++) keys.push(`k${i}:${i.toString(36)}{${i % 7 ? i : ""}}`);
  for (const key of keys) expect([key, keySlot(key)]).toEqual([key, await redisSlot(key)]);
});

test("a meta key always lands on its session key's slot", async () => {
  const keys = new Keys("sess:", "sess-index:");
  for (const sid of [...tricky, "plain-id", "{tag}", "}{"]) {
    const session = keys.session(sid);
    expect(await redisSlot(keys.meta(sid))).toBe(await redisSlot(session));
  }
});

test("both activity sets share one slot", async () => {
  const keys = new Keys("app{1}:", "app{1}-index:");
  expect(await redisSlot(keys.activeSessions)).toBe(await redisSlot(keys.activeUsers));
});

test("glob characters are escaped for SCAN MATCH", () => {
  expect(escapeGlob("app[1]:*?\\")).toBe("app\\[1\\]:\\*\\?\\\\");
  expect(new Keys("app?", "idx:").sessionPattern).toBe("app\\?*");
});

test("an index prefix conflicts when either string starts the other", () => {
  expect(indexPrefixConflict("sess-index:", "sess:")).toBe(false);
  expect(indexPrefixConflict("sess:index:", "sess:")).toBe(true);
  expect(indexPrefixConflict("se", "sess:")).toBe(true);
});
