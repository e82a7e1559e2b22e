/**
 * The one seam between the store and a Redis client. Everything above it (engine, scripts,
 * frameworks) speaks in keys, commands and scripts; only an implementation of `Driver` knows a
 * client's API, its topology, its readiness events and its error classes.
 *
 * A single Redis (standalone or Sentinel) is treated as a cluster of one node: `groupBySlot`
 * returns one group and `scan` walks one node, so callers run one loop for every topology.
 */
import { createHash } from "node:crypto";

export type Topology = "standalone" | "cluster" | "sentinel";

export type Args = readonly string[];

/** A Lua script, run by SHA; the source is sent (EVAL) only after a reply that starts with NOSCRIPT. */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }
}

/** What a driver tells about readiness: the client became ready, or stopped being ready. */
export interface ReadinessListener {
  ready(): void;
  down(): void;
}

export interface Driver {
  readonly topology: Topology;
  /**
   * True when keys live on several nodes (Cluster): then a script may only touch keys of one slot,
   * and multi-key work is grouped by slot. False on a single Redis.
   */
  readonly sharded: boolean;
  /** False while the client is known not to be ready: calls then fail at once with RedisUnavailableError. */
  readonly ready: boolean;
  /** How long a cluster scan or bulk step keeps retrying through a failover, in ms. */
  readonly recoveryMs: number;

  /** One command, routed by `key` on Cluster; the reply passes through `map` inside the same promise. */
  command<T = unknown>(key: string | undefined, args: Args): Promise<T>;
  command<T, R>(key: string | undefined, args: Args, map: (reply: T) => R | Promise<R>): Promise<R>;

  /** A script by SHA, on the node of `keys[0]` (any node on a single Redis when there are no keys). */
  script<T = unknown>(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<T>;

  /** Items grouped so that each group's keys share a slot: one group on a single Redis. */
  groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): T[][];

  /**
   * Batches of keys matching `pattern` from every master. On a single Redis, `step` (when given)
   * replaces one SCAN call by a caller's own stretch of SCAN (a script run on the server).
   */
  scan(pattern: string, count: number, step?: ScanStep): AsyncGenerator<string[]>;

  /**
   * scan(), resumable: each batch with an opaque cursor from which a later call carries on after it.
   * A TypeError for a cursor this topology did not give.
   */
  scanFrom(pattern: string, count: number, cursor: string | undefined): AsyncGenerator<{ keys: string[]; cursor: string }>;

  /** Retries a bulk step that failed for want of a node (Cluster failover) until recoveryMs has passed. */
  retry<T>(step: () => Promise<T>): Promise<T>;

  /**
   * Calls `listener` as the client becomes ready or not; held weakly, so a dropped store is freed.
   * Returns false when the client has no readiness events to follow (node-redis's Sentinel client).
   */
  watch(listener: ReadinessListener): boolean;
}

/** One round trip of a SCAN on a single Redis: the next cursor and the keys found. */
export type ScanStep = (cursor: string) => Promise<[string, string[]]>;

/** Lua false/nil reaches us as null on RESP2 and as false on RESP3 (node-redis 6's default). */
export function isNil(value: unknown): value is null | undefined | false {
  return value === null || value === undefined || value === false;
}
