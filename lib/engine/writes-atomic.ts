/**
 * A single Redis (standalone, Sentinel) with the per-user index: each save, touch and destroy is
 * one script that writes the session, its owner record, its owner's index entry and its activity
 * at once, so no reader ever sees one without the others.
 */
import type { Driver } from "../driver/driver.js";
import type { Keys } from "../keys.js";
import { type Destroyed, type DestroyReason, destroySessions } from "../scripts/destroy.js";
import { type Saved, setAll, type TouchResult, touchAll } from "../scripts/session.js";
import type { SaveRequest, TouchRequest, WriteMode } from "./writes.js";

export class AtomicWrites implements WriteMode {
  readonly indexesOwners = true;

  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
    readonly tombstoneMs: number,
    /** The absolute lifetime in ms from createdAt; 0: none. */
    readonly absoluteMs: number,
  ) {}

  save(request: SaveRequest, countEntries: boolean): Promise<Saved | null> {
    const { sid, owner } = request;
    const keys = this.keys.sessionKeys(sid);
    return setAll(
      this.driver,
      {
        ...keys,
        // An anonymous session has no index; the slot's any key stands in (a single Redis has one slot).
        userIndex: owner ? this.keys.user(owner) : this.keys.activeUsers,
        activeSessions: this.keys.activeSessions,
        activeUsers: this.keys.activeUsers,
      },
      { ...request, device: request.device ?? "", absoluteMs: this.absoluteMs, entry: keys.member, countEntries },
    );
  }

  touch({ sid, ttlMs, expiresIso, touchAfterMs, device = "" }: TouchRequest): Promise<TouchResult> {
    const keys = this.keys.sessionKeys(sid);
    return touchAll(
      this.driver,
      { ...keys, activeSessions: this.keys.activeSessions, activeUsers: this.keys.activeUsers },
      {
        ttlMs,
        expiresIso,
        touchAfterMs,
        device,
        absoluteMs: this.absoluteMs,
        sid,
        entry: keys.member,
        userIndexRoot: this.keys.userIndexRoot,
      },
    );
  }

  destroy(sids: readonly string[], reason: DestroyReason, tombstones: boolean): Promise<Destroyed[]> {
    const items = sids.map((sid) => this.keys.sessionKeys(sid));
    return destroySessions(this.driver, items, {
      tombstoneMs: tombstones ? this.tombstoneMs : 0,
      reason,
      activeSessions: this.keys.activeSessions,
    });
  }
}
