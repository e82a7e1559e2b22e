/**
 * express-session's cookie as the store reads it: a session's lifetime (its cookie's expiry, or
 * the `ttl` option), its shape, and the expiry a request loaded it with, which travels with the
 * session object express-session builds (so a lazy touch works behind a load balancer, where no
 * process remembers the session).
 */
import type { SessionData } from "express-session";
import type { ResolvedOptions } from "../options.js";
import { argumentError } from "./calls.js";
import { type Loaded, loadedMark, markLoaded } from "./loaded.js";

type CookieLike = { expires?: unknown };

export class Cookies {
  constructor(
    readonly options: ResolvedOptions,
    /** Does a touch rewrite cookie.expires inside the stored value? */
    readonly rewrites: boolean,
  ) {}

  /** A session's lifetime in ms from now: null for none (disableTTL), <= 0 when it has already ended. */
  ttlMs(session: SessionData, call: "set" | "touch"): number | null {
    const cookie = cookieOf(session, call);
    const { ttl, disableTTL } = this.options;
    if (disableTTL) return null;
    if (typeof ttl === "function") {
      const seconds = ttl(session);
      if (typeof seconds !== "number" || Number.isNaN(seconds)) {
        throw new TypeError(
          `redis-session-store: option "ttl" returned ${typeof seconds === "number" ? "NaN" : typeof seconds}, expected a number of seconds`,
        );
      }
      return Math.round(seconds * 1000);
    }
    if (cookie.expires) {
      const at = new Date(cookie.expires as string | number | Date).getTime();
      if (Number.isNaN(at)) throw argumentError("session.cookie.expires", "a date", cookie.expires);
      return at - Date.now();
    }
    return ttl * 1000;
  }

  /** The new cookie.expires as JSON writes it, when a touch rewrites it in the stored value; else "". */
  expiresIso(session: SessionData): string {
    if (!this.rewrites) return "";
    const expires = (session as { cookie?: CookieLike }).cookie?.expires;
    return expires ? new Date(expires as string | number | Date).toISOString() : "";
  }

  /** The expiry a freshly read session carries, before express-session resets it for this request. */
  loaded(data: SessionData): number | undefined {
    const expires = (data as { cookie?: CookieLike }).cookie?.expires;
    if (!expires) return undefined;
    const at = new Date(expires as string | number | Date).getTime();
    return Number.isNaN(at) ? undefined : at;
  }

  /** Marks the session express-session built from a read as loaded, with what it was loaded with. */
  carry(session: object, loaded: Loaded): void {
    markLoaded(session, loaded);
  }

  /** What a session was loaded with; undefined for a session no request loaded (new, or regenerated). */
  loadedWith(session: SessionData): Loaded | undefined {
    return loadedMark(session);
  }

  /**
   * Encodes a session as if its cookie still had `expireAt`: a repeat save keeps the key's expiry,
   * and the stored cookie.expires stays the key's real one. The cookie is put back at once.
   */
  withExpiry<T>(session: SessionData, expireAt: number, encode: () => T): T {
    const cookie = (session as { cookie?: { expires?: unknown; originalMaxAge?: unknown } }).cookie;
    if (!cookie) return encode();
    const { expires, originalMaxAge } = cookie;
    cookie.expires = new Date(expireAt);
    cookie.originalMaxAge = originalMaxAge;
    try {
      return encode();
    } finally {
      cookie.expires = expires;
      cookie.originalMaxAge = originalMaxAge;
    }
  }

  /** Shows a key's real expiry (ms left) in cookie.expires, for reads that asked Redis for it. */
  showExpiry(session: SessionData, ttlMs: number): void {
    const cookie = (session as { cookie?: CookieLike }).cookie;
    if (!cookie?.expires) return;
    const at = Date.now() + ttlMs;
    const stored = new Date(cookie.expires as string | number | Date).getTime();
    // A key's time left is read to the millisecond after the fact: differences below a second are that.
    if (Math.abs(stored - at) < 1000) return;
    cookie.expires = cookie.expires instanceof Date ? new Date(at) : new Date(at).toISOString();
  }
}

/** The session's cookie object; a session without one is refused (express-session always has one). */
function cookieOf(session: unknown, call: "set" | "touch"): CookieLike {
  if (session === null || typeof session !== "object") throw argumentError("session", "a session object", session);
  const cookie = (session as { cookie?: unknown }).cookie;
  if (cookie === null || typeof cookie !== "object") {
    throw argumentError(
      "session.cookie",
      `an object (express-session's cookie) for ${call}(); a session of another framework goes through its own adapter`,
      cookie,
    );
  }
  return cookie as CookieLike;
}
