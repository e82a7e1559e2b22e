/**
 * Session fields: JSON values read and changed one by one, apart from the session value, so that
 * two requests changing different fields (or incrementing one) never lose each other's change.
 * A write to one field never rewrites another; an increment is Redis's own HINCRBY.
 */
import type { Driver } from "../driver/driver.js";
import { SessionFieldsError, SessionNotFoundError } from "../errors.js";
import type { Keys } from "../keys.js";
import { type FieldsWrite, readAllFields, readFields, writeFields } from "../scripts/fields.js";

/** The limits a store puts on each session's fields. */
export interface FieldLimits {
  /** Most fields one session may hold. */
  maxFields: number;
  /** Largest value, in bytes of its JSON. */
  maxFieldSize: number;
}

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

function parse(stored: string | undefined): unknown {
  return stored === undefined ? undefined : JSON.parse(stored);
}

/** The fields of one session. Every method is a promise; values are anything JSON can hold. */
export class SessionFields {
  readonly #driver: Driver;
  readonly #keys: { sid: string; session: string; meta: string; fields: string };
  readonly #limits: FieldLimits;

  constructor(driver: Driver, keys: Keys, sid: string, limits: FieldLimits) {
    this.#driver = driver;
    this.#keys = keys.sessionKeys(sid);
    this.#limits = limits;
  }

  /** The value of one field, or undefined when it is unset or the session is gone. */
  async get(name: string): Promise<unknown> {
    const [value] = (await readFields(this.#driver, this.#keys, [checkName(name)])) ?? [];
    return parse(value);
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
    return names.map((_, i) => parse(values?.[i]));
  }

  /** Every field of the session as a plain object ({} when the session is gone). */
  async all(): Promise<Record<string, unknown>> {
    const pairs = (await readAllFields(this.#driver, this.#keys)) ?? [];
    const out: Record<string, unknown> = Object.create(null);
    for (const [name, value] of pairs) out[name] = parse(value);
    return out;
  }

  /** Sets one field. Fails with SessionNotFoundError when the session does not exist (save it first). */
  async set(name: string, value: unknown): Promise<void> {
    await this.#write({ op: "set", pairs: [checkName(name), this.#encode(name, value)] });
  }

  /** Sets several fields at once, atomically. */
  async setMany(record: Record<string, unknown>): Promise<void> {
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new TypeError('redis-session-store: argument "record" must be an object of field names to values');
    }
    const pairs: string[] = [];
    for (const [name, value] of Object.entries(record)) pairs.push(checkName(name), this.#encode(name, value));
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

  #encode(name: string, value: unknown): string {
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
    return json;
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
      throw new SessionFieldsError(`redis-session-store: field ${shown(name)} of session ${sid} holds no integer: it can't be incremented`);
    }
    throw new SessionFieldsError(
      `redis-session-store: session ${sid} would hold ${outcome.reason.tooMany} fields, over maxFields (${this.#limits.maxFields})`,
    );
  }
}
