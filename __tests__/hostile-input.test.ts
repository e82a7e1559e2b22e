/** @jest-environment ./__tests__/helpers/host-process-environment.ts */
/**
 * Hostile input: ids full of glob characters, colons, hash-tag braces, unicode and 10 kB of text;
 * prefixes with glob characters; stored values that are not sessions; serializers, ttl functions
 * and callbacks that throw; oversized sessions; invalid options. The store must round-trip what it
 * can, refuse the rest with a precise error, and never touch a key outside its prefix/indexPrefix.
 * One suite, run with every client on a standalone Redis and with two of them on a Cluster, against
 * private servers: each setup starts from an emptied server, and every key is snapshotted through
 * the handle's topology-neutral `keys` and `command`.
 */
import {
  type RedisClientLike,
  RedisStore,
  type RedisStoreOptions,
  SessionDecodeError,
  SessionEncodeError,
  SessionTooLargeError,
} from "../lib/index";
import { type ClientHandle, type ClientName, makeClient, type TopologyName } from "./helpers/clients";
import { captureUncaught } from "./helpers/host-process";
import { waitFor } from "./helpers/redis-server";
import { CLIENTS, setups, useServers } from "./helpers/setups";

jest.setTimeout(30000);

const SETUPS = setups({ standalone: CLIENTS, cluster: ["node-redis 5", "ioredis 6"] });
const servers = useServers(SETUPS, { privateStandalone: true });

const HOSTILE_IDS: [string, string][] = [
  ["star", "*"],
  ["question mark", "?"],
  ["brackets", "[abc]"],
  ["lone brackets", "[]]["],
  ["backslash", "\\"],
  ["every glob character", "a*b?c[d]e\\f^g[!h]"],
  ["colons", "a:b::c:"],
  ["a colon alone", ":"],
  ["hash tag", "{tag}"],
  ["empty hash tag", "{}"],
  ["reversed braces", "}x{"],
  ["two hash tags", "{a}{b}"],
  // Redis hashes the whole key; cluster-key-slot (node-redis 5, ioredis) hashes "{a".
  ["an empty hash tag, then a tag", "{}{a}"],
  ["prefix look-alike", "sess-index:user:x"],
  ["tombstone look-alike", "D"],
  ["unicode", "ünïcødé-ключ-鍵-🔑"],
  ["CRLF and NUL", "a\r\nb\u0000c"],
  ["spaces", "  a b  "],
  ["10 kB", "x".repeat(10 * 1024)],
  ["10 kB of glob characters and braces", "*?[]\\{}:".repeat(1280)],
];

type Snapshot = Map<string, string>;

/** A key's DUMP (type and value, binary-exact) as a SHA-1, and whether it has an expiry; computed on the key's own node. */
const FINGERPRINT = `local dump = redis.call('DUMP', KEYS[1])
if not dump then return 'gone' end
local expiry = redis.call('PTTL', KEYS[1]) == -1 and 'no-expiry' or 'expiry'
return redis.sha1hex(dump) .. '|' .. expiry`;

/** Keys added, removed or changed between two snapshots. */
function changes(before: Snapshot, after: Snapshot): string[] {
  const changed: string[] = [];
  for (const [key, value] of after) if (before.get(key) !== value) changed.push(key);
  for (const key of before.keys()) if (!after.has(key)) changed.push(key);
  return changed;
}

/** Keys outside the store's two namespaces that differ between two snapshots. */
function outside(before: Snapshot, after: Snapshot, store: RedisStore): string[] {
  return changes(before, after).filter((key) => !key.startsWith(store.options.prefix) && !key.startsWith(store.options.indexPrefix));
}

/** Keys no store may ever touch: look-alikes of prefixes, globs and hash tags. */
const DECOYS = [
  "h",
  "hX:1",
  "h-index",
  "h-indeX:user:1",
  "H:1",
  "*",
  "?",
  "h?",
  "[h]:1",
  "{h}:1",
  "other:h:1",
  "app1:decoy",
  "appa:decoy",
  "app:decoy",
  "app~index:decoy",
  "sess:decoy",
];

function cookieSession(extra: Record<string, unknown> = {}): any {
  return { cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000).toISOString(), httpOnly: true, path: "/" }, ...extra };
}

describe.each(SETUPS)("%s", (_label, clientName: ClientName, topology: TopologyName) => {
  let h: ClientHandle;
  let client: RedisClientLike;

  beforeAll(async () => {
    h = await makeClient(clientName, topology, servers.target(topology));
    client = h.client;
    // The same prefixes and decoys for every setup: start from an empty server (one this file started).
    for (const key of await h.keys("*")) await h.command(["DEL", key], key);
    for (const key of DECOYS) await h.command(["SET", key, `decoy value of ${key}`], key);
  });

  afterAll(async () => {
    await h?.close();
  });

  const exists = async (key: string) => Number(await h.command(["EXISTS", key], key));
  const get = (key: string) => h.command<string | null>(["GET", key], key);

  /** Every key of the server (every master on Cluster) with its fingerprint. */
  async function snapshot(): Promise<Snapshot> {
    const result: Snapshot = new Map();
    for (const key of await h.keys("*")) result.set(key, String(await h.command(["EVAL", FINGERPRINT, "1", key], key)));
    return result;
  }

  describe("hostile session ids and user ids", () => {
    let store: RedisStore;
    let before: Snapshot;

    beforeAll(async () => {
      store = new RedisStore({ client, prefix: "h:" });
      expect(store.options.indexPrefix).toBe("h-index:");
      before = await snapshot();
    });

    test.each(HOSTILE_IDS)("session id and user id: %s: set/get/ids/all/listUserSessions/destroy round-trip", async (_name, id) => {
      const sid = id;
      const userId = `user ${id}`;
      const sess = cookieSession({ userId, note: id });
      const start = await snapshot();

      await store.set(sid, sess);
      expect(await store.get(sid)).toEqual(sess);
      expect(await exists(`h:${sid}`)).toBe(1);
      expect(await store.ids()).toContain(sid);
      expect((await store.all()).find((s) => s.id === sid)).toEqual({ ...sess, id: sid });
      const listed = await store.listUserSessions(userId);
      expect(listed.map((s) => s.id)).toEqual([sid]);
      expect(listed[0]?.session).toEqual(sess);
      expect(await store.countUserSessions(userId)).toBe(1);
      expect(await store.listActiveUsers(60)).toContain(userId);
      expect(outside(start, await snapshot(), store)).toEqual([]);

      await store.touch(sid, sess);
      await store.destroy(sid);
      expect(await store.get(sid)).toBeNull();
      expect(await exists(`h:${sid}`)).toBe(0);
      expect(await store.ids()).not.toContain(sid);
      expect(await store.listUserSessions(userId)).toEqual([]);
      await store.set(sid, sess); // tombstone: refused
      expect(await store.get(sid)).toBeNull();
      expect(outside(start, await snapshot(), store)).toEqual([]);
    });

    test("each hostile user id lists exactly its own sessions, and destroyUserSessions destroys exactly those", async () => {
      const start = await snapshot();
      // One session per hostile user id, each id also used as a session id under another prefix of the sid.
      for (const [i, [, id]] of HOSTILE_IDS.entries()) {
        await store.set(`owned-${i}-${id}`, cookieSession({ userId: id }));
        await store.set(`second-${i}`, cookieSession({ userId: id }));
      }
      for (const [i, [, id]] of HOSTILE_IDS.entries()) {
        expect((await store.listUserSessions(id)).map((s) => s.id).sort()).toEqual([`owned-${i}-${id}`, `second-${i}`].sort());
      }
      // "*" and "?" are user ids, not patterns: destroying theirs leaves everyone else's alone.
      expect(await store.destroyUserSessions("*")).toBe(2);
      expect(await store.destroyUserSessions("?", { except: "second-1" })).toBe(1);
      for (const [i, [, id]] of HOSTILE_IDS.entries()) {
        const expected = id === "*" ? [] : id === "?" ? ["second-1"] : [`owned-${i}-${id}`, `second-${i}`].sort();
        expect((await store.listUserSessions(id)).map((s) => s.id).sort()).toEqual(expected);
      }
      expect(outside(start, await snapshot(), store)).toEqual([]);
    });

    test("nothing outside prefix/indexPrefix was ever touched, and clear() removes only the store's keys", async () => {
      expect(outside(before, await snapshot(), store)).toEqual([]);
      await store.clear();
      const after = await snapshot();
      expect(outside(before, after, store)).toEqual([]);
      expect([...after.keys()].filter((key) => key.startsWith("h:"))).toEqual([]);
      expect(await store.length()).toBe(0);
      for (const key of DECOYS) expect(await get(key)).toBe(`decoy value of ${key}`);
    });
  });

  describe("prefixes with glob characters", () => {
    test('prefix "app[1]:" works and never matches "app1:" keys', async () => {
      const store = new RedisStore({ client, prefix: "app[1]:" });
      const start = await snapshot();
      await store.set("a", cookieSession({ userId: "u" }));
      await store.set("b", cookieSession());
      expect(await store.get("a")).toMatchObject({ userId: "u" });
      expect((await store.ids()).sort()).toEqual(["a", "b"]);
      expect(await store.length()).toBe(2);
      expect((await store.all()).map((s) => s.id).sort()).toEqual(["a", "b"]);
      expect((await store.listUserSessions("u")).map((s) => s.id)).toEqual(["a"]);
      await store.clear();
      expect(await store.length()).toBe(0);
      expect(outside(start, await snapshot(), store)).toEqual([]);
      expect(await get("app1:decoy")).toBe("decoy value of app1:decoy");
    });

    test('prefix "app?" never sees "appX" keys and vice versa: all/ids/length/clear each see only their own sessions', async () => {
      const question = new RedisStore({ client, prefix: "app?", userId: false });
      const x = new RedisStore({ client, prefix: "appX", userId: false });
      for (const id of ["1", "2", "3"]) await question.set(id, cookieSession({ who: "question" }));
      for (const id of ["1", "4"]) await x.set(id, cookieSession({ who: "x" }));

      expect((await question.ids()).sort()).toEqual(["1", "2", "3"]);
      expect((await x.ids()).sort()).toEqual(["1", "4"]);
      expect(await question.length()).toBe(3);
      expect(await x.length()).toBe(2);
      expect((await question.all()).map((s) => `${s.id}:${(s as any).who}`).sort()).toEqual(["1:question", "2:question", "3:question"]);
      expect((await x.all()).map((s) => `${s.id}:${(s as any).who}`).sort()).toEqual(["1:x", "4:x"]);

      const beforeClear = await snapshot();
      await question.clear();
      expect(await question.length()).toBe(0);
      expect((await x.ids()).sort()).toEqual(["1", "4"]);
      expect(await x.length()).toBe(2);
      expect(changes(beforeClear, await snapshot()).sort()).toEqual(["app?1", "app?2", "app?3"]);
      await question.set("5", cookieSession());
      await x.clear();
      expect(await x.length()).toBe(0);
      expect(await question.ids()).toEqual(["5"]);
      await question.clear();
      for (const key of DECOYS) expect(await get(key)).toBe(`decoy value of ${key}`);
    });

    test('prefixes "app?" and "appX" with the per-user index: each store has its own index (default indexPrefix)', async () => {
      const question = new RedisStore({ client, prefix: "app?" });
      const x = new RedisStore({ client, prefix: "appX" });
      // Two stores with different prefixes must not share the keys of their per-user index.
      expect(question.options.indexPrefix).not.toBe(x.options.indexPrefix);
      for (const id of ["1", "2", "3"]) await question.set(id, cookieSession({ userId: "shared-user", who: "question" }));
      for (const id of ["1", "4"]) await x.set(id, cookieSession({ userId: "shared-user", who: "x" }));

      // Same user id in both stores: each store's per-user view is its own, and reading one leaves the other intact.
      expect((await question.listUserSessions("shared-user")).map((s) => s.id).sort()).toEqual(["1", "2", "3"]);
      expect((await x.listUserSessions("shared-user")).map((s) => s.id).sort()).toEqual(["1", "4"]);
      expect((await question.listUserSessions("shared-user")).map((s) => s.id).sort()).toEqual(["1", "2", "3"]);

      const beforeClear = await snapshot();
      await question.clear();
      expect((await x.listUserSessions("shared-user")).map((s) => s.id).sort()).toEqual(["1", "4"]);
      expect(await x.countActiveUsers(60)).toBe(1);
      // clear() of "app?" changed nothing that belongs to "appX" or anyone else.
      const changed = changes(beforeClear, await snapshot());
      expect(changed.filter((key) => !key.startsWith("app?") && !key.startsWith(question.options.indexPrefix))).toEqual([]);
      expect(changed.filter((key) => key.startsWith(x.options.prefix) || key.startsWith(x.options.indexPrefix))).toEqual([]);
      await x.clear();
      expect(await x.length()).toBe(0);
    });

    test("an empty prefix is rejected with a TypeError naming prefix", () => {
      expect(() => new RedisStore({ client, prefix: "" })).toThrow(TypeError);
      expect(() => new RedisStore({ client, prefix: "" })).toThrow(/"prefix"/);
    });
  });

  describe("stored values that are not sessions", () => {
    const BAD: [string, string][] = [
      ["not JSON", "not json {"],
      ["an array", "[1,2,3]"],
      ["a number", "5"],
      ["null", "null"],
      ["a string", '"a string"'],
      ["true", "true"],
      ["cookie: 5", '{"cookie":5}'],
      ["cookie: null", '{"cookie":null}'],
      ["cookie: a string", '{"cookie":"x"}'],
      ["an empty object (no cookie)", "{}"],
      ["a user id without a cookie", '{"userId":"u1"}'],
      ["empty", ""],
    ];
    let store: RedisStore;
    const decodeErrors: SessionDecodeError[] = [];

    beforeAll(async () => {
      store = new RedisStore({ client, prefix: "bad:" });
      store.on("decodeError", (error: SessionDecodeError) => decodeErrors.push(error));
      for (const [i, [, value]] of BAD.entries()) await h.command(["SET", `bad:bad-${i}`, value, "PX", "60000"]);
      await store.set("good-1", cookieSession({ n: 1 }));
      await store.set("good-2", cookieSession({ n: 2 }));
    });

    test.each(BAD.map(([name], i) => [name, i] as const))(
      "%s: get() gives null and a decodeError event with the session id",
      async (_name, i) => {
        decodeErrors.length = 0;
        expect(await store.get(`bad-${i}`)).toBeNull();
        expect(decodeErrors).toHaveLength(1);
        expect(decodeErrors[0]).toBeInstanceOf(SessionDecodeError);
        expect(decodeErrors[0]?.sessionId).toBe(`bad-${i}`);
      },
    );

    test("all() skips every unreadable value and returns the rest; ids()/length() still count them", async () => {
      decodeErrors.length = 0;
      const all = await store.all();
      expect(all.map((s) => s.id).sort()).toEqual(["good-1", "good-2"]);
      expect(all.map((s) => (s as any).n).sort()).toEqual([1, 2]);
      expect(decodeErrors.map((e) => e.sessionId).sort()).toEqual(BAD.map((_, i) => `bad-${i}`).sort());
      expect(await store.length()).toBe(BAD.length + 2);
    });

    test("a serializer whose parse throws (or rejects): null plus a decodeError with the cause", async () => {
      const boom = new Error("parse exploded");
      for (const parse of [
        () => {
          throw boom;
        },
        async () => {
          throw boom;
        },
      ]) {
        const errors: SessionDecodeError[] = [];
        const throwing = new RedisStore({ client, prefix: "bad:", serializer: { stringify: JSON.stringify, parse } });
        throwing.on("decodeError", (error: SessionDecodeError) => errors.push(error));
        expect(await throwing.get("good-1")).toBeNull();
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBeInstanceOf(SessionDecodeError);
        expect(errors[0]?.sessionId).toBe("good-1");
        expect(errors[0]?.cause).toBe(boom);
      }
    });
  });

  describe("code supplied by the application that throws", () => {
    let store: RedisStore;

    beforeAll(() => {
      store = new RedisStore({ client, prefix: "throw:" });
    });

    test("a serializer whose stringify throws: SessionEncodeError with the cause, nothing written", async () => {
      const boom = new Error("stringify exploded");
      const throwing = new RedisStore({
        client,
        prefix: "throw:",
        serializer: {
          parse: JSON.parse,
          stringify: () => {
            throw boom;
          },
        },
      });
      const start = await snapshot();
      const error = await throwing.set("enc", cookieSession({ userId: "enc-user" })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionEncodeError);
      expect((error as Error).cause).toBe(boom);
      expect(changes(start, await snapshot())).toEqual([]);

      const notString = new RedisStore({
        client,
        prefix: "throw:",
        serializer: { parse: JSON.parse, stringify: () => undefined as unknown as string },
      });
      await expect(notString.set("enc", cookieSession({ userId: "enc-user" }))).rejects.toBeInstanceOf(SessionEncodeError);
      expect(changes(start, await snapshot())).toEqual([]);
    });

    test("a ttl function that throws: the same error reaches the caller, nothing written", async () => {
      const boom = new Error("ttl exploded");
      const throwing = new RedisStore({
        client,
        prefix: "throw:",
        ttl: () => {
          throw boom;
        },
      });
      const start = await snapshot();
      await expect(throwing.set("ttl-throws", cookieSession({ userId: "ttl-user" }))).rejects.toBe(boom);
      await expect(throwing.touch("ttl-throws", cookieSession({ userId: "ttl-user" }))).rejects.toBe(boom);
      expect(changes(start, await snapshot())).toEqual([]);
    });

    test("a ttl function that returns 0 deletes the session on set(), but that is no logout: a later set() with a positive ttl is written", async () => {
      // e.g. ttl: (sess) => (sess.userId ? 86400 : 0): anonymous sessions are not kept; logging in saves the same id.
      const conditional = new RedisStore({ client, prefix: "throw:", ttl: (sess) => ((sess as { userId?: string }).userId ? 60 : 0) });
      await conditional.set("ttl-zero-then-login", cookieSession());
      expect(await exists("throw:ttl-zero-then-login")).toBe(0);
      await conditional.set("ttl-zero-then-login", cookieSession({ userId: "logged-in" }));
      expect(await conditional.get("ttl-zero-then-login")).toMatchObject({ userId: "logged-in" });
      expect((await conditional.listUserSessions("logged-in")).map((s) => s.id)).toEqual(["ttl-zero-then-login"]);
    });

    test("a ttl function that returns NaN (or not a number): a TypeError naming ttl, nothing written", async () => {
      const start = await snapshot();
      for (const ttl of [() => Number.NaN, () => "60" as unknown as number, () => undefined as unknown as number]) {
        const bad = new RedisStore({ client, prefix: "throw:", ttl });
        const error = await bad.set("ttl-nan", cookieSession({ userId: "ttl-user" })).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TypeError);
        expect((error as Error).message).toMatch(/"ttl"/);
      }
      expect(changes(start, await snapshot())).toEqual([]);
    });

    test("a userId function that throws: set() rejects with it and writes nothing", async () => {
      const boom = new Error("userId exploded");
      const throwing = new RedisStore({
        client,
        prefix: "throw:",
        userId: () => {
          throw boom;
        },
      });
      const start = await snapshot();
      await expect(throwing.set("uid-throws", cookieSession())).rejects.toBe(boom);
      expect(changes(start, await snapshot())).toEqual([]);
    });

    test.each([
      ["get, success", (cb: (...args: unknown[]) => void) => store.get("cb-session", cb)],
      ["set, success", (cb: (...args: unknown[]) => void) => store.set("cb-session", cookieSession(), cb)],
      ["destroy, success", (cb: (...args: unknown[]) => void) => store.destroy("cb-other", cb)],
      ["get, error (invalid id)", (cb: (...args: unknown[]) => void) => store.get("", cb)],
      ["set, error (encode)", (cb: (...args: unknown[]) => void) => store.set("cb-session", { cookie: {}, big: 1n } as any, cb)],
    ])("a callback that throws (%s) is called exactly once and does not become an unhandled rejection", async (_name, call) => {
      await store.set("cb-session", cookieSession());
      const thrown = new Error("callback exploded");
      const { uncaught, rejections, result } = await captureUncaught(async (seen) => {
        let calls = 0;
        let settled: unknown = "pending";
        const promise = call(() => {
          calls++;
          throw thrown;
        }) as Promise<unknown>;
        promise.then(
          () => {
            settled = "resolved";
          },
          () => {
            settled = "rejected";
          },
        );
        // The callback runs on process.nextTick after the store's promise settles; wait for its throw.
        await waitFor(() => seen.uncaught.length > 0, 5000, "the callback's throw");
        // A second call or a rejection would come from the same promise chain: give it a full Redis round trip.
        await h.command(["PING"]);
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        return { calls, settled };
      });
      expect(result.calls).toBe(1);
      expect(uncaught).toEqual([thrown]);
      expect(rejections).toEqual([]);
      // With a callback the returned promise never rejects.
      expect(result.settled).toBe("resolved");
    });
  });

  describe("maxSessionSize", () => {
    test("a session over the limit: SessionTooLargeError naming its size and the limit, nothing written", async () => {
      const store = new RedisStore({ client, prefix: "size:", maxSessionSize: 1024 });
      const start = await snapshot();
      for (const sess of [
        cookieSession({ userId: "big", data: "x".repeat(2000) }),
        cookieSession({ userId: "big", data: "€".repeat(400) }),
      ]) {
        const bytes = Buffer.byteLength(JSON.stringify(sess));
        const error = (await store.set("too-big", sess).catch((e: unknown) => e)) as SessionTooLargeError;
        expect(error).toBeInstanceOf(SessionTooLargeError);
        expect(error.message).toContain(String(bytes));
        expect(error.message).toContain("1024");
      }
      expect(changes(start, await snapshot())).toEqual([]);
    });

    test("the limit is in bytes of the serialized session, inclusive", async () => {
      const sess = cookieSession({ data: "é".repeat(300) });
      const bytes = Buffer.byteLength(JSON.stringify(sess));
      await new RedisStore({ client, prefix: "size:", maxSessionSize: bytes }).set("exact", sess);
      expect(await exists("size:exact")).toBe(1);
      await expect(new RedisStore({ client, prefix: "size:", maxSessionSize: bytes - 1 }).set("one-over", sess)).rejects.toBeInstanceOf(
        SessionTooLargeError,
      );
      expect(await exists("size:one-over")).toBe(0);
    });
  });

  describe("invalid constructor options: a TypeError whose message names the option", () => {
    const cases: [string, () => RedisStoreOptions, string][] = [
      ["missing client", () => ({}) as RedisStoreOptions, "client"],
      ["client that is not a node-redis client", () => ({ client: { get() {} } }) as unknown as RedisStoreOptions, "client"],
      ["ttl -1", () => ({ client, ttl: -1 }), "ttl"],
      ["ttl 1.5", () => ({ client, ttl: 1.5 }), "ttl"],
      ["ttl NaN", () => ({ client, ttl: Number.NaN }), "ttl"],
      ["scanCount 0", () => ({ client, scanCount: 0 }), "scanCount"],
      ['prefix ""', () => ({ client, prefix: "" }), "prefix"],
      ["indexPrefix that starts with prefix", () => ({ client, prefix: "sess:", indexPrefix: "sess:index:" }), "indexPrefix"],
      ["indexPrefix that is a start of prefix", () => ({ client, prefix: "sess:", indexPrefix: "se" }), "indexPrefix"],
      ["unknown option", () => ({ client, prefx: "typo:" }) as unknown as RedisStoreOptions, "prefx"],
    ];
    test.each(cases)("%s", (_name, options, option) => {
      let error: unknown;
      try {
        new RedisStore(options());
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain(`"${option}"`);
    });
  });
});
