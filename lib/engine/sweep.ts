/**
 * Walking every session key of a store. The engine picks one way when it is built:
 *
 * - ServerSweep (single Redis, scripts allowed): SCAN runs on the server a stretch at a time
 *   (scripts/scan.ts), so length() gets a number back and clear() UNLINKs as the SCAN finds keys.
 * - ClientSweep (Cluster, or a store that sends no scripts): plain SCAN per master, counted here,
 *   and UNLINK per batch and slot.
 */
import type { Driver } from "../driver/driver.js";
import { escapeGlob, type Keys } from "../keys.js";
import { scanSteps } from "../scripts/scan.js";
import { InFlight } from "./in-flight.js";

/** UNLINK batches in flight at once in clear(). */
const UNLINK_PARALLEL = 16;

export interface Sweep {
  /** Batches of session keys: `count` per SCAN call; with `stretch`, several SCAN calls per round trip where the sweep can. */
  keys(count: number, stretch: boolean): AsyncGenerator<string[]>;
  count(scanCount: number): Promise<number>;
  /** UNLINKs every key under `prefix` (default: the sessions'). */
  unlinkAll(scanCount: number, prefix?: string): Promise<void>;
}

/** Keys under the prefix only: SCAN MATCH already filters, this guards against a glob left unescaped. */
async function* own(prefix: string, batches: AsyncGenerator<string[]>): AsyncGenerator<string[]> {
  for await (const batch of batches) {
    const mine = batch.filter((key) => key.startsWith(prefix));
    if (mine.length) yield mine;
  }
}

export class ServerSweep implements Sweep {
  constructor(
    readonly driver: Driver,
    readonly names: Keys,
  ) {}

  keys(count: number, stretch: boolean): AsyncGenerator<string[]> {
    const { sessionPattern: pattern, prefix } = this.names;
    const step = stretch ? (cursor: string) => scanSteps(this.driver, { cursor, pattern, count, mode: "keys", prefix }) : undefined;
    return own(prefix, this.driver.scan(pattern, count, step));
  }

  count(scanCount: number): Promise<number> {
    return this.#sweep(scanCount, "count");
  }

  async unlinkAll(scanCount: number, prefix = this.names.prefix): Promise<void> {
    await this.#sweep(scanCount, "unlink", prefix);
  }

  async #sweep(count: number, mode: "count" | "unlink", prefix = this.names.prefix): Promise<number> {
    const pattern = `${escapeGlob(prefix)}*`;
    let total = 0;
    let cursor = "0";
    do {
      const [next, n] = await scanSteps(this.driver, { cursor, pattern, count, mode, prefix });
      cursor = next;
      total += n;
    } while (cursor !== "0");
    return total;
  }
}

export class ClientSweep implements Sweep {
  constructor(
    readonly driver: Driver,
    readonly names: Keys,
  ) {}

  keys(count: number): AsyncGenerator<string[]> {
    return own(this.names.prefix, this.driver.scan(this.names.sessionPattern, count));
  }

  async count(scanCount: number): Promise<number> {
    let total = 0;
    for await (const batch of this.keys(scanCount)) total += batch.length;
    return total;
  }

  async unlinkAll(scanCount: number, prefix = this.names.prefix): Promise<void> {
    const unlinks = new InFlight(UNLINK_PARALLEL);
    const batches = own(prefix, this.driver.scan(`${escapeGlob(prefix)}*`, scanCount));
    await unlinks.run(async () => {
      for await (const keys of batches) {
        for (const group of this.driver.groupBySlot(keys, (key) => key))
          await unlinks.add(this.driver.retry(() => this.driver.command(group[0], ["UNLINK", ...group])));
      }
    });
  }
}
