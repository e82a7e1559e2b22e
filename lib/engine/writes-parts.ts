/**
 * Writes as parts on their own slots: the session with its meta key (one slot), the owner's index
 * (another), the activity sets (a third). Used on Cluster, where one script can't reach all three,
 * and wherever tombstones are kept without the index (then only the session part is sent).
 *
 * A save sends its parts together; they are not atomic with each other. A refused save (tombstone)
 * may leave an index entry or an activity record for a destroyed session: readers verify every
 * entry against the session and drop such ones. A touch first moves the session, which tells whose
 * owner record it holds, then moves that owner's index entry: a touch never changes an owner.
 */
import type { Driver } from "../driver/driver.js";
import type { Keys } from "../keys.js";
import { type Destroyed, type DestroyReason, destroySessions } from "../scripts/destroy.js";
import { indexAdd, recordActivity } from "../scripts/index.js";
import { ACTIVITY_RESOLUTION_MS } from "../scripts/lua.js";
import { type Saved, setSession, type TouchResult, touchSession } from "../scripts/session.js";
import type { SaveRequest, TouchRequest, WriteMode } from "./writes.js";

export class PartWrites implements WriteMode {
  readonly indexesOwners = true;

  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
    readonly tombstoneMs: number,
    /** Is the per-user index (and activity) kept? Else only the session part is written. */
    readonly indexed: boolean,
    /** The absolute lifetime in ms from createdAt; 0: none. */
    readonly absoluteMs: number,
  ) {}

  async save(request: SaveRequest, countEntries: boolean): Promise<Saved | null> {
    const { sid, owner, ttlMs } = request;
    const keys = this.keys.sessionKeys(sid);
    const entry = keys.member;
    const written = setSession(this.driver, keys, { ...request, device: request.device ?? "", absoluteMs: this.absoluteMs });
    if (!this.indexed) {
      const outcome = await written;
      return outcome ? { entries: 0, at: 0, created: outcome === "created" } : null;
    }
    const [ok, entries, at] = await Promise.all([
      written,
      owner ? indexAdd(this.driver, this.keys.user(owner), { entry, ttlMs, countEntries, minMoveMs: 0 }) : 0,
      recordActivity(this.driver, this.#activityKeys(), { sid, owner, lifetimeMs: ttlMs, touch: false }),
    ]);
    return ok ? { entries, at, created: ok === "created" } : null;
  }

  async touch(request: TouchRequest): Promise<TouchResult> {
    const { sid, ttlMs } = request;
    const keys = this.keys.sessionKeys(sid);
    const entry = keys.member;
    const { result, owner } = await touchSession(this.driver, keys, {
      ...request,
      device: request.device ?? "",
      absoluteMs: this.absoluteMs,
    });
    if (result !== "touched" || !this.indexed) return result;
    await Promise.all([
      owner ? indexAdd(this.driver, this.keys.user(owner), { entry, ttlMs, countEntries: false, minMoveMs: ACTIVITY_RESOLUTION_MS }) : 0,
      recordActivity(this.driver, this.#activityKeys(), { sid, owner, lifetimeMs: ttlMs, touch: true }),
    ]);
    return result;
  }

  async destroy(sids: readonly string[], reason: DestroyReason, tombstones: boolean): Promise<Destroyed[]> {
    const items = sids.map((sid) => this.keys.sessionKeys(sid));
    const tombstoneMs = tombstones ? this.tombstoneMs : 0;
    const groups = this.driver.groupBySlot(items, (item) => item.session);
    const [destroyed] = await Promise.all([
      Promise.all(groups.map((group) => destroySessions(this.driver, group, { tombstoneMs, reason, activeSessions: undefined }))),
      // The activity set is on a slot of its own.
      this.indexed ? this.driver.command(this.keys.activeSessions, ["ZREM", this.keys.activeSessions, ...sids]) : undefined,
    ]);
    return destroyed.flat();
  }

  #activityKeys(): { activeSessions: string; activeUsers: string } {
    return { activeSessions: this.keys.activeSessions, activeUsers: this.keys.activeUsers };
  }
}
