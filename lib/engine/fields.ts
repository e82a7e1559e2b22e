/**
 * Session fields: JSON values read and changed one by one, apart from the session value, so that
 * two requests changing different fields (or incrementing one) never lose each other's change.
 * A write to one field never rewrites another; an increment is Redis's own HINCRBY.
 *
 * With encryption, each value is sealed bound to its session id and its field name (purpose
 * "field:" + name), so a value copied to another field or session does not open. A counter
 * (a field only ever written by increment()) stays a plain integer: HINCRBY works on it.
 */
import type { Driver } from "../driver/driver.js";
import type { Encryption } from "../encryption.js";
import { SessionDecodeError, SessionFieldsError, SessionNotFoundError } from "../errors.js";
import type { Keys } from "../keys.js";
import { type FieldsWrite, readAllFields, readFields, writeFields } from "../scripts/fields.js";

/** The limits a store puts on each session's fields. */
export interface FieldLimits {
  /** Most fields one session may hold. */
  maxFields: number;
  /** Largest value, in bytes of its JSON. */
  maxFieldSize: number;
}

/** How a store seals what it stores, and where it reports a value that can't be opened. */
export interface StoredValues {
  encryption: Encryption;
  /** Hears of a value that can't be opened (a session then reads as none, a field as unset). */
  report(error: SessionDecodeError): void;
}

/** A counter HINCRBY keeps: plain digits, never sealed. */
export const INTEGER = /^-?\d+$/;

/** Longest field name accepted, in characters. */
const MAX_NAME_LENGTH = 256;

function shown(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

function checkName(name: unknown, argument = "name"): string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    const given = typeof name === "string" ? `a string of ${name.length} characters` : name === null ? "null" : typeof name;
    throw new TypeError(
      `redis-session-store: field ${argument} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters, got ${given}`,
    );
  }
  return name;
}

/** The purpose a field's value is sealed for. */
export function fieldPurpose(name: string): string {
  return `field:${name}`;
}

/** The fields of one session. Every method is a promise; values are anything JSON can hold. */
export class SessionFields {
  readonly #driver: Driver;
  readonly #keys: { sid: string; session: string; meta: string; fields: string };
  readonly #limits: FieldLimits;
  readonly #stored: StoredValues;

  constructor(driver: Driver, keys: Keys, sid: string, limits: FieldLimits, stored: StoredValues) {
    this.#driver = driver;
    this.#keys = keys.sessionKeys(sid);
    this.#limits = limits;
    this.#stored = stored;
  }

  /** The value of one field, or undefined when it is unset, unreadable (see `decodeError`) or the session is gone. */
  async get(name: string): Promise<unknown> {
    const [value] = (await readFields(this.#driver, this.#keys, [checkName(name)])) ?? [];
    return this.#decode(name, value);
  }

  /** The values of several fields, in order (undefined where unset). */
  async getMany(names: readonly string[]): Promise<unknown[]> {
    if (!Array.isArray(names)) throw new TypeError('redis-session-store: argument "names" must be an array of field names');
    if (!names.length) return [];
    const values = await readFields(
      this.#driver,
      this.#keys,
      names.map((name) => checkName(name)),
    );
    return Promise.all(names.map((name, i) => this.#decode(name, values?.[i])));
  }

  /** Every field of the session as a plain object ({} when the session is gone). */
  async all(): Promise<Record<string, unknown>> {
    const pairs = (await readAllFields(this.#driver, this.#keys)) ?? [];
    const values = await Promise.all(pairs.map(([name, value]) => this.#decode(name, value)));
    const out: Record<string, unknown> = Object.create(null);
    pairs.forEach(([name], i) => {
      if (values[i] !== undefined) out[name] = values[i];
    });
    return out;
  }

  /** Sets one field. Fails with SessionNotFoundError when the session does not exist (save it first). */
  async set(name: string, value: unknown): Promise<void> {
    await this.#write({ op: "set", pairs: [checkName(name), await this.#encode(name, value)] });
  }

  /** Sets several fields at once, atomically. */
  async setMany(record: Record<string, unknown>): Promise<void> {
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new TypeError('redis-session-store: argument "record" must be an object of field names to values');
    }
    const entries = Object.entries(record);
    for (const [name] of entries) checkName(name);
    const sealed = await Promise.all(entries.map(([name, value]) => this.#encode(name, value)));
    const pairs = entries.flatMap(([name], i) => [name, sealed[i] as string]);
    if (pairs.length) await this.#write({ op: "set", pairs });
  }

  /** Removes fields; names that are unset are ignored. */
  async delete(...names: string[]): Promise<void> {
    if (names.length) await this.#write({ op: "delete", names: names.map((name) => checkName(name)) });
  }

  /** Adds `by` (an integer, default 1) to an integer field (unset counts as 0); resolves to the new value. */
  async increment(name: string, by = 1): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new TypeError(`redis-session-store: argument "by" must be a safe integer, got ${String(by)}`);
    return this.#write({ op: "increment", name: checkName(name), by });
  }

  /** The stored form of a value: its JSON, sealed for this session and field when encryption is on. */
  #encode(name: string, value: unknown): string | Promise<string> {
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      throw new TypeError(`redis-session-store: the value of field ${shown(name)} cannot be written as JSON`, { cause: error });
    }
    if (json === undefined)
      throw new TypeError(`redis-session-store: the value of field ${shown(name)} cannot be written as JSON (got ${typeof value})`);
    const size = Buffer.byteLength(json);
    if (size > this.#limits.maxFieldSize) {
      throw new SessionFieldsError(
        `redis-session-store: field ${shown(name)} is ${size} bytes as JSON, over maxFieldSize (${this.#limits.maxFieldSize})`,
      );
    }
    return this.#stored.encryption.encrypt(json, this.#keys.sid, fieldPurpose(name));
  }

  /** A stored value as the app reads it; one that can't be opened is reported and reads as unset. */
  async #decode(name: string, stored: string | undefined): Promise<unknown> {
    if (stored === undefined) return undefined;
    if (INTEGER.test(stored)) return JSON.parse(stored);
    let json: string;
    try {
      json = await this.#stored.encryption.decrypt(stored, this.#keys.sid, fieldPurpose(name));
    } catch (error) {
      if (!(error instanceof SessionDecodeError)) throw error;
      this.#stored.report(error);
      return undefined;
    }
    return JSON.parse(json);
  }

  async #write(write: FieldsWrite): Promise<number> {
    const outcome = await writeFields(this.#driver, this.#keys, this.#limits.maxFields, write);
    if (outcome.done) return outcome.result;
    const sid = shown(this.#keys.sid);
    if (outcome.reason === "gone") {
      throw new SessionNotFoundError(
        `redis-session-store: session ${sid} does not exist (never saved, or gone): save the session before writing its fields`,
        this.#keys.sid,
      );
    }
    if (outcome.reason === "not-integer") {
      const name = write.op === "increment" ? write.name : "";
      const sealed = this.#stored.encryption.enabled ? " (with encryption, set() seals a value: count with increment() alone)" : "";
      throw new SessionFieldsError(
        `redis-session-store: field ${shown(name)} of session ${sid} holds no integer: it can't be incremented${sealed}`,
      );
    }
    throw new SessionFieldsError(
      `redis-session-store: session ${sid} would hold ${outcome.reason.tooMany} fields, over maxFields (${this.#limits.maxFields})`,
    );
  }
}
