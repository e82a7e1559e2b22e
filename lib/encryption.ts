/**
 * Encryption at rest: every value the store writes (a session, a field, whatever else a session
 * keeps) is sealed into an envelope bound to its session id and its purpose, and opened on read.
 *
 * Envelope, version 1 (a keyring, `encryption: { keys }`):
 *
 *   "$rse1$" + keyId + "$" + base64url(iv (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes))
 *
 * AES-256-GCM, a random 96-bit IV per write, and as associated data the header ("$rse1$" + keyId +
 * "$") followed by JSON.stringify([purpose, sid]): a value copied to another session, or from one
 * field to another, does not open, nor one whose key id was edited. With an adapter (a KMS) the
 * envelope is "$rsek1$" + whatever the adapter returned. No JSON text starts with "$", and "$rse"
 * is no plausible serializer output, so a stored value is told apart from plaintext by its start.
 *
 * A value that can't be opened (altered, truncated, another session's, an unknown key id) raises a
 * SessionDecodeError that names the key id, never a key; the store reports it (`decodeError`) and
 * reads no session. With encryption off the same class passes values through, and opens the
 * envelopes it has keys for (`decryptWith`), so the store calls it unconditionally.
 */
import { createCipheriv, createDecipheriv, createSecretKey, KeyObject, randomBytes } from "node:crypto";
import { SessionDecodeError, SessionEncodeError } from "./errors.js";

/** One key of a keyring: an id stored in each envelope, and 32 bytes (a Buffer, or base64). */
export interface EncryptionKey {
  /** Letters, digits, "_", "-", "." or ":", at most 64 characters; stored in every envelope it seals. */
  id: string;
  /** 32 random bytes: a Buffer/Uint8Array, a base64 (or base64url) string, or a secret KeyObject. */
  key: Uint8Array | string | KeyObject;
}

/**
 * Keys held elsewhere (a KMS). `purpose` is "session" for a session's value, "field:" + name for a
 * field, or what another part of the store names; bind `sid` and `purpose` into the encryption
 * context (AAD), so a value copied elsewhere does not open.
 */
export interface EncryptionAdapter {
  encrypt(plaintext: string, sid: string, purpose: string): string | Promise<string>;
  /**
   * The plaintext, or null when this envelope can't be opened (altered, another session's, a key
   * the KMS does not have): the store then reads no session and emits `decodeError`. Throw (reject)
   * only when the KMS itself fails: that error reaches the caller, as a Redis error would.
   */
  decrypt(envelope: string, sid: string, purpose: string): string | null | Promise<string | null>;
  /** Is this envelope under the current key? Lets rotate() skip it. Without it, rotate() re-encrypts every value. */
  isCurrent?(envelope: string): boolean;
}

/** The `encryption` option: a keyring (the first key encrypts, all decrypt) or an adapter. */
export type EncryptionOption = ({ keys: readonly EncryptionKey[] } | EncryptionAdapter) & {
  /**
   * Read values written before encryption was turned on (they are encrypted at their next save, or
   * by rotate()). Without it such a value reads as no session, with a `decodeError`.
   * @default false
   */
  acceptPlaintext?: boolean;
};

/** The `decryptWith` option: keys (or an adapter's decrypt) to read envelopes with, while writing plaintext. */
export type DecryptWithOption = readonly EncryptionKey[] | Pick<EncryptionAdapter, "decrypt">;

/** Where every envelope starts; the format name follows, up to the next "$". */
const MARK = "$rse";
const KEYRING_FORMAT = "1";
const ADAPTER_FORMAT = "k1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** How an option error describes what it got: never the content of a string or buffer (it may be a key). */
function shape(value: unknown): string {
  if (typeof value === "string") return `a string of ${value.length} characters`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (value instanceof KeyObject) return `a ${value.type} KeyObject${value.symmetricKeySize ? ` of ${value.symmetricKeySize} bytes` : ""}`;
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  return typeof value === "object" ? "an object" : String(value);
}

function optionError(name: string, expected: string, given: unknown): TypeError {
  return new TypeError(`redis-session-store: option "${name}" must be ${expected}, got ${shape(given)}`);
}

function keyObject(key: unknown, name: string): KeyObject {
  if (key instanceof KeyObject) {
    if (key.type !== "secret" || key.symmetricKeySize !== KEY_BYTES) throw optionError(name, "32 bytes", key);
    return key;
  }
  if (key instanceof Uint8Array) {
    if (key.length !== KEY_BYTES) throw optionError(name, "32 bytes (a Buffer of 32 bytes, or 32 bytes in base64)", key);
    return createSecretKey(Buffer.from(key));
  }
  if (typeof key === "string") {
    const bytes = /^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+$/.test(key) ? Buffer.from(key, "base64") : undefined;
    if (bytes?.length !== KEY_BYTES) throw optionError(name, "32 bytes in base64 (44 characters; openssl rand -base64 32)", key);
    return createSecretKey(bytes);
  }
  throw optionError(name, "32 bytes: a Buffer, a base64 string or a secret KeyObject", key);
}

function keyring(keys: unknown, name: string): Map<string, KeyObject> {
  if (!Array.isArray(keys) || keys.length === 0) throw optionError(name, "a non-empty array of { id, key }", keys);
  const ring = new Map<string, KeyObject>();
  keys.forEach((entry: unknown, i) => {
    const at = `${name}[${i}]`;
    if (entry === null || typeof entry !== "object") throw optionError(at, "an object { id, key }", entry);
    const { id, key } = entry as { id?: unknown; key?: unknown };
    if (typeof id !== "string" || !KEY_ID.test(id)) {
      throw new TypeError(
        `redis-session-store: option "${at}.id" must be 1 to 64 letters, digits, "_", "-", "." or ":", got ${typeof id === "string" ? JSON.stringify(id.slice(0, 80)) : shape(id)}`,
      );
    }
    if (ring.has(id)) throw new TypeError(`redis-session-store: option "${at}.id" repeats the key id ${JSON.stringify(id)}`);
    ring.set(id, keyObject(key, `${at}.key`));
  });
  return ring;
}

function isAdapter(value: object): value is EncryptionAdapter {
  const { encrypt, decrypt } = value as Partial<EncryptionAdapter>;
  return typeof encrypt === "function" && typeof decrypt === "function";
}

/** What a message calls a value: `session "abc"`, or `session "abc" (field:cart)`. */
function named(sid: string, purpose: string): string {
  const id = JSON.stringify(sid.length > 64 ? `${sid.slice(0, 64)}...` : sid);
  return purpose === "session" ? `session ${id}` : `session ${id} (${purpose})`;
}

function associatedData(header: string, sid: string, purpose: string): Buffer {
  return Buffer.from(header + JSON.stringify([purpose, sid]), "utf8");
}

/**
 * Seals and opens stored values for one store. Built once from the options; `encrypt` and `decrypt`
 * are synchronous with a keyring (and with encryption off), promises with an adapter.
 */
export class Encryption {
  /** Does the store write envelopes? */
  readonly enabled: boolean;
  /** May a stored value be an envelope (encryption on, or `decryptWith`)? Then a touch can't edit it in place. */
  readonly readsEnvelopes: boolean;
  /** Are plaintext values read (encryption off, or `acceptPlaintext`)? */
  readonly acceptsPlaintext: boolean;
  readonly #keys: ReadonlyMap<string, KeyObject>;
  /** The key that encrypts (the keyring's first), when encryption is on with a keyring. */
  readonly #current: { id: string; key: KeyObject; header: string } | undefined;
  readonly #adapter: EncryptionAdapter | undefined;
  readonly #adapterDecrypt: Pick<EncryptionAdapter, "decrypt"> | undefined;

  constructor(encryption?: unknown, decryptWith?: unknown) {
    let keys = new Map<string, KeyObject>();
    let acceptPlaintext = true;
    if (encryption !== undefined) {
      if (encryption === null || typeof encryption !== "object") {
        throw optionError(
          "encryption",
          "{ keys: [{ id, key }] } or an adapter { encrypt(plaintext, sid), decrypt(envelope, sid) }",
          encryption,
        );
      }
      const given = encryption as { keys?: unknown; acceptPlaintext?: unknown };
      const accept = given.acceptPlaintext ?? false;
      if (typeof accept !== "boolean") throw optionError("encryption.acceptPlaintext", "a boolean", accept);
      acceptPlaintext = accept;
      if (given.keys !== undefined) {
        keys = keyring(given.keys, "encryption.keys");
        const [id, key] = keys.entries().next().value as [string, KeyObject];
        this.#current = { id, key, header: `${MARK}${KEYRING_FORMAT}$${id}$` };
      } else if (isAdapter(given)) {
        this.#adapter = given;
        this.#adapterDecrypt = given;
      } else {
        throw optionError(
          "encryption",
          "{ keys: [{ id, key }] } or an adapter { encrypt(plaintext, sid), decrypt(envelope, sid) }",
          encryption,
        );
      }
    }
    if (decryptWith !== undefined) {
      if (Array.isArray(decryptWith)) {
        for (const [id, key] of keyring(decryptWith, "decryptWith")) if (!keys.has(id)) keys.set(id, key);
      } else if (
        decryptWith !== null &&
        typeof decryptWith === "object" &&
        typeof (decryptWith as { decrypt?: unknown }).decrypt === "function"
      ) {
        this.#adapterDecrypt ??= decryptWith as Pick<EncryptionAdapter, "decrypt">;
      } else {
        throw optionError("decryptWith", "an array of { id, key }, or an object with decrypt(envelope, sid)", decryptWith);
      }
    }
    this.#keys = keys;
    this.enabled = encryption !== undefined;
    this.readsEnvelopes = this.enabled || decryptWith !== undefined;
    this.acceptsPlaintext = acceptPlaintext;
  }

  /** The id of the key that encrypts; undefined with an adapter or with encryption off. */
  get currentKeyId(): string | undefined {
    return this.#current?.id;
  }

  /**
   * The stored form of `plaintext`, bound to (sid, purpose): an envelope, or the plaintext itself
   * with encryption off. A promise with an adapter; its failure is a SessionEncodeError.
   */
  encrypt(plaintext: string, sid: string, purpose: string): string | Promise<string> {
    const current = this.#current;
    if (current) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", current.key, iv);
      cipher.setAAD(associatedData(current.header, sid, purpose));
      const sealed = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return current.header + sealed.toString("base64url");
    }
    const adapter = this.#adapter;
    if (!adapter) return plaintext;
    const failed = (cause?: unknown) =>
      new SessionEncodeError(
        `redis-session-store: encryption.encrypt failed for ${named(sid, purpose)}`,
        cause === undefined ? {} : { cause },
      );
    let sealed: string | Promise<string>;
    try {
      sealed = adapter.encrypt(plaintext, sid, purpose);
    } catch (error) {
      return Promise.reject(failed(error));
    }
    return Promise.resolve(sealed).then(
      (envelope) => {
        if (typeof envelope !== "string" || envelope === "")
          throw failed(new TypeError(`encrypt returned ${shape(envelope)}, not a string`));
        return `${MARK}${ADAPTER_FORMAT}$${envelope}`;
      },
      (error: unknown) => {
        throw failed(error);
      },
    );
  }

  /**
   * The plaintext of a stored value bound to (sid, purpose). Throws (or rejects with) a
   * SessionDecodeError when it can't be opened, or is plaintext that is not accepted; an adapter's
   * own failure passes through unchanged.
   */
  decrypt(stored: string, sid: string, purpose: string): string | Promise<string> {
    // "$" is 36: the one comparison every plaintext value pays.
    if (stored.charCodeAt(0) !== 36 || !stored.startsWith(MARK)) {
      if (this.acceptsPlaintext) return stored;
      throw new SessionDecodeError(
        `redis-session-store: ${named(sid, purpose)} is not encrypted: set encryption.acceptPlaintext to read values written before encryption was on`,
        sid,
      );
    }
    const formatEnd = stored.indexOf("$", MARK.length);
    const format = formatEnd === -1 ? "" : stored.slice(MARK.length, formatEnd);
    if (format === KEYRING_FORMAT) return this.#open(stored, formatEnd + 1, sid, purpose);
    if (format === ADAPTER_FORMAT) return this.#openWithAdapter(stored.slice(formatEnd + 1), sid, purpose);
    throw new SessionDecodeError(
      `redis-session-store: ${named(sid, purpose)} is in an unknown envelope format ${JSON.stringify(format.slice(0, 16))}`,
      sid,
    );
  }

  /**
   * Is a stored value in the form this store writes now? An envelope under the current key (with an
   * adapter: as its isCurrent says, else never), or plaintext with encryption off. rotate() rewrites the rest.
   */
  isCurrent(stored: string): boolean {
    const envelope = stored.startsWith(MARK);
    if (!this.enabled) return !envelope;
    if (this.#current) return stored.startsWith(this.#current.header);
    const prefix = `${MARK}${ADAPTER_FORMAT}$`;
    return stored.startsWith(prefix) && this.#adapter?.isCurrent?.(stored.slice(prefix.length)) === true;
  }

  #open(stored: string, idStart: number, sid: string, purpose: string): string {
    const idEnd = stored.indexOf("$", idStart);
    const id = idEnd === -1 ? "" : stored.slice(idStart, idEnd);
    const shownId = JSON.stringify(id.slice(0, 64));
    const fail = (why: string, cause?: unknown) =>
      new SessionDecodeError(
        `redis-session-store: ${named(sid, purpose)} could not be decrypted with key ${shownId}: ${why}`,
        sid,
        cause === undefined ? {} : { cause },
      );
    const key = this.#keys.get(id);
    if (!key) {
      const known = [...this.#keys.keys()].map((k) => JSON.stringify(k)).join(", ");
      throw fail(`no key has this id (${known ? `known: ${known}` : "no keys: set encryption.keys or decryptWith"})`);
    }
    const sealed = Buffer.from(stored.slice(idEnd + 1), "base64url");
    if (sealed.length < IV_BYTES + TAG_BYTES) throw fail(`the envelope is truncated (${sealed.length} bytes)`);
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(associatedData(stored.slice(0, idEnd + 1), sid, purpose));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const plaintext = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
      return Buffer.concat([plaintext, decipher.final()]).toString("utf8");
    } catch (error) {
      throw fail("it was altered, belongs to another session or purpose, or was sealed with another key of this id", error);
    }
  }

  #openWithAdapter(envelope: string, sid: string, purpose: string): Promise<string> {
    const adapter = this.#adapterDecrypt;
    if (!adapter) {
      return Promise.reject(
        new SessionDecodeError(
          `redis-session-store: ${named(sid, purpose)} was encrypted by an encryption adapter: give the adapter as encryption or decryptWith to read it`,
          sid,
        ),
      );
    }
    return Promise.resolve()
      .then(() => adapter.decrypt(envelope, sid, purpose))
      .then((plaintext) => {
        if (typeof plaintext === "string") return plaintext;
        if (plaintext === null || plaintext === undefined) {
          throw new SessionDecodeError(`redis-session-store: ${named(sid, purpose)} could not be decrypted by the encryption adapter`, sid);
        }
        throw new TypeError(`redis-session-store: encryption decrypt() must return a string or null, got ${shape(plaintext)}`);
      });
  }
}
