/**
 * How one user's sessions are found, verified and destroyed. An index entry is a hint, never
 * trusted alone: each is checked against its session and its meta key, and the entries whose
 * session is gone or belongs to someone else now are dropped. The engine picks one of two ways:
 *
 * - AtOnceLookup (single Redis): one script reads, verifies and heals the index in one round trip.
 * - PerSlotLookup (Cluster): the index first, then one script per slot of the sessions it names.
 */
import type { Driver } from "../driver/driver.js";
import { type Keys, sidOfMember } from "../keys.js";
import { type DestroyReason, destroyOwned, destroyUser } from "../scripts/destroy.js";
import { indexRead } from "../scripts/index.js";
import { readOwned, type SessionInfo, userSessions } from "../scripts/read.js";

/** A live session of one user, as found and verified, with its info (createdAt, device). */
export interface FoundSession extends SessionInfo {
  id: string;
  /** The stored value; "" when not asked for. */
  value: string;
  /** Time left in ms when it was read; -1: no expiry. */
  ttlMs: number;
  /** Last activity in ms (Redis's clock), undefined when no record is left. */
  lastActive: number | undefined;
}

export interface UserLookup {
  find(userId: string, withValues: boolean): Promise<FoundSession[]>;
  /** Destroys the sessions still owned by `userId` but `except`; resolves to the ids destroyed. */
  destroy(userId: string, except: ReadonlySet<string>, reason: DestroyReason, tombstoneMs: number): Promise<string[]>;
}

export class AtOnceLookup implements UserLookup {
  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
  ) {}

  find(userId: string, withValues: boolean): Promise<FoundSession[]> {
    return userSessions(
      this.driver,
      { userIndex: this.keys.user(userId), activeSessions: this.keys.activeSessions },
      { withValues, sessionPrefix: this.keys.prefix, metaPrefix: this.keys.metaPrefix, infoPrefix: this.keys.infoPrefix, userId },
    );
  }

  destroy(userId: string, except: ReadonlySet<string>, reason: DestroyReason, tombstoneMs: number): Promise<string[]> {
    return destroyUser(
      this.driver,
      { userIndex: this.keys.user(userId), activeSessions: this.keys.activeSessions },
      {
        tombstoneMs,
        reason,
        sessionPrefix: this.keys.prefix,
        metaPrefix: this.keys.metaPrefix,
        fieldsPrefix: this.keys.fieldsPrefix,
        infoPrefix: this.keys.infoPrefix,
        userId,
        except: [...except],
      },
    );
  }
}

export class PerSlotLookup implements UserLookup {
  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
  ) {}

  async find(userId: string, withValues: boolean): Promise<FoundSession[]> {
    const index = this.keys.user(userId);
    const entries = await indexRead(this.driver, index);
    if (!entries.length) return [];
    const ids = entries.map(sidOfMember);
    const activity = this.keys.activeSessions;
    const items = ids.map((id, at) => ({ ...this.keys.sessionKeys(id), id, at }));
    const groups = this.driver.groupBySlot(items, (item) => item.session);
    const [states, scores] = await Promise.all([
      Promise.all(groups.map((group) => readOwned(this.driver, group, withValues))),
      this.driver.command<(string | number | null)[]>(activity, ["ZMSCORE", activity, ...ids]),
    ]);
    const found: FoundSession[] = [];
    const stale: string[] = [];
    groups.forEach((group, g) => {
      group.forEach((item, i) => {
        const state = states[g]?.[i];
        if (!state || state.owner !== userId) {
          stale.push(entries[item.at] as string);
          return;
        }
        const score = scores[item.at];
        found.push({
          id: item.id,
          value: state.value,
          ttlMs: state.ttlMs,
          lastActive: score === null || score === undefined ? undefined : Number(score),
          createdAt: state.createdAt,
          device: state.device,
        });
      });
    });
    // Self-healing: entries whose session is gone or now belongs to someone else leave the index.
    if (stale.length) await this.driver.command(index, ["ZREM", index, ...stale]);
    return found;
  }

  async destroy(userId: string, except: ReadonlySet<string>, reason: DestroyReason, tombstoneMs: number): Promise<string[]> {
    const index = this.keys.user(userId);
    const victims = (await indexRead(this.driver, index)).filter((entry) => !except.has(sidOfMember(entry)));
    if (!victims.length) return [];
    const items = victims.map((entry) => this.keys.sessionKeys(sidOfMember(entry)));
    const [destroyed] = await Promise.all([
      Promise.all(
        this.driver
          .groupBySlot(items, (item) => item.session)
          .map((group) => destroyOwned(this.driver, group, { tombstoneMs, reason, userId })),
      ).then((parts) => parts.flat()),
      this.driver.command(index, ["ZREM", index, ...victims]),
    ]);
    // The activity set is on a slot of its own: exactly the destroyed ids leave it.
    if (destroyed.length) await this.driver.command(this.keys.activeSessions, ["ZREM", this.keys.activeSessions, ...destroyed]);
    return destroyed;
  }
}
