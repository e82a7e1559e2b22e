/**
 * rotate(): brings every stored session, and each of its fields, to the form the store writes now:
 * under the current key (an older key's envelope, or plaintext with `acceptPlaintext`), or plain
 * with encryption off (`decryptWith`). One batch of SCAN at a time, so memory stays bounded by the
 * batch; each batch reads its sessions with their fields (one script per slot), re-seals what is
 * not current, and writes it back with a compare-and-set that keeps each key's expiry. A value
 * that changed since it was read (a save made meanwhile, written in the current form anyway) is
 * skipped, so no save is ever lost. Values already current cost a read and no write, so running
 * it again, or from an old cursor, is harmless.
 */
import { createHash } from "node:crypto";
import { DEVICE_PURPOSE } from "../device.js";
import type { Driver } from "../driver/driver.js";
import { SessionDecodeError } from "../errors.js";
import type { Keys } from "../keys.js";
import { type Replacement, readForRotation, replaceUnchanged } from "../scripts/rotate.js";
import { fieldPurpose, INTEGER, type StoredValues } from "./fields.js";

/** What rotate() has done so far in this call, after each batch. */
export interface RotateProgress {
  /** Sessions found. */
  seen: number;
  /** Sessions rewritten in the current form (re-encrypted under the current key; plain with encryption off). */
  reencrypted: number;
  /** Field values rewritten in the current form. */
  fields: number;
  /** Values (sessions or fields) changed or gone between the read and the write: left to the save that changed them. */
  skipped: number;
  /** Values that could not be opened (each reported as a `decodeError`): left as they are. */
  unreadable: number;
  /** Pass as `cursor` to a later rotate() to carry on after this batch; null once every session was seen. */
  cursor: string | null;
  /** True in the last progress, once every session was seen. */
  done: boolean;
}

export interface RotateOptions {
  /** Keys asked for per SCAN call, and so sessions per batch, about. */
  batch: number;
  cursor: string | undefined;
  signal: AbortSignal | undefined;
}

const COUNTS = ["seen", "reencrypted", "fields", "skipped", "unreadable"] as const;

/**
 * The hashes of a session whose values are sealed, each with the purpose its values are sealed
 * for: rotate() moves them with the session. Plain integers (counters) are left as they are.
 */
const SEALED_HASHES: readonly { key(keys: Keys, sid: string, session: string): string; purpose(name: string): string }[] = [
  { key: (keys, sid, session) => keys.fields(sid, session), purpose: fieldPurpose },
  // The info hash: "c" (createdAt) is a plain integer; "d" is the device, sealed for DEVICE_PURPOSE.
  { key: (keys, sid, session) => keys.info(sid, session), purpose: () => DEVICE_PURPOSE },
];

function sha1(value: string): string {
  return createHash("sha1").update(value, "utf8").digest("hex");
}

export async function* rotate(driver: Driver, keys: Keys, stored: StoredValues, options: RotateOptions): AsyncGenerator<RotateProgress> {
  const progress: RotateProgress = {
    seen: 0,
    reencrypted: 0,
    fields: 0,
    skipped: 0,
    unreadable: 0,
    cursor: options.cursor ?? null,
    done: false,
  };
  const { signal } = options;
  signal?.throwIfAborted();
  type Counts = Pick<RotateProgress, "seen" | "reencrypted" | "fields" | "skipped" | "unreadable">;
  /** The stored form of a value now, or undefined when it is current already or can't be opened. */
  const resealed = async (counts: Counts, value: string, sid: string, purpose: string): Promise<string | undefined> => {
    if (stored.encryption.isCurrent(value)) return undefined;
    try {
      return await stored.encryption.encrypt(await stored.encryption.decrypt(value, sid, purpose), sid, purpose);
    } catch (error) {
      if (!(error instanceof SessionDecodeError)) throw error;
      counts.unreadable++;
      stored.report(error);
      return undefined;
    }
  };
  /** One slot's sessions: read, re-sealed, written back where unchanged. Counted once it succeeds. */
  const rotateSlot = async (group: { sid: string; session: string; hashes: string[] }[]): Promise<Counts> => {
    const counts: Counts = { seen: 0, reencrypted: 0, fields: 0, skipped: 0, unreadable: 0 };
    const reads = await readForRotation(driver, group);
    const replacements: Replacement[] = [];
    await Promise.all(
      group.map(async (item, i) => {
        const read = reads[i];
        if (!read) return; // expired or destroyed since the SCAN
        counts.seen++;
        const fields = read.hashes.flatMap((hash, h) => hash.map(([name, old]) => ({ key: item.hashes[h] as string, h, name, old })));
        const [value, ...sealed] = await Promise.all([
          resealed(counts, read.value, item.sid, "session"),
          ...fields.map(({ h, name, old }) =>
            INTEGER.test(old)
              ? undefined
              : resealed(counts, old, item.sid, (SEALED_HASHES[h] as (typeof SEALED_HASHES)[number]).purpose(name)),
          ),
        ]);
        if (value !== undefined) replacements.push({ key: item.session, field: "", readSha: sha1(read.value), value });
        fields.forEach(({ key, name, old }, f) => {
          const field = sealed[f];
          if (field !== undefined) replacements.push({ key, field: name, readSha: sha1(old), value: field });
        });
      }),
    );
    if (!replacements.length) return counts;
    const replaced = await replaceUnchanged(driver, replacements);
    replacements.forEach((replacement, i) => {
      if (!replaced[i]) counts.skipped++;
      else if (replacement.field === "") counts.reencrypted++;
      else counts.fields++;
    });
    return counts;
  };
  for await (const batch of driver.scanFrom(keys.sessionPattern, options.batch, options.cursor)) {
    const items = batch.keys
      .filter((key) => key.startsWith(keys.prefix))
      .map((session) => {
        const sid = keys.sid(session);
        return { sid, session, hashes: SEALED_HASHES.map((hash) => hash.key(keys, sid, session)) };
      });
    // A slot's read and write run again after a failover: a value written already is current, and skipped.
    const slots = await Promise.all(
      driver.groupBySlot(items, (item) => item.session).map((group) => driver.retry(() => rotateSlot(group))),
    );
    for (const counts of slots) for (const name of COUNTS) progress[name] += counts[name];
    progress.cursor = batch.cursor;
    yield { ...progress };
    signal?.throwIfAborted();
  }
  yield { ...progress, cursor: null, done: true };
}
