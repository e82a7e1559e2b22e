/**
 * What a request loaded, for the write that follows it: the session's expiry and owner then. A save
 * of a loaded session whose owner did not change and whose expiry would barely move keeps the key's
 * expiry: one `SET … XX KEEPTTL GET` instead of the save script (see Engine#save).
 *
 * express-session hands every loaded session to `Store.createSession`, so there it travels with
 * the session object. @fastify/session never does: it builds its own session object from the one
 * get() returned and passes that to set(). For it, get() leaves what it loaded here, under the
 * session id, for the next set() or touch() of that id in this process; destroy() leaves it, so a
 * late save that takes it must find the session (`XX`) and is refused. Nothing here is trusted for
 * safety: a repeat save checks the owner of the value it replaced (another owner: the full script
 * runs) and `XX` never recreates a session that is gone.
 */
import { ownerIfResolved } from "../owner.js";
import { mark, markOf } from "./marks.js";

/** What a request loaded: the session's expiry then (ms, this process's clock; undefined when unknown) and its owner then. */
export interface Loaded {
  expireAt: number | undefined;
  /** "" for an anonymous session; undefined when the userId resolver threw (then no repeat save). */
  owner: string | undefined;
}

/** What a request loaded: the session's expiry then, and its owner (undefined when the resolver throws: no repeat save). */
export function loadedOf(resolve: ((session: any) => unknown) | false, session: unknown, expireAt: number | undefined): Loaded {
  return { expireAt, owner: ownerIfResolved(resolve, session) };
}

/** What a session object was loaded with, marked on the object itself (marks.ts). */
const LOADED: unique symbol = Symbol("redis-session-store: loaded with");

/** Marks a session object a request loaded with what it was loaded with. */
export function markLoaded(session: object, loaded: Loaded): void {
  mark(session, LOADED, loaded);
}

/** What a session object was loaded with; undefined for one no request loaded (new, or regenerated). */
export function loadedMark(session: object): Loaded | undefined {
  return markOf<Loaded>(session, LOADED);
}

/** Hints kept at most; past this the oldest is dropped (its request then pays the full script). */
const MAX_ENTRIES = 10_000;
/** A hint older than this is not used: get() and the set() of one request are never further apart in practice. */
const MAX_AGE_MS = 60_000;

interface Entry {
  loaded: Loaded;
  at: number;
}

/**
 * Per store, bounded in size and age: session id → what get() loaded, taken (and so removed) by the
 * next write of that id. Two requests of one session in one process may take each other's hint;
 * both loaded the same stored value or one written since, and the save's own checks cover the rest.
 *
 * Two generations of maps instead of one ordered map trimmed on every put: when the current one
 * holds half the bound it becomes the previous one and the previous one is dropped whole, so a put
 * or a take is O(1) (trimming a Map from its oldest end walks over the holes its deletes leave).
 */
export class LoadedHandoff {
  #current = new Map<string, Entry>();
  #previous = new Map<string, Entry>();

  constructor(
    readonly maxEntries = MAX_ENTRIES,
    readonly maxAgeMs = MAX_AGE_MS,
  ) {}

  /** Leaves what a read of `sid` loaded for the next write of it. */
  put(sid: string, loaded: Loaded): void {
    // An older hint of `sid` in #previous is shadowed by this one (take() looks here first) and goes with it.
    this.#current.set(sid, { loaded, at: Date.now() });
    if (this.#current.size >= Math.max(1, this.maxEntries >> 1)) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
  }

  /** What the last read of `sid` loaded, if it is recent; removes it either way. */
  take(sid: string): Loaded | undefined {
    // Empty under express-session, whose store stops filling it (express.ts): nothing to look up.
    if (this.size === 0) return undefined;
    const entry = this.#current.get(sid) ?? this.#previous.get(sid);
    if (!entry) return undefined;
    this.drop(sid);
    return Date.now() - entry.at <= this.maxAgeMs ? entry.loaded : undefined;
  }

  /** Forgets `sid`: a read found nothing, or the session went through createSession (express-session) instead. */
  drop(sid: string): void {
    if (this.size === 0) return;
    this.#current.delete(sid);
    this.#previous.delete(sid);
  }

  /** How many hints are kept. */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }
}
