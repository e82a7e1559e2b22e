/**
 * The calls over every session of a store: all(), ids(), length(), clear() and scan()'s batches.
 * Each walks the keys under `prefix` with one SCAN (redis.ts: per master on Cluster; on a single
 * Redis in stretches run by a script, see SCAN_STEPS), and never holds more than a few batches of
 * sessions beyond what it returns.
 */
import type { SessionData } from "express-session";
import type { Keys } from "./keys.js";
import { isNil, type RedisGateway, Script } from "./redis.js";
import * as lua from "./scripts.js";
import type { Decode, UserIndex } from "./user-index.js";

/** A session as all() returns it: connect-redis's shape, the session with its id. */
export type SessionWithId = SessionData & { id: string };

/** One session as scan() yields it. */
export interface ScannedSession {
  id: string;
  session: SessionData;
}

/** Batches read ahead of their consumer. */
const READ_AHEAD = 4;
/** clear(): users (and, on Cluster, UNLINK batches) handled at once. */
const CLEAR_PARALLEL = 16;

const READ_BATCH = new Script(lua.READ_SESSIONS);

function ignore(): void {}

/**
 * Keeps up to `limit` calls in flight while a producer (a scan) runs, and fails with the first
 * error only after every call has settled, so no rejection is ever left unhandled.
 */
class Batches {
  readonly #inflight = new Set<Promise<void>>();
  #error: { error: unknown } | undefined;

  constructor(readonly limit: number) {}

  /** Adds a call; waits while `limit` are in flight. */
  async add(call: Promise<unknown>): Promise<void> {
    const tracked: Promise<void> = call.then(
      () => {
        this.#inflight.delete(tracked);
      },
      (error: unknown) => {
        this.#inflight.delete(tracked);
        this.#error ??= { error };
      },
    );
    this.#inflight.add(tracked);
    if (this.#inflight.size >= this.limit) await Promise.race(this.#inflight);
  }

  /** Runs the producer, then waits for every call; rethrows the producer's error, else the first call's. */
  async run(produce: () => Promise<void>): Promise<void> {
    let produced: { error: unknown } | undefined;
    await produce().catch((error: unknown) => {
      produced = { error };
    });
    await Promise.all(this.#inflight);
    const failure = produced ?? this.#error;
    if (failure) throw failure.error;
  }
}

/** Replaces a stored cookie.expires with the key's real expiry when they differ (after a touch). */
export function reportExpiry(session: SessionData, expireAt: number): void {
  const cookie = (session as { cookie?: { expires?: unknown } }).cookie;
  if (!cookie?.expires || expireAt <= 0) return;
  const stored = new Date(cookie.expires as string | number | Date).getTime();
  if (stored === expireAt) return;
  cookie.expires = cookie.expires instanceof Date ? new Date(expireAt) : new Date(expireAt).toISOString();
}

export interface BulkSettings {
  prefix: string;
  scanCount: number;
  /** Read each session's real expiry with its value (a custom serializer, whose cookie.expires a touch cannot rewrite). */
  readsExpiry: boolean;
  /** The per-user index, when it is on: clear() destroys the signed-in sessions through it, with tombstones. */
  index: UserIndex | undefined;
}

export class Bulk {
  readonly #redis: RedisGateway;
  readonly #keys: Keys;
  readonly #decode: Decode;
  readonly #settings: BulkSettings;

  constructor(redis: RedisGateway, keys: Keys, decode: Decode, settings: BulkSettings) {
    this.#redis = redis;
    this.#keys = keys;
    this.#decode = decode;
    this.#settings = settings;
  }

  async all(): Promise<SessionWithId[]> {
    const seen = new Set<string>();
    const sessions: SessionWithId[] = [];
    for await (const batch of this.sessions(this.#settings.scanCount, true)) {
      for (const { id, session } of batch) {
        if (seen.has(id)) continue;
        seen.add(id);
        (session as SessionWithId).id = id;
        sessions.push(session as SessionWithId);
      }
    }
    return sessions;
  }

  async ids(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const keys of this.#scanKeys(this.#settings.scanCount, true)) for (const key of keys) ids.add(this.#keys.sid(key));
    return [...ids];
  }

  async length(): Promise<number> {
    const { prefix, scanCount } = this.#settings;
    if (this.#redis.topology !== "cluster") return this.#redis.sweep(this.#keys.sessionPattern, scanCount, prefix, "count");
    let count = 0;
    for await (const batch of this.#scanKeys(scanCount, true)) count += batch.length;
    return count;
  }

  async clear(): Promise<void> {
    const { prefix, scanCount, index } = this.#settings;
    // 1. Every signed-in session, user by user, through the active-users set and each user's
    //    index: destroyed with a tombstone (a late save must not sign anyone back in), and the
    //    index dropped. No second SCAN of the keyspace is needed to find them.
    if (index) {
      const users = this.#keys.activeUsers;
      const perUser = new Batches(CLEAR_PARALLEL);
      await perUser.run(async () => {
        let cursor = "0";
        do {
          const [next, flat] = await this.#redis.command<[string, string[]]>(users, ["ZSCAN", users, cursor, "COUNT", String(scanCount)]);
          cursor = String(next);
          for (let i = 0; i < flat.length; i += 2) await perUser.add(index.clear(String(flat[i])));
        } while (cursor !== "0");
      });
      await this.#redis.command(users, ["UNLINK", this.#keys.activeSessions, users]);
    }
    // 2. Everything else under the prefix (anonymous sessions, and any an index missed): on a
    //    single Redis, UNLINKed on the server as the SCAN finds them; on Cluster, UNLINK per
    //    batch and slot, as many batches in flight as the scan produces.
    if (this.#redis.topology !== "cluster") {
      await this.#redis.sweep(this.#keys.sessionPattern, scanCount, prefix, "unlink");
      return;
    }
    const unlinks = new Batches(CLEAR_PARALLEL);
    await unlinks.run(async () => {
      for await (const keys of this.#scanKeys(scanCount, true)) {
        for (const group of this.#redis.groupBySlot(keys, (key) => key))
          await unlinks.add(this.#redis.retry(() => this.#redis.command(group[0], ["UNLINK", ...group])));
      }
    });
  }

  /**
   * The sessions of each scanned batch of keys, `count` keys per SCAN (with `stretch`, see
   * #scanKeys). Read-ahead: up to READ_AHEAD batches are being read while the caller consumes one,
   * so the SCAN chain, Redis's reads and our parsing overlap; memory stays bounded by READ_AHEAD x a batch.
   */
  async *sessions(count: number, stretch: boolean): AsyncGenerator<ScannedSession[]> {
    const keyBatches = this.#scanKeys(count, stretch);
    const pending: Promise<ScannedSession[] | undefined>[] = [];
    let exhausted = false;
    const fill = () => {
      while (!exhausted && pending.length < READ_AHEAD) {
        const batch = keyBatches.next().then((next) => {
          if (next.done) {
            exhausted = true;
            return undefined;
          }
          return this.#readSessions(next.value);
        });
        batch.catch(ignore); // awaited below; this only keeps an early exit from leaving it unhandled
        pending.push(batch);
      }
    };
    try {
      fill();
      while (pending.length) {
        const batch = await pending.shift();
        fill();
        if (batch) yield batch;
      }
    } finally {
      await keyBatches.return(undefined).catch(ignore);
    }
  }

  /** Reads and decodes one batch of session keys (per slot); unreadable and vanished ones are left out. */
  async #readSessions(keys: readonly string[]): Promise<ScannedSession[]> {
    const groups = this.#redis.groupBySlot(keys, (key) => key);
    const batches = await Promise.all(groups.map((group) => this.#redis.retry(() => this.#readBatch(group))));
    // Decoded synchronously (JSON); only an async serializer's parses are awaited, all at once.
    const decoded: { id: string; session: SessionData | null | Promise<SessionData | null>; expireAt: number }[] = [];
    let async = false;
    groups.forEach((group, g) => {
      const batch = batches[g] as [string | null, number][];
      group.forEach((key, i) => {
        const [value, expireAt] = batch[i] as [string | null, number];
        if (isNil(value)) return; // expired or deleted since the SCAN
        const id = this.#keys.sid(key);
        const session = this.#decode(id, value);
        if (session instanceof Promise) async = true;
        decoded.push({ id, session, expireAt });
      });
    });
    if (async) for (const item of decoded) item.session = await item.session;
    const sessions: ScannedSession[] = [];
    for (const item of decoded) {
      const session = item.session as SessionData | null;
      if (!session) continue;
      if (item.expireAt > 0) reportExpiry(session, item.expireAt);
      sessions.push({ id: item.id, session });
    }
    return sessions;
  }

  /** Values of keys on one slot, with their real expiries when the settings ask for them. */
  async #readBatch(keys: readonly string[]): Promise<[string | null, number][]> {
    if (!this.#settings.readsExpiry) {
      const values = await this.#redis.command<(string | null)[]>(keys[0], ["MGET", ...keys]);
      return values.map((value) => [value, -1]);
    }
    const flat = await this.#redis.script<(string | null | false)[]>(READ_BATCH, keys, []);
    return keys.map((_, i) => [isNil(flat[2 * i]) ? null : (flat[2 * i] as string), Number(flat[2 * i + 1])]);
  }

  /** Batches of session keys: `count` per SCAN; with `stretch`, about SCAN_BUDGET per round trip (single Redis). */
  async *#scanKeys(count: number, stretch: boolean): AsyncGenerator<string[]> {
    const prefix = this.#settings.prefix;
    for await (const keys of this.#redis.scan(this.#keys.sessionPattern, count, prefix, stretch)) {
      // SCAN MATCH already filters; this guards against a glob we failed to escape.
      const own = keys.filter((key) => key.startsWith(prefix));
      if (own.length) yield own;
    }
  }
}
