/**
 * Encryption at rest, on real servers: a single Redis and a Redis Cluster (3 masters + 3
 * replicas), through node-redis 5 and 6 and ioredis 5. What a user relies on: nothing readable is
 * left in Redis, a value only opens for its own session (and field), a tampered or unknown-key
 * value reads as no session with a `decodeError` (naming the key id, never a key), rotate() moves
 * every session and field to the current key without losing a save made meanwhile, and a store can
 * move from plaintext to encrypted and back.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import express from "express";
import session, { type SessionData } from "express-session";
import request from "supertest";
import { RedisSessions } from "../lib/frameworks/redis-sessions";
import {
  type EncryptionAdapter,
  RedisStore,
  type RedisStoreOptions,
  type RotateProgress,
  SessionDecodeError,
  SessionFieldsError,
} from "../lib/index";
import { Keys } from "../lib/keys";
import { type ClientHandle, type ClientName, makeClient, type TopologyName } from "./helpers/clients";
import { startCluster, type TestCluster } from "./helpers/cluster";
import { type RedisServer, removeDir, startRedis } from "./helpers/redis-server";

const KEY1 = randomBytes(32);
const KEY2 = randomBytes(32);
const K1 = { id: "k1", key: KEY1 };
const K2 = { id: "k2", key: KEY2.toString("base64") };
/** Every way a key could appear in a message. */
const KEY_TEXTS = [KEY1, KEY2].flatMap((key) => [key.toString("base64"), key.toString("base64url"), key.toString("hex")]);

type Sess = SessionData & { [key: string]: unknown };

function sess(extra: Record<string, unknown> = {}, ms = 600_000): Sess {
  return { cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: "/" }, ...extra } as unknown as Sess;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Waits until the clock has moved on by at least one millisecond (no fixed sleep). */
async function nextMs(): Promise<void> {
  const start = Date.now();
  while (Date.now() <= start) await new Promise((resolve) => setImmediate(resolve));
}

/** Runs rotate() to the end and returns its last progress. */
async function rotateAll(
  store: { rotate: RedisStore["rotate"] },
  options: Parameters<RedisStore["rotate"]>[0] = {},
): Promise<RotateProgress> {
  const all = await collect(store.rotate(options));
  return all[all.length - 1] as RotateProgress;
}

/**
 * A stand-in for a KMS: AES-256-GCM under versioned keys, the session id and purpose bound as
 * associated data. `hold`, while set, holds the encrypt() of one session until it resolves.
 */
class FakeKms implements EncryptionAdapter {
  static readonly keys = new Map([
    ["v1", randomBytes(32)],
    ["v2", randomBytes(32)],
  ]);
  hold: { sid: string; started: () => void; until: Promise<void> } | undefined;
  readonly seen: { sid: string; purpose: string }[] = [];
  constructor(readonly current: string) {}

  async encrypt(plaintext: string, sid: string, purpose: string): Promise<string> {
    this.seen.push({ sid, purpose });
    if (this.hold?.sid === sid) {
      this.hold.started();
      await this.hold.until;
    }
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", FakeKms.keys.get(this.current) as Buffer, iv);
    cipher.setAAD(Buffer.from(JSON.stringify([sid, purpose])));
    const sealed = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${this.current}:${sealed.toString("base64")}`;
  }

  async decrypt(envelope: string, sid: string, purpose: string): Promise<string | null> {
    const [version, body = ""] = envelope.split(":");
    const key = FakeKms.keys.get(version as string);
    if (!key) return null;
    const sealed = Buffer.from(body, "base64");
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
      decipher.setAAD(Buffer.from(JSON.stringify([sid, purpose])));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString("utf8");
    } catch {
      return null;
    }
  }

  isCurrent(envelope: string): boolean {
    return envelope.startsWith(`${this.current}:`);
  }
}

let standalone: RedisServer;
let cluster: TestCluster;

beforeAll(async () => {
  [standalone, cluster] = await Promise.all([startRedis(), startCluster()]);
}, 90_000);

afterAll(async () => {
  await Promise.all([standalone?.stop().then(() => removeDir(standalone)), cluster?.stop()]);
}, 30_000);

const SETUPS: [TopologyName, ClientName][] = [
  ["standalone", "node-redis 5"],
  ["standalone", "node-redis 6"],
  ["standalone", "ioredis 5"],
  ["cluster", "node-redis 5"],
  ["cluster", "ioredis 5"],
];

let prefixes = 0;

describe.each(SETUPS)("%s, %s", (topology, clientName) => {
  let h: ClientHandle;

  beforeAll(async () => {
    h = await makeClient(clientName, topology, topology === "cluster" ? cluster : { url: standalone.url });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A store under a fresh prefix, with the decodeErrors it reports; more stores on the same prefix with `also`. */
  function setup(options: Partial<RedisStoreOptions> = {}) {
    const prefix = `enc-${++prefixes}:`;
    const errors: SessionDecodeError[] = [];
    const make = (more: Partial<RedisStoreOptions>) => {
      const store = new RedisStore({ client: h.client, prefix, ...more });
      store.on("decodeError", (error) => errors.push(error));
      return store;
    };
    const store = make({ encryption: { keys: [K1] }, ...options });
    const keys = new Keys(prefix, store.options.indexPrefix);
    const raw = async (sid: string) => String(await h.command<string | null>(["GET", keys.session(sid)]));
    const put = (sid: string, value: string) => h.command(["SET", keys.session(sid), value, "KEEPTTL"]);
    return { store, errors, keys, raw, put, also: make, prefix };
  }

  test("round trip: Redis holds an envelope naming the key id; get, all, scan and the listings read the session", async () => {
    const { store, raw, errors } = setup();
    await store.set("a", sess({ userId: "alice", secret: "oauth-token-123" }));
    await store.set("b", sess({ userId: "alice", secret: "csrf-456" }));
    const value = await raw("a");
    expect(value).toMatch(/^\$rse1\$k1\$[A-Za-z0-9_-]+$/);
    expect(value).not.toContain("oauth-token-123");
    expect(value).not.toContain("alice");
    expect(((await store.get("a")) as Sess).secret).toBe("oauth-token-123");
    expect((await store.all()).map((s) => s.id).sort()).toEqual(["a", "b"]);
    expect((await collect(store.scan())).map((s) => (s.session as Sess).secret).sort()).toEqual(["csrf-456", "oauth-token-123"]);
    expect((await store.listUserSessions("alice")).map((s) => (s.session as Sess).secret).sort()).toEqual(["csrf-456", "oauth-token-123"]);
    expect((await collect(store.listActiveSessions(60))).length).toBe(2);
    // The same plaintext sealed twice differs: a random IV per write.
    await store.set("a", (await store.get("a")) as Sess);
    expect(await raw("a")).not.toBe(value);
    expect(errors).toEqual([]);
  });

  test("a touch moves the key's expiry without editing the ciphertext, and get() shows the real expiry", async () => {
    const { store, raw, keys } = setup({ touchAfter: 0 });
    await store.set("t", sess({ userId: "tom" }, 60_000));
    const before = await raw("t");
    const later = sess({ userId: "tom" }, 3_600_000);
    await store.touch("t", later);
    expect(await raw("t")).toBe(before);
    const expireAt = Number(await h.command(["PEXPIRETIME", keys.session("t")]));
    expect(expireAt).toBeGreaterThan(Date.now() + 3_000_000);
    const shown = Date.parse(String((await store.get("t"))?.cookie.expires));
    expect(Math.abs(shown - expireAt)).toBeLessThan(1000);
    expect(Math.abs(((await store.listUserSessions("tom"))[0]?.expiresAt?.getTime() ?? 0) - expireAt)).toBeLessThan(1000);
  });

  test("each part of the envelope tampered, or the value truncated: no session, a decodeError naming the key id, never a key", async () => {
    const { store, raw, put, errors } = setup({ encryption: { keys: [K1, K2] } });
    await store.set("x", sess({ userId: "xena" }));
    const good = await raw("x");
    const [, , id, body] = good.split("$") as [string, string, string, string];
    const bytes = Buffer.from(body, "base64url");
    const flipped = (at: number) => {
      const copy = Buffer.from(bytes);
      copy[at] = (copy[at] as number) ^ 1;
      return `$rse1$${id}$${copy.toString("base64url")}`;
    };
    const tampered: Record<string, string> = {
      format: good.replace("$rse1$", "$rse9$"),
      "key id (another known key)": good.replace("$k1$", "$k2$"),
      iv: flipped(0),
      ciphertext: flipped(20),
      tag: flipped(bytes.length - 1),
      "truncated tag": `$rse1$${id}$${bytes.subarray(0, bytes.length - 4).toString("base64url")}`,
      "truncated to a few bytes": `$rse1$${id}$${bytes.subarray(0, 10).toString("base64url")}`,
      "bytes appended": `$rse1$${id}$${Buffer.concat([bytes, Buffer.from("xx")]).toString("base64url")}`,
      "no key id": `$rse1$${body}`,
    };
    for (const [part, value] of Object.entries(tampered)) {
      await put("x", value);
      errors.length = 0;
      expect([part, await store.get("x")]).toEqual([part, null]);
      expect([part, errors.length]).toEqual([part, 1]);
      const error = errors[0] as SessionDecodeError;
      expect(error).toBeInstanceOf(SessionDecodeError);
      expect(error.sessionId).toBe("x");
      if (part !== "format" && part !== "no key id") expect([part, error.message]).toEqual([part, expect.stringMatching(/key "k[12]"/)]);
      for (const text of KEY_TEXTS) expect(error.message).not.toContain(text);
    }
    await put("x", good);
    expect((await store.get("x"))?.userId).toBe("xena");
  });

  test("a value copied to another session id does not open there", async () => {
    const { store, raw, put, errors } = setup();
    await store.set("mine", sess({ userId: "mallory" }));
    await store.set("victim", sess({ userId: "victor" }));
    await put("victim", await raw("mine"));
    expect(await store.get("victim")).toBeNull();
    expect(errors.map((e) => e.sessionId)).toEqual(["victim"]);
    expect(errors[0]?.message).toContain('key "k1"');
    expect((await store.get("mine"))?.userId).toBe("mallory");
  });

  test("a value under a key id the store does not have: no session, a decodeError naming that id", async () => {
    const { store, also, errors } = setup();
    await also({ encryption: { keys: [K2] } }).set("u", sess({ userId: "ulla" }));
    expect(await store.get("u")).toBeNull();
    expect(errors[0]?.message).toMatch(/key "k2": no key has this id \(known: "k1"\)/);
    expect(await store.all()).toEqual([]);
  });

  test("fields are sealed for their session and name; a counter stays a plain integer; a moved value does not open", async () => {
    const { store, keys, errors } = setup({ encryption: { keys: [K1] }, userId: (s) => (s as Sess).userId as string });
    await store.set("f", sess({ userId: "fay" }));
    await store.set("g", sess({ userId: "gus" }));
    const fields = store.fields("f");
    await fields.setMany({ token: { access: "tok-123" }, theme: "dark" });
    expect(await fields.increment("visits", 2)).toBe(2);
    const hash = keys.fields("f");
    const token = String(await h.command(["HGET", hash, "token"]));
    expect(token).toMatch(/^\$rse1\$k1\$/);
    expect(token).not.toContain("tok-123");
    expect(await h.command(["HGET", hash, "visits"])).toBe("2");
    expect(await fields.all()).toEqual({ token: { access: "tok-123" }, theme: "dark", visits: 2 });
    // Another field's value, and another session's value for the same field, do not open.
    await h.command(["HSET", hash, "theme", token]);
    await store.fields("g").set("token", { access: "gus-token" });
    await h.command(["HSET", hash, "token", String(await h.command(["HGET", keys.fields("g"), "token"]))]);
    expect(await fields.getMany(["theme", "token", "visits"])).toEqual([undefined, undefined, 2]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('session "f" (field:theme) could not be decrypted with key "k1"'),
      expect.stringContaining('session "f" (field:token) could not be decrypted with key "k1"'),
    ]);
    await expect(store.fields("g").increment("token")).rejects.toThrow(SessionFieldsError);
  });

  test("rotate() re-encrypts every session and field under the current key, keeps expiries, and carries on from a cursor", async () => {
    const { store: old, also, keys } = setup({ encryption: { keys: [K1] } });
    const count = 120;
    for (let i = 0; i < count; i++) {
      await old.set(`r${i}`, sess({ userId: `user-${i % 7}`, n: i }, 600_000 + i * 1000));
      if (i % 3 === 0) await old.fields(`r${i}`).setMany({ note: `note-${i}`, hits: 0 });
      if (i % 3 === 0) await old.fields(`r${i}`).increment("counter");
    }
    const expiries = new Map<string, number>();
    for (let i = 0; i < count; i++) expiries.set(`r${i}`, Number(await h.command(["PEXPIRETIME", keys.session(`r${i}`)])));
    const rotating = also({ encryption: { keys: [K2, K1] } });
    // Stop after the first batch, then carry on from its cursor with a fresh call.
    const rotation = rotating.rotate({ batch: 10 });
    const first = (await rotation.next()).value as RotateProgress;
    await rotation.return(undefined);
    expect(first.done).toBe(false);
    expect(first.cursor).toEqual(expect.any(String));
    const rest = await rotateAll(rotating, { batch: 10, cursor: first.cursor as string });
    expect(rest.done).toBe(true);
    expect(rest.cursor).toBeNull();
    expect(first.seen + rest.seen).toBeGreaterThanOrEqual(count);
    expect(first.reencrypted + rest.reencrypted).toBe(count);
    expect(first.fields + rest.fields).toBe(2 * 40); // note and hits of 40 sessions; the counters stay plain
    expect(rest.unreadable + rest.skipped).toBe(0);
    // Only the new key is needed now, and every key kept its expiry.
    const fresh = also({ encryption: { keys: [K2] } });
    for (let i = 0; i < count; i++) {
      expect(((await fresh.get(`r${i}`)) as Sess).n).toBe(i);
      expect(Number(await h.command(["PEXPIRETIME", keys.session(`r${i}`)]))).toBe(expiries.get(`r${i}`));
    }
    expect(await fresh.fields("r3").all()).toEqual({ note: "note-3", hits: 0, counter: 1 });
    // A second run finds nothing to do.
    const again = await rotateAll(fresh);
    expect([again.seen, again.reencrypted, again.fields, again.unreadable]).toEqual([count, 0, 0, 0]);
  });

  test("rotate() while the app saves: every save kept, every session under the new key (0 lost)", async () => {
    const { store: old, also } = setup({ encryption: { keys: [K1] } });
    const count = 300;
    const ids = Array.from({ length: count }, (_, i) => `c${i}`);
    for (const id of ids) await old.set(id, sess({ userId: `u-${id}`, writes: 0 }));
    const current = also({ encryption: { keys: [K2, K1] } });
    const acknowledged = new Map(ids.map((id) => [id, 0]));
    let rotating = true;
    // Four writers, each with its own sessions (a writer's read-modify-write never races itself).
    const writers = [0, 1, 2, 3].map(async (w) => {
      do {
        for (const id of ids.filter((_, i) => i % 4 === w)) {
          const loaded = (await current.get(id)) as Sess;
          loaded.writes = (loaded.writes as number) + 1;
          await current.set(id, loaded);
          acknowledged.set(id, (acknowledged.get(id) as number) + 1);
        }
      } while (rotating);
    });
    const last = await rotateAll(current, { batch: 15 });
    rotating = false;
    await Promise.all(writers);
    expect(last.done).toBe(true);
    const onlyNew = also({ encryption: { keys: [K2] } });
    let lost = 0;
    for (const id of ids) {
      const found = (await onlyNew.get(id)) as Sess | null;
      if (!found || found.writes !== acknowledged.get(id)) lost++;
    }
    expect(lost).toBe(0);
    expect(last.unreadable).toBe(0);
  });

  test("rotate() never overwrites a save made between its read and its write: that value is skipped", async () => {
    const prefix = `enc-kms-${++prefixes}:`;
    const errors: SessionDecodeError[] = [];
    const v1 = new FakeKms("v1");
    const writer = new RedisStore({ client: h.client, prefix, encryption: v1 });
    await writer.set("race", sess({ userId: "rita", step: 1 }));
    await writer.set("calm", sess({ userId: "carl", step: 1 }));
    const gated = new FakeKms("v2");
    const rotator = new RedisStore({ client: h.client, prefix, encryption: gated });
    rotator.on("decodeError", (error) => errors.push(error));
    let open: () => void = () => undefined;
    let started: () => void = () => undefined;
    const rotationRead = new Promise<void>((resolve) => {
      started = resolve;
    });
    gated.hold = { sid: "race", started, until: new Promise<void>((resolve) => (open = resolve)) };
    const rotation = rotateAll(rotator);
    await rotationRead;
    // rotate() has read "race" and is sealing it: the app saves it meanwhile, under the current key.
    await new RedisStore({ client: h.client, prefix, encryption: new FakeKms("v2") }).set("race", sess({ userId: "rita", step: 2 }));
    open();
    const last = await rotation;
    expect([last.reencrypted, last.skipped]).toEqual([1, 1]);
    expect(((await rotator.get("race")) as Sess).step).toBe(2);
    expect(((await rotator.get("calm")) as Sess).step).toBe(1);
    expect(errors).toEqual([]);
    expect(gated.seen.map((s) => s.purpose)).toEqual(["session", "session"]);
  });

  test("plaintext -> encrypted -> plaintext: each step reads every session, and rotate() finishes the move", async () => {
    const { also, raw, errors } = setup();
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const plain = also({});
    for (const id of ids) await plain.set(id, sess({ userId: "mona", id }));
    await plain.fields("m0").set("note", "plain note");
    // Encryption on without acceptPlaintext: plaintext sessions read as none, with a decodeError.
    const strict = also({ encryption: { keys: [K1] } });
    expect(await strict.get("m0")).toBeNull();
    expect(errors[0]?.message).toContain("is not encrypted: set encryption.acceptPlaintext");
    errors.length = 0;
    // With acceptPlaintext: read, and encrypted at the next save or by rotate().
    const migrating = also({ encryption: { keys: [K1], acceptPlaintext: true } });
    expect(((await migrating.get("m1")) as Sess).id).toBe("m1");
    await migrating.set("m1", (await migrating.get("m1")) as Sess);
    expect(await raw("m1")).toMatch(/^\$rse1\$k1\$/);
    const encrypted = await rotateAll(migrating);
    expect([encrypted.reencrypted, encrypted.fields]).toEqual([ids.length - 1, 1]);
    for (const id of ids) expect(((await strict.get(id)) as Sess).id).toBe(id);
    expect(await strict.fields("m0").get("note")).toBe("plain note");
    // Back: encryption off with decryptWith reads them, and writes plaintext.
    const back = also({ decryptWith: [K1] });
    expect(((await back.get("m2")) as Sess).id).toBe("m2");
    const decrypted = await rotateAll(back);
    expect([decrypted.reencrypted, decrypted.fields]).toEqual([ids.length, 1]);
    expect(JSON.parse(await raw("m3")).id).toBe("m3");
    for (const id of ids) expect(((await plain.get(id)) as Sess).id).toBe(id);
    expect(await plain.fields("m0").get("note")).toBe("plain note");
    expect(errors).toEqual([]);
    expect(() => plain.rotate()).toThrow(/rotate\(\) needs the "encryption" option/);
  });

  test("a repeat save after another process changed the owner writes in full: the index follows, though owners are sealed", async () => {
    const { store: a, also } = setup();
    const b = also({ encryption: { keys: [K1] } });
    await a.set("rs", sess({ userId: "olga" }));
    const loaded = a.createSession({ sessionID: "rs" } as never, (await a.get("rs")) as SessionData) as unknown as Sess;
    await b.set("rs", sess({ userId: "pavel" }));
    loaded.cart = 3;
    await a.set("rs", loaded);
    expect(((await b.get("rs")) as Sess).userId).toBe("olga");
    expect((await b.listUserSessions("olga")).map((s) => s.id)).toEqual(["rs"]);
    expect(await b.listUserSessions("pavel")).toEqual([]);
  });

  test("the device limit and sign-out everywhere work on sealed sessions", async () => {
    const { store } = setup({ encryption: { keys: [K1] }, maxSessionsPerUser: 2 });
    for (const id of ["d1", "d2", "d3"]) {
      await store.set(id, sess({ userId: "dora" }));
      await nextMs(); // the limit never evicts a session active in the same millisecond as the save
    }
    expect((await store.listUserSessions("dora")).map((s) => s.id).sort()).toEqual(["d2", "d3"]);
    expect(await store.destroyUserSessions("dora", { except: "d3" })).toBe(1);
    expect(await store.countUserSessions("dora")).toBe(1);
  });

  test("an express app end to end: login, reads, a field, logout; Redis never holds the session in clear", async () => {
    const { store, raw, errors, keys } = setup({ encryption: { keys: [K2, K1] } });
    const app = express();
    app.use(session({ store, secret: "encrypted", resave: false, saveUninitialized: false }));
    app.post("/login/:user", (req, res, next) =>
      req.session.regenerate((error) => {
        if (error) return next(error);
        (req.session as unknown as Sess).userId = req.params.user;
        (req.session as unknown as Sess).token = `token-of-${req.params.user}`;
        res.json({ id: req.sessionID });
      }),
    );
    app.get("/me", (req, res) => res.json({ userId: (req.session as unknown as Sess).userId ?? null }));
    app.post("/cart", async (req, res) => res.json({ items: await store.fields(req.sessionID).increment("items") }));
    app.post("/logout", (req, res, next) => req.session.destroy((error) => (error ? next(error) : res.json({ ok: true }))));
    const login = await request(app).post("/login/erin").expect(200);
    const cookie = String(login.headers["set-cookie"]?.[0]).split(";")[0] as string;
    const id = login.body.id as string;
    expect((await request(app).get("/me").set("Cookie", cookie).expect(200)).body.userId).toBe("erin");
    expect((await request(app).post("/cart").set("Cookie", cookie).expect(200)).body.items).toBe(1);
    const stored = await raw(id);
    expect(stored).toMatch(/^\$rse1\$k2\$/);
    expect(stored).not.toContain("erin");
    expect((await store.listUserSessions("erin")).map((s) => s.id)).toEqual([id]);
    await request(app).post("/logout").set("Cookie", cookie).expect(200);
    expect(await h.command(["EXISTS", keys.session(id)])).toBe(0);
    expect((await request(app).get("/me").set("Cookie", cookie).expect(200)).body.userId).toBeNull();
    expect(errors).toEqual([]);
  });
});

describe("options, the adapter and the other frameworks (single Redis)", () => {
  let h: ClientHandle;
  beforeAll(async () => {
    h = await makeClient("node-redis 5", "standalone", { url: standalone.url });
  });
  afterAll(async () => {
    await h?.close();
  });

  test("invalid encryption options throw a TypeError naming the option, never showing a key", () => {
    const make = (more: Partial<RedisStoreOptions>) => () => new RedisStore({ client: h.client, ...more });
    const short = randomBytes(16);
    expect(make({ encryption: { keys: [K1, { id: "short", key: short }] } })).toThrow(
      'option "encryption.keys[1].key" must be 32 bytes (a Buffer of 32 bytes, or 32 bytes in base64), got 16 bytes',
    );
    const text = short.toString("base64");
    try {
      make({ encryption: { keys: [{ id: "k", key: text }] } })();
    } catch (error) {
      expect(String(error)).toContain('option "encryption.keys[0].key" must be 32 bytes in base64');
      expect(String(error)).not.toContain(text);
    }
    expect(make({ encryption: { keys: [] } })).toThrow('option "encryption.keys" must be a non-empty array of { id, key }');
    expect(make({ encryption: { keys: [{ id: "a$b", key: KEY1 }] } })).toThrow('option "encryption.keys[0].id" must be 1 to 64 letters');
    expect(make({ encryption: { keys: [K1, { id: "k1", key: KEY2 }] } })).toThrow('option "encryption.keys[1].id" repeats the key id "k1"');
    expect(make({ encryption: { keys: [K1], acceptPlaintext: "yes" as never } })).toThrow(
      'option "encryption.acceptPlaintext" must be a boolean',
    );
    expect(make({ encryption: { encrypt: () => "" } as never })).toThrow(
      'option "encryption" must be { keys: [{ id, key }] } or an adapter',
    );
    expect(make({ decryptWith: "k1" as never })).toThrow('option "decryptWith" must be an array of { id, key }');
    expect(make({ encryption: { keys: [K1] }, decryptWith: [{ id: "old", key: "short" }] })).toThrow('option "decryptWith[0].key"');
    const store = new RedisStore({ client: h.client, encryption: { keys: [K1] } });
    expect(() => store.rotate({ batch: 0 })).toThrow('argument "batch" must be a positive integer');
    expect(() => store.rotate({ cursor: 5 as never })).toThrow('argument "cursor"');
    expect(JSON.stringify(store.options)).not.toContain(KEY1.toString("base64"));
  });

  test("a KMS adapter: sessions and fields sealed through it with their purpose; a null decrypt reads as none; a failing KMS reaches the caller", async () => {
    const kms = new FakeKms("v1");
    const errors: SessionDecodeError[] = [];
    const store = new RedisStore({ client: h.client, prefix: "enc-adapter:", encryption: kms });
    store.on("decodeError", (error) => errors.push(error));
    await store.set("k", sess({ userId: "kim", secret: "s3cret" }));
    await store.fields("k").set("card", "4111");
    const stored = String(await h.command(["GET", "enc-adapter:k"]));
    expect(stored).toMatch(/^\$rsek1\$v1:/);
    expect(stored).not.toContain("s3cret");
    expect(((await store.get("k")) as Sess).secret).toBe("s3cret");
    expect(await store.fields("k").get("card")).toBe("4111");
    expect(kms.seen).toEqual([
      { sid: "k", purpose: "session" },
      { sid: "k", purpose: "field:card" },
    ]);
    // Another session's envelope: the adapter answers null, the store reads no session.
    await store.set("other", sess({ userId: "oscar" }));
    await h.command(["SET", "enc-adapter:k", String(await h.command(["GET", "enc-adapter:other"]))]);
    expect(await store.get("k")).toBeNull();
    expect(errors[0]?.message).toContain('session "k" could not be decrypted by the encryption adapter');
    // The KMS itself fails: that is no tampering, and the caller hears of it.
    kms.decrypt = async () => {
      throw new Error("KMS unreachable");
    };
    await expect(store.get("other")).rejects.toThrow("KMS unreachable");
    kms.encrypt = async () => {
      throw new Error("KMS unreachable");
    };
    await expect(store.set("other", sess())).rejects.toThrow('encryption.encrypt failed for session "other"');
  });

  test("the Koa / React Router core seals its sessions too, and rotate() works there", async () => {
    const old = new RedisSessions({ client: h.client, prefix: "enc-core:", encryption: { keys: [K1] } });
    await old.set("c", { userId: "cora", cart: [1, 2] });
    expect(String(await h.command(["GET", "enc-core:c"]))).toMatch(/^\$rse1\$k1\$/);
    const current = new RedisSessions({ client: h.client, prefix: "enc-core:", encryption: { keys: [K2, K1] } });
    expect(await current.get("c")).toEqual({ userId: "cora", cart: [1, 2] });
    expect((await rotateAll(current)).reencrypted).toBe(1);
    expect(String(await h.command(["GET", "enc-core:c"]))).toMatch(/^\$rse1\$k2\$/);
    expect((await current.listUserSessions("cora")).map((s) => s.id)).toEqual(["c"]);
  });

  test("the store's encryption seals any string for (sid, purpose): what other per-session data uses", async () => {
    const { encryption } = new RedisStore({ client: h.client, encryption: { keys: [K1] } }).options;
    const sealed = encryption.encrypt("Mozilla/5.0", "s1", "device") as string;
    expect(sealed).toMatch(/^\$rse1\$k1\$/);
    expect(encryption.decrypt(sealed, "s1", "device")).toBe("Mozilla/5.0");
    expect(() => encryption.decrypt(sealed, "s1", "ip")).toThrow(SessionDecodeError);
    expect(() => encryption.decrypt(sealed, "s2", "device")).toThrow(SessionDecodeError);
    const off = new RedisStore({ client: h.client }).options.encryption;
    expect(off.encrypt("Mozilla/5.0", "s1", "device")).toBe("Mozilla/5.0");
    expect(off.decrypt("Mozilla/5.0", "s1", "device")).toBe("Mozilla/5.0");
    expect(() => off.decrypt(sealed, "s1", "device")).toThrow(/no keys: set encryption.keys or decryptWith/);
  });
});
