/**
 * The write modes. The engine picks one when it is built (modes.ts) and calls only it; each reads
 * top to bottom like connect-redis's methods: keys, the calls, the outcome.
 *
 * - PlainWrites: connect-redis's commands (SET, PEXPIRE, UNLINK), for `userId: false` without tombstones
 *   or an absolute timeout.
 * - AtomicWrites (writes-atomic.ts): a single Redis with the per-user index, one script per write.
 * - PartWrites (writes-parts.ts): Cluster, or tombstones without the index; per-slot parts sent together.
 */
import { type Driver, isNil } from "../driver/driver.js";
import type { Keys } from "../keys.js";
import type { Destroyed, DestroyReason } from "../scripts/destroy.js";
import type { Saved, TouchResult } from "../scripts/session.js";

export interface SaveRequest {
  sid: string;
  value: string;
  /** Lifetime in ms from now; 0: no expiry. */
  ttlMs: number;
  /** "" for an anonymous session. */
  owner: string;
  /** Only update an existing session (one that a request loaded), never create it. */
  mustExist: boolean;
  /** The device to record beside the session (the tracker's serialized form); "" or absent: none. */
  device?: string | undefined;
}

export interface TouchRequest {
  sid: string;
  /** New lifetime in ms from now (> 0). */
  ttlMs: number;
  /** The new cookie.expires to write into the stored value, "" for none (see touchShows). */
  expiresIso: string;
  /** Redis skips the touch when it would move the expiry by less than this; 0: always. */
  touchAfterMs: number;
  /** The device to record beside the session; "" or absent: none. */
  device?: string | undefined;
}

export interface WriteMode {
  /**
   * Does this mode keep owner records (meta keys)? A repeat save relies on them to cover the key's
   * expiry; the plain mode has none and sends connect-redis's SET instead.
   */
  readonly indexesOwners: boolean;
  /** Resolves to the owner's index size (when counted, else 0) and the save's time, or null when refused. */
  save(request: SaveRequest, countEntries: boolean): Promise<Saved | null>;
  touch(request: TouchRequest): Promise<TouchResult>;
  /** Destroys sessions; with `tombstones`, leaves one for each (with its reason). */
  destroy(sids: readonly string[], reason: DestroyReason, tombstones: boolean): Promise<Destroyed[]>;
}

/** connect-redis's commands. XX on a loaded session's save: a late save never recreates a destroyed one. */
export class PlainWrites implements WriteMode {
  readonly indexesOwners = false;

  constructor(
    readonly driver: Driver,
    readonly keys: Keys,
  ) {}

  save({ sid, value, ttlMs, mustExist }: SaveRequest): Promise<Saved | null> {
    const key = this.keys.session(sid);
    const command = ttlMs > 0 ? ["SET", key, value, "PX", String(ttlMs)] : ["SET", key, value];
    if (mustExist) command.push("XX");
    return this.driver.command<string | null, Saved | null>(key, command, (reply) =>
      isNil(reply) ? null : { entries: 0, at: 0, created: false },
    );
  }

  touch({ sid, ttlMs }: TouchRequest): Promise<TouchResult> {
    const key = this.keys.session(sid);
    return this.driver.command<number, TouchResult>(key, ["PEXPIRE", key, String(ttlMs)], (moved) =>
      Number(moved) === 1 ? "touched" : "gone",
    );
  }

  /** UNLINK per slot. Without meta keys the owners are unknown; every id asked for is reported, existing or not. */
  async destroy(sids: readonly string[]): Promise<Destroyed[]> {
    const groups = this.driver.groupBySlot(
      sids.map((sid) => ({ sid, key: this.keys.session(sid) })),
      (item) => item.key,
    );
    await Promise.all(groups.map((group) => this.driver.command(group[0]?.key, ["UNLINK", ...group.map((item) => item.key)])));
    return sids.map((id) => ({ id, owner: "" }));
  }
}
