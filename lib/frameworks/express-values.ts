/**
 * Stored values as the express-session store reads and writes them: the codec, the shape of an
 * express-session session (it has a `cookie` object), the expiry a read shows, the owner a stored
 * value names, and how unreadable values are reported (a `decodeError` event, else one warning).
 */
import type { EventEmitter } from "node:events";
import type { SessionData } from "express-session";
import type { Codec } from "../codec.js";
import type { SessionDecodeError } from "../errors.js";
import type { ResolvedOptions } from "../options.js";
import { ownerOf } from "../owner.js";
import type { Cookies } from "./express-cookies.js";

export class SessionValues {
  #warned = false;
  /** report(), bound once: decode runs on every read. */
  readonly #report = (error: SessionDecodeError): void => this.report(error);

  constructor(
    readonly options: ResolvedOptions,
    readonly codec: Codec,
    readonly cookies: Cookies,
    /** The store, whose `decodeError` listeners hear about unreadable values. */
    readonly events: EventEmitter,
  ) {}

  /** The stored form; serialized before this returns (a promise only for an encryption adapter). */
  encode(sid: string, session: SessionData): string | Promise<string> {
    return this.codec.encode(sid, session);
  }

  /** Parses a stored value; anything that is not an express-session session is reported and read as none. */
  decode(sid: string, value: string, ttlMs: number | undefined): SessionData | null | Promise<SessionData | null> {
    const decoded = this.codec.decode<SessionData>(sid, value, shapeProblem, this.#report);
    if (ttlMs === undefined || ttlMs < 0) return decoded;
    const show = (session: SessionData | null) => {
      if (session) this.cookies.showExpiry(session, ttlMs);
      return session;
    };
    return decoded instanceof Promise ? decoded.then(show) : show(decoded);
  }

  /**
   * The owner a stored value names (decrypted first when it is an envelope), or undefined when it
   * can't be read: then the caller writes in full. A promise only for an encryption adapter.
   */
  ownerOf(sid: string, value: string): string | undefined | Promise<string | undefined> {
    const owner = (text: string) => {
      try {
        const parsed = this.options.serializer.parse(text);
        if (parsed === null || typeof parsed !== "object" || typeof (parsed as { then?: unknown }).then === "function") return undefined;
        return ownerOf(this.options.userId, parsed);
      } catch {
        return undefined;
      }
    };
    let text: string | Promise<string>;
    try {
      text = this.options.encryption.decrypt(value, sid, "session");
    } catch {
      return undefined;
    }
    return typeof text === "string" ? owner(text) : text.then(owner, () => undefined);
  }

  /** Tells the store's `decodeError` listeners of an unreadable value (else warns once). */
  report(error: SessionDecodeError): void {
    if (this.events.listenerCount("decodeError") > 0) {
      this.events.emit("decodeError", error);
    } else if (!this.#warned) {
      this.#warned = true;
      process.emitWarning(`${error.message}; listen to the store's "decodeError" event to see every one`, {
        code: "REDIS_SESSION_STORE_DECODE",
      });
    }
  }
}

/** Why a parsed value is not an express-session session (it needs a `cookie` object), or undefined. */
function shapeProblem(parsed: unknown): string | undefined {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return "not an object";
  const cookie = (parsed as { cookie?: unknown }).cookie;
  if (cookie === null || typeof cookie !== "object" || Array.isArray(cookie)) return "no cookie object";
  return undefined;
}
