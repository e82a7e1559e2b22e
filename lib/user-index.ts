/**
 * The per-user index and the activity sets as they are read and cleaned up: one user's sessions
 * (listed, counted, destroyed), the activity queries, and clear()'s per-user step. Writes to the
 * index happen in the save path (store.ts, through the write scripts). The store's public
 * per-user methods check their arguments and call these.
 *
 * An index entry is a hint, never trusted alone: every reader verifies it against the session and
 * its meta key, and drops the entries whose session is gone or belongs to someone else now.
 */
import type { SessionData } from "express-session";
import { type Keys, sidOfMember } from "./keys.js";
import { isNil, type RedisGateway, Script } from "./redis.js";
import * as lua from "./scripts.js";

/** One of a user's sessions, as listUserSessions() returns it. */
export interface UserSession {
  id: string;
  session: SessionData;
  /** When Redis will delete the session; null when it has no expiry. */
  expiresAt: Date | null;
  /**
   * The last set() or touch() (to the `touchAfter` window); null only when its activity record was
   * pruned, which happens when sessions of different lifetimes share a store (see the README).
   */
  lastActive: Date | null;
}

/** One session active within a window, as listActiveSessions() yields it. */
export interface ActiveSession {
  id: string;
  session: SessionData;
  lastActive: Date;
  expiresAt: Date | null;
}

/** Parses a stored value as the store does (reporting what it cannot read); a Promise only for an async serializer. */
export type Decode = (sid: string, value: string) => SessionData | null | Promise<SessionData | null>;

interface SessionState {
  value: string;
  owner: string;
  expiresAt: Date | null;
  lastActive: Date | null;
}

const INDEX_READ = new Script(lua.INDEX_READ);
const READ_OWNED = new Script(lua.READ_OWNED);
const DESTROY_OWNED = new Script(lua.DESTROY_OWNED);
const ACTIVITY_PAGE = new Script(lua.ACTIVITY_PAGE);
const USER_SESSIONS = new Script(lua.USER_SESSIONS);
const DESTROY_USER = new Script(lua.DESTROY_USER);

/** Most recent activity first; ties (and sessions without a record) by id, so the order is stable. */
function byActivity(sessions: UserSession[]): UserSession[] {
  return sessions.sort((a, b) => (b.lastActive?.getTime() ?? 0) - (a.lastActive?.getTime() ?? 0) || (a.id < b.id ? -1 : 1));
}

export class UserIndex {
  readonly #redis: RedisGateway;
  readonly #keys: Keys;
  readonly #decode: Decode;
  /** How long a destroyed id stays refused, in ms; 0: no tombstones. */
  readonly #tombstoneMs: number;

  constructor(redis: RedisGateway, keys: Keys, decode: Decode, tombstoneMs: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#decode = decode;
    this.#tombstoneMs = tombstoneMs;
  }

  /** The live sessions of one user, most recent activity first; `withSession: false` leaves `session` empty. */
  sessions(userId: string, withSession: boolean): Promise<UserSession[]> {
    if (this.#redis.topology !== "cluster") return this.#sessionsAtOnce(userId, withSession);
    return this.#sessionsBySlot(userId, withSession);
  }

  /** Destroys every session of one user but `except`, each with a tombstone; returns how many. */
  async destroy(userId: string, except: ReadonlySet<string>): Promise<number> {
    if (this.#redis.topology !== "cluster") return this.#destroyAtOnce(userId, [...except]);
    // Cluster, two round trips: the index, then per slot one script that destroys only the sessions
    // still owned by this user (checked against their meta keys), with the index entries dropped alongside.
    const index = this.#keys.user(userId);
    const listed = await this.#redis.script<string[]>(INDEX_READ, [index], [Date.now()]);
    const victims = listed.filter((entry) => !except.has(sidOfMember(entry)));
    if (!victims.length) return 0;
    return (
      await Promise.all([this.#destroyOwned(userId, victims.map(sidOfMember)), this.#redis.command(index, ["ZREM", index, ...victims])])
    )[0];
  }

  /** clear() for one user: destroys the sessions the index lists that are still theirs, then the index. */
  async clear(userId: string): Promise<void> {
    const index = this.#keys.user(userId);
    if (this.#redis.topology !== "cluster") {
      await this.#destroyAtOnce(userId, []);
    } else {
      const entries = await this.#redis.script<string[]>(INDEX_READ, [index], [Date.now()]);
      if (entries.length) await this.#destroyOwned(userId, entries.map(sidOfMember));
    }
    await this.#redis.command(index, ["UNLINK", index]);
  }

  /** How many distinct users were active since `since` (ms). */
  async countActiveUsers(since: number): Promise<number> {
    const key = this.#keys.activeUsers;
    return Number(await this.#redis.command(key, ["ZCOUNT", key, String(since), "+inf"]));
  }

  /** The users active since `since` (ms), most recent first. */
  listActiveUsers(since: number): Promise<string[]> {
    const key = this.#keys.activeUsers;
    return this.#redis.command<string[]>(key, ["ZRANGE", key, "+inf", String(since), "BYSCORE", "REV"]);
  }

  /** The sessions active since `since` (ms), newest first, `pageSize` per round trip; stale entries are dropped as met. */
  async *activeSessions(since: number, pageSize: number): AsyncGenerator<ActiveSession> {
    const key = this.#keys.activeSessions;
    let max = "+inf";
    let seenAtMax = new Set<string>();
    for (;;) {
      // Ask for enough rows to get past the ids already yielded at the boundary score.
      const requested = pageSize + seenAtMax.size;
      const rows = await this.#redis.script<string[]>(ACTIVITY_PAGE, [key], [max, String(since), requested]);
      const page: { id: string; score: string }[] = [];
      for (let i = 0; i < rows.length; i += 2) {
        const id = rows[i] as string;
        const score = String(rows[i + 1]);
        if (score === max && seenAtMax.has(id)) continue;
        page.push({ id, score });
      }
      if (!page.length) return;
      const states = await this.#readMany(
        page.map((row) => row.id),
        true,
      );
      const stale: string[] = [];
      for (const [i, row] of page.entries()) {
        const state = states[i];
        if (!state) {
          stale.push(row.id);
          continue;
        }
        const session = await this.#decode(row.id, state.value);
        if (session) yield { id: row.id, session, lastActive: new Date(Number(row.score)), expiresAt: state.expiresAt };
      }
      if (stale.length) await this.#redis.command(key, ["ZREM", key, ...stale]);
      if (rows.length / 2 < requested) return;
      const lastScore = (page[page.length - 1] as { score: string }).score;
      if (lastScore !== max) seenAtMax = new Set();
      for (const row of page) if (row.score === lastScore) seenAtMax.add(row.id);
      max = lastScore;
    }
  }

  /** sessions() on Cluster: the index, then the sessions and owners per slot; stale entries dropped after. */
  async #sessionsBySlot(userId: string, withSession: boolean): Promise<UserSession[]> {
    const index = this.#keys.user(userId);
    const entries = await this.#redis.script<string[]>(INDEX_READ, [index], [Date.now()]);
    if (!entries.length) return [];
    const ids = entries.map(sidOfMember);
    const states = await this.#readMany(ids, withSession);
    const live: UserSession[] = [];
    const stale: string[] = [];
    for (const [i, id] of ids.entries()) {
      const state = states[i];
      if (!state || state.owner !== userId) {
        stale.push(entries[i] as string);
        continue;
      }
      let session = {} as SessionData;
      if (withSession) {
        const decoded = await this.#decode(id, state.value);
        if (!decoded) continue;
        session = decoded;
      }
      live.push({ id, session, expiresAt: state.expiresAt, lastActive: state.lastActive });
    }
    // Self-healing: entries whose session is gone or now belongs to someone else are dropped.
    if (stale.length) await this.#redis.command(index, ["ZREM", index, ...stale]);
    return byActivity(live);
  }

  /** sessions() on a single Redis: one script reads, verifies and heals the index (USER_SESSIONS). */
  async #sessionsAtOnce(userId: string, withSession: boolean): Promise<UserSession[]> {
    const flat = await this.#redis.script<(string | null | false)[]>(
      USER_SESSIONS,
      [this.#keys.user(userId), this.#keys.activeSessions],
      [Date.now(), withSession ? "1" : "0", this.#keys.prefix, this.#keys.metaPrefix, userId],
    );
    // Decoded synchronously (JSON); only an async serializer's parses are awaited, all at once.
    const sessions: (SessionData | null | Promise<SessionData | null>)[] = [];
    let async = false;
    for (let i = 0; i < flat.length; i += 4) {
      const decoded = withSession ? this.#decode(String(flat[i]), String(flat[i + 1])) : ({} as SessionData);
      if (decoded instanceof Promise) async = true;
      sessions.push(decoded);
    }
    if (async) for (const [i, decoded] of sessions.entries()) sessions[i] = await decoded;
    const live: UserSession[] = [];
    for (let i = 0; i < flat.length; i += 4) {
      const session = sessions[i / 4] as SessionData | null;
      if (!session) continue; // unreadable: reported by decode
      const expireAt = Number(flat[i + 2]);
      const active = flat[i + 3];
      live.push({
        id: String(flat[i]),
        session,
        expiresAt: expireAt > 0 ? new Date(expireAt) : null,
        lastActive: active ? new Date(Number(active)) : null,
      });
    }
    return byActivity(live);
  }

  /** destroy() on a single Redis: one script (DESTROY_USER). */
  async #destroyAtOnce(userId: string, except: readonly string[]): Promise<number> {
    return Number(
      await this.#redis.script(
        DESTROY_USER,
        [this.#keys.user(userId), this.#keys.activeSessions],
        [Date.now(), this.#tombstoneMs, this.#keys.prefix, this.#keys.metaPrefix, userId, ...except],
      ),
    );
  }

  /**
   * Reads sessions with their owners (one script per session, each on its own slot) and their last
   * activity (one ZMSCORE on the activity set).
   */
  async #readMany(ids: readonly string[], withValue: boolean): Promise<(SessionState | undefined)[]> {
    const activity = this.#keys.activeSessions;
    const items = ids.map((id, index) => ({ id, index, key: this.#keys.session(id) }));
    const groups = this.#redis.groupBySlot(items, (item) => item.key);
    const [replies, scores] = await Promise.all([
      Promise.all(
        groups.map((group) =>
          this.#redis.script<string[]>(
            READ_OWNED,
            group.flatMap((item) => [item.key, this.#keys.meta(item.id, item.key)]),
            [withValue ? "1" : "0"],
          ),
        ),
      ),
      this.#redis.command<(string | number | null)[]>(activity, ["ZMSCORE", activity, ...ids]),
    ]);
    const states = new Array<SessionState | undefined>(ids.length);
    groups.forEach((group, g) => {
      const flat = replies[g] as string[];
      group.forEach((item, i) => {
        const expireAt = Number(flat[3 * i + 1]);
        if (expireAt === -2) return;
        const score = scores[item.index];
        states[item.index] = {
          value: String(flat[3 * i]),
          owner: String(flat[3 * i + 2]),
          expiresAt: expireAt > 0 ? new Date(expireAt) : null,
          lastActive: isNil(score) ? null : new Date(Number(score)),
        };
      });
    });
    return states;
  }

  /**
   * Cluster: destroys the sessions among `sids` that still belong to `userId`, one script per slot,
   * then drops exactly the destroyed ids from the activity set (on a slot of its own); returns how many.
   */
  async #destroyOwned(userId: string, sids: readonly string[]): Promise<number> {
    const items = sids.map((sid) => ({ sid, key: this.#keys.session(sid) }));
    const destroyed = (
      await Promise.all(
        this.#redis
          .groupBySlot(items, (item) => item.key)
          .map((group) =>
            this.#redis.script<string[]>(
              DESTROY_OWNED,
              group.flatMap((item) => [item.key, this.#keys.meta(item.sid, item.key)]),
              [this.#tombstoneMs, userId, ...group.map((item) => item.sid)],
            ),
          ),
      )
    ).flat();
    if (destroyed.length) await this.#redis.command(this.#keys.activeSessions, ["ZREM", this.#keys.activeSessions, ...destroyed]);
    return destroyed.length;
  }
}
