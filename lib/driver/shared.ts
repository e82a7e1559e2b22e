/**
 * What every driver does the same way, whatever its client: one command's path (fail at once while
 * not ready, bound the reply by commandTimeout, translate errors, refresh a Cluster's slot map after
 * a lost node), scripts by SHA with EVAL after NOSCRIPT, grouping by slot, and retrying a bulk step
 * through a failover. A driver extends `DriverBase` with what only it knows: how its client sends
 * one command, whether it is ready, how it refreshes its slot map, its scan and its events.
 */
import { RedisUnavailableError } from "../errors.js";
import { keySlot } from "../keys.js";
import { type ClusterNodes, ClusterScan } from "./cluster-scan.js";
import { bounded, Deadlines } from "./deadlines.js";
import type { Args, Driver, ReadinessListener, ScanStep, Script, Topology } from "./driver.js";
import { notReady, rethrowTranslated, translate } from "./errors.js";
import { resumableNodeScan } from "./node-scan.js";

export abstract class DriverBase implements Driver {
  readonly topology: Topology;
  readonly sharded: boolean;
  readonly #commandTimeout: number;
  readonly #deadlines: Deadlines | undefined;
  #lastHeal = 0;

  constructor(topology: Topology, commandTimeout: number) {
    this.topology = topology;
    this.sharded = topology === "cluster";
    this.#commandTimeout = commandTimeout;
    this.#deadlines = commandTimeout > 0 ? new Deadlines(commandTimeout) : undefined;
  }

  abstract get ready(): boolean;
  abstract scan(pattern: string, count: number, step?: ScanStep): AsyncGenerator<string[]>;
  abstract watch(listener: ReadinessListener): boolean;
  /** The scan of every master, on Cluster; undefined on a single Redis. */
  protected abstract get masterScan(): ClusterScan | undefined;

  /** A scan that can stop and resume: each batch with the cursor to resume after it. */
  async *scanFrom(pattern: string, count: number, cursor: string | undefined): AsyncGenerator<{ keys: string[]; cursor: string }> {
    if (!this.ready) throw notReady();
    const masters = this.masterScan;
    if (masters) {
      yield* masters.resumable(pattern, count, cursor);
      return;
    }
    yield* resumableNodeScan((at) => this.command(undefined, ["SCAN", at, "MATCH", pattern, "COUNT", String(count)]), cursor);
  }
  /** Hands one command to the client, routed by `key` on Cluster; may throw synchronously. */
  protected abstract send(key: string | undefined, args: Args): Promise<unknown>;
  /** Asks a Cluster client to refresh its slot map; undefined when it cannot now. */
  protected abstract refreshSlots(): Promise<void> | undefined;

  get recoveryMs(): number {
    return Math.max(10_000, 5 * (this.#deadlines?.ms ?? 2000));
  }

  command<T = unknown>(key: string | undefined, args: Args): Promise<T>;
  command<T, R>(key: string | undefined, args: Args, map: (reply: T) => R | Promise<R>): Promise<R>;
  command<T, R>(key: string | undefined, args: Args, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    // Never into a client's own offline queue: a call while not ready fails at once.
    if (!this.ready) return Promise.reject(notReady());
    let sent: Promise<unknown>;
    try {
      sent = this.send(key, args);
    } catch (error) {
      return Promise.reject(translate(error));
    }
    const answer = this.answer(sent as Promise<T>, map);
    if (!this.sharded) return answer;
    return answer.catch((error: unknown) => {
      if (error instanceof RedisUnavailableError) void this.heal();
      throw error;
    });
  }

  script<T = unknown>(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
    return runScript((key, command) => this.command<T>(key, command), script, keys, args);
  }

  groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
    return groupBySlot(this.sharded, items, keyOf);
  }

  retry<T>(step: () => Promise<T>): Promise<T> {
    return retryThroughFailover(this.sharded, this.recoveryMs, () => this.heal(true), step);
  }

  /** The scan of every master of a Cluster client, sharing this driver's bounds and healing. */
  protected clusterScan(nodes: ClusterNodes): ClusterScan {
    return new ClusterScan(nodes, {
      recoveryMs: this.recoveryMs,
      heal: () => this.heal(true),
      bounded: (wait) => bounded(wait, this.#commandTimeout),
      answer: (sent) => this.answer(sent),
    });
  }

  /** After a call failed for want of a node: a slot map refresh, at most once a second unless `force`d. */
  protected async heal(force = false): Promise<void> {
    if (!this.sharded) return;
    const now = Date.now();
    if (!force && now - this.#lastHeal < 1000) return;
    this.#lastHeal = now;
    const refreshed = this.refreshSlots();
    if (!refreshed) return;
    // The caller already has the original error; a failed or slow refresh just waits for the next one.
    await bounded(refreshed, this.#deadlines?.ms ?? 0).catch(() => undefined);
  }

  /** A sent command's reply, bounded by commandTimeout, with connection errors translated. */
  protected answer<T, R = T>(sent: Promise<T>, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    if (this.#deadlines) return this.#deadlines.track(sent, map);
    return map ? sent.then(map, rethrowTranslated) : sent.catch(rethrowTranslated);
  }
}

/** EVALSHA of `script`; on a reply that starts with NOSCRIPT, the same call as EVAL. */
export function runScript<T>(
  send: (key: string | undefined, args: Args) => Promise<T>,
  script: Script,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<T> {
  const command = ["EVALSHA", script.sha, String(keys.length)];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(typeof arg === "string" ? arg : String(arg));
  return send(keys[0], command).catch((error: unknown) => {
    // Redis says "NOSCRIPT No matching script..."; Valkey words it differently after the same prefix.
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    command[0] = "EVAL";
    command[1] = script.source;
    return send(keys[0], command);
  });
}

/** Items grouped so that each group's keys share a slot; one group when not `sharded`. */
export function groupBySlot<T>(sharded: boolean, items: readonly T[], keyOf: (item: T) => string): T[][] {
  if (!sharded) return items.length ? [items.slice()] : [];
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}

/** Runs `step` again after `heal` while it fails for want of a node, until `recoveryMs` has passed (Cluster only). */
export async function retryThroughFailover<T>(
  sharded: boolean,
  recoveryMs: number,
  heal: () => Promise<void>,
  step: () => Promise<T>,
): Promise<T> {
  const giveUpAt = Date.now() + recoveryMs;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!sharded || !(error instanceof RedisUnavailableError) || Date.now() > giveUpAt) throw error;
      await heal();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
