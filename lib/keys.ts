/**
 * Every Redis key name the store uses is built here, and nowhere else.
 *
 * Sessions:       prefix + sid                      (connect-redis's layout, unchanged)
 * Session meta:   indexPrefix + "s:{" + tag + "}" + sid
 *                 in the same cluster slot as the session key, so one script can touch both
 * Session fields: indexPrefix + "f:{" + tag + "}" + sid   (a hash, store.fields(sid)), same slot
 * Session info:   indexPrefix + "i:{" + tag + "}" + sid   (a hash: createdAt, device), same slot
 * User index:     indexPrefix + "user:" + userId
 * Activity:       indexPrefix + "{active}users", indexPrefix + "{active}sessions" (one slot)
 */

const SLOTS = 16384;

// CRC16/XMODEM, the checksum Redis Cluster uses for key slots.
const CRC_TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  CRC_TABLE[i] = crc & 0xffff;
}

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  }
  return crc;
}

function crc16Ascii(text: string, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ text.charCodeAt(i)) & 0xff] as number);
  }
  return crc;
}

/** The Redis Cluster slot of a key, honouring `{hash tags}` exactly as Redis does (on UTF-8 bytes). */
export function keySlot(key: string): number {
  // Session keys are nearly always ASCII: hash the string itself, without encoding it.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
  if (/^[\x00-\x7f]*$/.test(key)) {
    const open = key.indexOf("{");
    if (open !== -1) {
      const close = key.indexOf("}", open + 1);
      if (close > open + 1) return crc16Ascii(key, open + 1, close) % SLOTS;
    }
    return crc16Ascii(key, 0, key.length) % SLOTS;
  }
  const bytes = Buffer.from(key, "utf8");
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes, open + 1, close) % SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % SLOTS;
}

let slotTags: string[] | undefined;

/**
 * A short hash tag for every slot. A meta key carries the tag of its session key's slot, so the
 * two always live on one node and one Lua script may touch both, on Cluster as on a single Redis.
 * Built once per process (about 170k checksums of 2-4 bytes).
 */
function tagForSlot(slot: number): string {
  if (!slotTags) {
    const tags = new Array<string>(SLOTS);
    let found = 0;
    for (let n = 0; found < SLOTS; n++) {
      const tag = n.toString(36);
      const bytes = Buffer.from(tag, "latin1");
      const s = crc16(bytes, 0, bytes.length) % SLOTS;
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot] as string;
}

/** A hash tag alone, "{tag}", that Redis places in the same slot as `key`. */
export function slotTagOf(key: string): string {
  return `{${tagForSlot(keySlot(key))}}`;
}

/** Escapes SCAN MATCH glob characters so a prefix is matched literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * True when some key starting with `indexPrefix` could also start with `prefix`, i.e. when one
 * string is a start of the other. Then `SCAN prefix*` could see index keys, which we never allow.
 */
export function indexPrefixConflict(indexPrefix: string, prefix: string): boolean {
  return indexPrefix.startsWith(prefix) || prefix.startsWith(indexPrefix);
}

/** The session id of an index entry (see Keys.member). */
export function sidOfMember(member: string): string {
  const end = member.indexOf("}");
  return member.startsWith("{") && end > 0 ? member.slice(end + 1) : member;
}

/** A session's keys, all in one slot. */
export interface SessionKeys {
  sid: string;
  session: string;
  meta: string;
  fields: string;
  /** createdAt ("c", ms on Redis's clock) and device ("d", as the device tracker stored it). */
  info: string;
  /** The session's entry in its owner's index (see member()); the other keys are a prefix + it. */
  member: string;
}

/** Key builder bound to one store's prefixes. */
export class Keys {
  readonly sessionPattern: string;
  readonly activeUsers: string;
  readonly activeSessions: string;

  constructor(
    readonly prefix: string,
    readonly indexPrefix: string,
  ) {
    this.sessionPattern = `${escapeGlob(prefix)}*`;
    this.activeUsers = `${indexPrefix}{active}users`;
    this.activeSessions = `${indexPrefix}{active}sessions`;
  }

  session(sid: string): string {
    return this.prefix + sid;
  }

  /** The session id of a session key found by SCAN. */
  sid(sessionKey: string): string {
    return sessionKey.slice(this.prefix.length);
  }

  /**
   * A session's entry in its owner's index: the hash tag of its slot, then its id. The meta key is
   * `metaPrefix + member`, so a script that reads the index can name each meta key itself.
   */
  member(sid: string, sessionKey = this.session(sid)): string {
    return `{${tagForSlot(keySlot(sessionKey))}}${sid}`;
  }

  /** What a meta key name starts with, before the member. */
  get metaPrefix(): string {
    return `${this.indexPrefix}s:`;
  }

  meta(sid: string, sessionKey = this.session(sid)): string {
    return this.metaPrefix + this.member(sid, sessionKey);
  }

  /** A session's four keys (session, meta, fields, info), all in one slot, and its index entry. */
  sessionKeys(sid: string): SessionKeys {
    const session = this.session(sid);
    const member = this.member(sid, session);
    return { sid, session, meta: this.metaPrefix + member, fields: this.fieldsPrefix + member, info: this.infoPrefix + member, member };
  }

  /** What an info key name starts with, before the member. */
  get infoPrefix(): string {
    return `${this.indexPrefix}i:`;
  }

  /** What a fields key name starts with, before the member. */
  get fieldsPrefix(): string {
    return `${this.indexPrefix}f:`;
  }

  /** A session's fields (a hash), in its session's slot like the meta key. */
  fields(sid: string, sessionKey = this.session(sid)): string {
    return this.fieldsPrefix + this.member(sid, sessionKey);
  }

  /** A session's info (a hash), in its session's slot like the meta key. */
  info(sid: string, sessionKey = this.session(sid)): string {
    return this.infoPrefix + this.member(sid, sessionKey);
  }

  user(userId: string): string {
    return `${this.indexPrefix}user:${userId}`;
  }

  /** What every user's index key starts with (a single-Redis script builds an owner's key from it). */
  get userIndexRoot(): string {
    return `${this.indexPrefix}user:`;
  }
}
