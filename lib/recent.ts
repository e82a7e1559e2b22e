/**
 * What this process last wrote for the sessions it served recently, so that the next save or
 * touch of the same session can use plain commands instead of a script (see scripts.ts, "The
 * horizon"). It is a hint, never the truth: every fast write is checked by Redis (SET XX fails on a
 * destroyed session, PEXPIREAT on a missing key does nothing, SET GET returns the value it
 * replaced), and anything unexpected falls back to the script.
 */

/** A session as this process last wrote it. All times in ms since the epoch. */
export interface Recent {
  /** The owner recorded in its meta key ("" for anonymous). */
  owner: string;
  /** Its meta key and its owner's index entry are kept at least until then. */
  horizon: number;
  /** Its Redis expiry as last moved here. */
  expiry: number;
  /** The cookie.expires inside the stored value as last written here. */
  shown: number;
  /** When its activity was last recorded here. */
  activeAt: number;
}

/**
 * A map bounded to `limit` sessions (about 150 bytes each) in two generations: when the young one
 * holds half the limit it becomes the old one and the previous old one is dropped. O(1) per call,
 * with no iteration (evicting from the front of one big Map would walk the holes deletes leave).
 */
export class RecentWrites {
  #young = new Map<string, Recent>();
  #old = new Map<string, Recent>();

  constructor(readonly limit: number) {}

  get(sid: string): Recent | undefined {
    return this.#young.get(sid) ?? this.#old.get(sid);
  }

  set(sid: string, recent: Recent): void {
    this.#young.set(sid, recent);
    if (this.#young.size * 2 >= this.limit) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }

  delete(sid: string): void {
    this.#young.delete(sid);
    this.#old.delete(sid);
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }
}
