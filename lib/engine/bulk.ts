/**
 * The calls over every session of a store: all(), ids(), length(), clear() and scan()'s batches.
 * Each walks the keys under `prefix` with the sweep the engine picked, and never holds more than a
 * few batches of sessions beyond what it returns.
 */
import type { Driver } from "../driver/driver.js";
import type { Keys } from "../keys.js";
import { readSessions } from "../scripts/read.js";
import type { Decode } from "./decode.js";
import { InFlight } from "./in-flight.js";
import type { Sweep } from "./sweep.js";
import type { UserIndex } from "./user-index.js";

/** One session as a scan yields it. */
export interface ScannedSession<S> {
  id: string;
  session: S;
}

/** Batches read ahead of their consumer. */
const READ_AHEAD = 4;
/** clear(): users handled at once. */
const CLEAR_PARALLEL = 16;

function ignore(): void {}

export interface BulkSettings<S> {
  scanCount: number;
  /** Read each session's time left with its value (a store whose touches can't show in the value). */
  readsExpiry: boolean;
  /** The per-user index, when it is on: clear() destroys the signed-in sessions through it, with tombstones. */
  index: UserIndex<S> | undefined;
  decode: Decode<S>;
  /** Hears of the signed-in sessions clear() destroys, user by user. */
  cleared(userId: string, ids: readonly string[]): void;
}

export class Bulk<S> {
  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
    readonly sweep: Sweep,
    readonly settings: BulkSettings<S>,
  ) {}

  /**
   * Every session, each made into what the caller returns. SCAN may yield a key twice (while Redis
   * resizes its table): such duplicates are dropped at the end, found by sorting a copy of the ids,
   * which holds far less memory than a Set of every id while the sessions are read.
   */
  async all<T extends { id: string }>(make: (id: string, session: S) => T): Promise<T[]> {
    const sessions: T[] = [];
    for await (const batch of this.#batches(this.settings.scanCount, true, make)) {
      for (const item of batch) sessions.push(item);
    }
    return dropDuplicates(sessions);
  }

  async ids(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const keys of this.sweep.keys(this.settings.scanCount, true)) for (const key of keys) ids.add(this.keys.sid(key));
    return [...ids];
  }

  length(): Promise<number> {
    return this.sweep.count(this.settings.scanCount);
  }

  async clear(): Promise<void> {
    const { scanCount, index } = this.settings;
    // 1. Every signed-in session, user by user, through the active-users set and each user's index:
    //    destroyed with a tombstone (a late save must not sign anyone back in), and the index dropped.
    if (index) {
      const users = this.keys.activeUsers;
      const perUser = new InFlight(CLEAR_PARALLEL);
      await perUser.run(async () => {
        let cursor = "0";
        do {
          const [next, flat] = await this.driver.command<[string, unknown[]]>(users, ["ZSCAN", users, cursor, "COUNT", String(scanCount)]);
          cursor = String(next);
          for (const user of zscanMembers(flat)) await perUser.add(index.clear(user).then((ids) => this.settings.cleared(user, ids)));
        } while (cursor !== "0");
      });
      await this.driver.command(users, ["UNLINK", this.keys.activeSessions, users]);
    }
    // 2. Everything else under the prefix: anonymous sessions, and any an index missed; then the
    //    fields and info of sessions that are gone now.
    await this.sweep.unlinkAll(scanCount);
    await this.sweep.unlinkAll(scanCount, this.keys.fieldsPrefix);
    await this.sweep.unlinkAll(scanCount, this.keys.infoPrefix);
  }

  /**
   * The sessions of each scanned batch of keys. Read-ahead: up to READ_AHEAD batches are being read
   * while the caller consumes one, so the SCAN chain, Redis's reads and our parsing overlap; memory
   * stays bounded by READ_AHEAD batches.
   */
  sessions(count: number, stretch: boolean): AsyncGenerator<ScannedSession<S>[]> {
    return this.#batches(count, stretch, (id, session) => ({ id, session }));
  }

  async *#batches<T>(count: number, stretch: boolean, make: (id: string, session: S) => T): AsyncGenerator<T[]> {
    const keyBatches = this.sweep.keys(count, stretch);
    const pending: Promise<T[] | undefined>[] = [];
    let exhausted = false;
    const fill = () => {
      while (!exhausted && pending.length < READ_AHEAD) {
        const batch = keyBatches.next().then((next) => {
          if (next.done) {
            exhausted = true;
            return undefined;
          }
          return this.#readSessions(next.value, make);
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
  async #readSessions<T>(keys: readonly string[], make: (id: string, session: S) => T): Promise<T[]> {
    const groups = this.driver.groupBySlot(keys, (key) => key);
    const batches = await Promise.all(groups.map((group) => this.driver.retry(() => this.#readBatch(group))));
    const ids: string[] = [];
    const decoded: (S | null | Promise<S | null>)[] = [];
    let async = false;
    groups.forEach((group, g) => {
      group.forEach((key, i) => {
        const stored = batches[g]?.[i];
        if (!stored) return; // expired or deleted since the SCAN
        const id = this.keys.sid(key);
        const session = this.settings.decode(id, stored.value, stored.ttlMs);
        if (session instanceof Promise) async = true;
        ids.push(id);
        decoded.push(session);
      });
    });
    const sessions = async ? await Promise.all(decoded) : (decoded as (S | null)[]);
    const made: T[] = [];
    sessions.forEach((session, i) => {
      if (session !== null && session !== undefined) made.push(make(ids[i] as string, session));
    });
    return made;
  }

  /** Values of keys on one slot (undefined where gone), with their time left when the settings ask for it. */
  async #readBatch(keys: readonly string[]): Promise<({ value: string; ttlMs: number | undefined } | undefined)[]> {
    if (this.settings.readsExpiry) return readSessions(this.driver, keys);
    const values = await this.driver.command<(string | null)[]>(keys[0], ["MGET", ...keys]);
    return values.map((value) => (value === null || value === undefined ? undefined : { value: String(value), ttlMs: undefined }));
  }
}

/** `items` without the later ones of any id seen twice. */
export function dropDuplicates<T extends { id: string }>(items: T[]): T[] {
  const sorted = items.map((item) => item.id).sort();
  const twice = new Set<string>();
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) twice.add(sorted[i] as string);
  if (!twice.size) return items;
  const seen = new Set<string>();
  return items.filter(({ id }) => {
    if (!twice.has(id)) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** ZSCAN's members: a flat [member, score, ...] list (RESP2), or [member, score] pairs (RESP3). */
function zscanMembers(flat: readonly unknown[]): string[] {
  if (Array.isArray(flat[0])) return (flat as unknown[][]).map((pair) => String(pair[0]));
  const members: string[] = [];
  for (let i = 0; i < flat.length; i += 2) members.push(String(flat[i]));
  return members;
}
