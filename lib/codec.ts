/**
 * Turning sessions into stored strings and back: the serializer (connect-redis's option, JSON by
 * default), the size limit, encryption (encryption.ts), and the errors for what can't be written or read.
 */
import type { Encryption } from "./encryption.js";
import { SessionDecodeError, SessionEncodeError, SessionTooLargeError } from "./errors.js";

/** Turns a session into the string stored in Redis and back; connect-redis's shape. */
export interface Serializer {
  /** May return a Promise: the store awaits it everywhere, all() included. */
  parse(text: string): unknown;
  stringify(session: any): string;
}

/** The default: JSON itself, so `store.serializer === JSON` as in connect-redis. */
export const JSON_SERIALIZER: Serializer = JSON;

/** Shortens an id for a message. */
function shown(sid: string): string {
  return JSON.stringify(sid.length > 64 ? `${sid.slice(0, 64)}...` : sid);
}

export class Codec {
  constructor(
    readonly serializer: Serializer,
    readonly maxSize: number,
    readonly encryption: Encryption,
  ) {}

  /**
   * The stored form of a session; throws SessionEncodeError or SessionTooLargeError, and nothing is
   * written. The session is serialized before this returns (a promise only for an encryption adapter).
   */
  encode(sid: string, session: unknown): string | Promise<string> {
    let value: unknown;
    try {
      value = this.serializer.stringify(session);
    } catch (error) {
      throw new SessionEncodeError(`redis-session-store: the serializer could not stringify session ${shown(sid)}`, { cause: error });
    }
    if (typeof value !== "string") {
      throw new SessionEncodeError(`redis-session-store: serializer.stringify must return a string, got ${typeof value}`);
    }
    // A UTF-16 length times 3 bounds the UTF-8 size: count bytes only when it could matter.
    if (value.length * 3 > this.maxSize && Buffer.byteLength(value) > this.maxSize) {
      throw new SessionTooLargeError(
        `redis-session-store: session ${shown(sid)} is ${Buffer.byteLength(value)} bytes serialized, over maxSessionSize (${this.maxSize})`,
      );
    }
    return this.encryption.encrypt(value, sid, "session");
  }

  /**
   * Opens (encryption) and parses a stored value, then `check`s its shape. Anything unreadable
   * becomes a SessionDecodeError passed to `report`, and null. Synchronous when the serializer is
   * (JSON is) and no encryption adapter is in the way. An adapter's own failure (its KMS is down) rejects.
   */
  decode<S>(sid: string, value: string, check: Check, report: Report): S | null | Promise<S | null> {
    let text: string | Promise<string>;
    try {
      text = this.encryption.decrypt(value, sid, "session");
    } catch (error) {
      return unopened(error, report);
    }
    if (typeof text === "string") return this.#parse<S>(sid, text, check, report);
    return text.then(
      (opened) => this.#parse<S>(sid, opened, check, report),
      (error: unknown) => unopened(error, report),
    );
  }

  // The steps are methods and module functions, not closures made per call: decode runs on every read.
  #parse<S>(sid: string, text: string, check: Check, report: Report): S | null | Promise<S | null> {
    let parsed: unknown;
    try {
      parsed = this.serializer.parse(text);
    } catch (error) {
      return unparsed(sid, error, report);
    }
    if (parsed !== null && typeof (parsed as { then?: unknown }).then === "function") {
      return Promise.resolve(parsed).then(
        (settled) => checked<S>(sid, settled, check, report),
        (error: unknown) => unparsed(sid, error, report),
      );
    }
    return checked<S>(sid, parsed, check, report);
  }
}

/** Why a parsed value is not a session, or undefined. */
type Check = (parsed: unknown) => string | undefined;
type Report = (error: SessionDecodeError) => void;

function unparsed(sid: string, error: unknown, report: Report): null {
  report(new SessionDecodeError(`redis-session-store: session ${shown(sid)} could not be parsed`, sid, { cause: error }));
  return null;
}

function checked<S>(sid: string, parsed: unknown, check: Check, report: Report): S | null {
  const problem = check(parsed);
  if (problem === undefined) return parsed as S;
  report(new SessionDecodeError(`redis-session-store: session ${shown(sid)} is not a session: ${problem}`, sid));
  return null;
}

/** A value the encryption could not open is reported and read as none; the adapter's own failure (its KMS is down) rejects. */
function unopened(error: unknown, report: Report): null {
  if (!(error instanceof SessionDecodeError)) throw error;
  report(error);
  return null;
}
