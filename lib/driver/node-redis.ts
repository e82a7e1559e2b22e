/**
 * The driver for node-redis 5 and 6: `createClient()`, `createCluster()` and `createSentinel()`.
 * The topology is read from the client once, and the one function that sends a command is chosen
 * then; nothing per call asks which client or topology this is.
 */
import type { ClusterScan } from "./cluster-scan.js";
import type { Args, ReadinessListener, ScanStep, Topology } from "./driver.js";
import { notReady } from "./errors.js";
import { type ClusterClient, type NodeClient, nodeRedisNodes, routingKey } from "./node-redis-cluster.js";
import { scanNode } from "./node-scan.js";
import { DriverBase } from "./shared.js";
import { Watchers } from "./watchers.js";

interface StandaloneClient {
  sendCommand(args: Args): Promise<unknown>;
  isReady?: boolean;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}
interface SentinelClient {
  sendCommand(isReadonly: boolean, args: Args): Promise<unknown>;
  isReady?: boolean;
  acquire(): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Is `client` a node-redis 5/6 client (of any topology)? */
export function isNodeRedis(client: unknown): boolean {
  const c = client as { sendCommand?: unknown; isReady?: unknown; masters?: unknown; options?: unknown } | null;
  if (c === null || typeof c !== "object" || typeof c.sendCommand !== "function") return false;
  return typeof c.isReady === "boolean" || Array.isArray(c.masters);
}

function topologyOf(client: unknown): Topology {
  const c = client as Record<string, unknown>;
  if (Array.isArray(c.masters) && typeof c.nodeClient === "function") return "cluster";
  // RedisSentinel leases clients with acquire(); its sendCommand takes (isReadonly, args, options).
  if (typeof c.acquire === "function") return "sentinel";
  return "standalone";
}

const watchers = new Watchers();

export class NodeRedisDriver extends DriverBase {
  readonly #client: unknown;
  /** Sends one command the way this client's topology takes it; `readonly: false` always (sessions read their own writes). */
  readonly #send: (key: string | undefined, args: Args) => Promise<unknown>;
  readonly #clusterScan: ClusterScan | undefined;

  constructor(client: unknown, commandTimeout: number) {
    super(topologyOf(client), commandTimeout);
    this.#client = client;
    switch (this.topology) {
      case "cluster": {
        const cluster = client as ClusterClient;
        this.#send = (key, args) => cluster.sendCommand(routingKey(key), false, args);
        this.#clusterScan = this.clusterScan(nodeRedisNodes(cluster));
        break;
      }
      case "sentinel": {
        const sentinel = client as SentinelClient;
        this.#send = (_key, args) => sentinel.sendCommand(false, args);
        break;
      }
      default: {
        const standalone = client as StandaloneClient;
        this.#send = (_key, args) => standalone.sendCommand(args);
      }
    }
  }

  get ready(): boolean {
    const c = this.#client as { isReady?: boolean; isOpen?: boolean };
    return this.sharded ? c.isOpen !== false : c.isReady !== false;
  }

  protected send(key: string | undefined, args: Args): Promise<unknown> {
    return this.#send(key, args);
  }

  async *scan(pattern: string, count: number, step?: ScanStep): AsyncGenerator<string[]> {
    if (this.#clusterScan) {
      yield* this.#clusterScan.keys(pattern, count);
      return;
    }
    if (!this.ready) throw notReady();
    yield* scanNode(step ?? ((cursor) => this.command(undefined, ["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)])));
  }

  protected get masterScan(): ClusterScan | undefined {
    return this.#clusterScan;
  }

  watch(listener: ReadinessListener): boolean {
    // Cluster: whole-client connect/disconnect; Sentinel emits none; a single client: ready, end, reconnecting.
    const events =
      this.topology === "cluster"
        ? { up: ["connect"], down: ["disconnect"] }
        : this.topology === "sentinel"
          ? { up: [], down: [] }
          : { up: ["ready"], down: ["end", "reconnecting"] };
    watchers.add(this.#client, events, listener);
    return events.up.length > 0;
  }

  /**
   * node-redis 5's cluster client refreshes its slot map only on MOVED/ASK, so after a master dies
   * it keeps sending that master's slots to the dead node. When a call fails for want of a
   * connection, ask it to rediscover from a live master (at most once a second). node-redis 6
   * refreshes on its own; the call is harmless there. (Sentinel gets no such step: see
   * docs/operations.md on node-redis 5 and Sentinel.)
   */
  protected refreshSlots(): Promise<void> | undefined {
    const cluster = this.#client as ClusterClient & { _slots?: { rediscover?: (startWith: unknown) => Promise<void> } };
    const rediscover = cluster._slots?.rediscover;
    if (typeof rediscover !== "function") return undefined;
    const live = cluster.masters.map((master) => (master as { client?: NodeClient }).client).find((client) => client?.isReady === true);
    if (!live) return undefined;
    return rediscover.call(cluster._slots, live);
  }
}
