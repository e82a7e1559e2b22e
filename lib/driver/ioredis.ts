/**
 * The driver for ioredis 5 and 6 and for iovalkey (ioredis's fork, same API): `new Redis()`,
 * `new Redis.Cluster()`, Sentinel through `new Redis({ sentinels, name })`, and `new Valkey()`,
 * `new Valkey.Cluster()`. Known from the object itself (`call`, `status`, `options`, `isCluster`):
 * neither package is ever imported.
 *
 * Failing fast, whatever the client's settings. ioredis queues a command sent while it is not
 * connected (`enableOfflineQueue`), and re-sends a command that was on the wire when the connection
 * dropped (`autoResendUnfulfilledCommands`) until `maxRetriesPerRequest` reconnections have failed:
 * by default a call can wait for many seconds. The store never reaches that queue on purpose: a
 * call made while `status` is not "ready" rejects at once (ENOTREADY), and every call is bounded by
 * commandTimeout, so one that was in flight when the connection dropped fails after commandTimeout
 * even though ioredis still holds it. ioredis may still send it after reconnecting, once the caller
 * has been told it failed: every write the store sends is safe to apply late (a tombstone refuses a
 * save or touch of a destroyed session; a destroy or an UNLINK applied twice is one destroy).
 *
 * Replies: ioredis 6 speaks RESP3, by default in RESP2's shapes (`replyMapping: "legacy"`); with
 * `replyMapping: "resp3"` scores come as numbers and a Lua false as false, which the store's decoders
 * take as they do node-redis 6's. None of the commands the store sends answers with a map.
 */
import type { ClusterNodes, ClusterScan } from "./cluster-scan.js";
import type { Args, ReadinessListener, ScanStep, Topology } from "./driver.js";
import { notReady } from "./errors.js";
import { scanNode } from "./node-scan.js";
import { DriverBase } from "./shared.js";
import { Watchers } from "./watchers.js";

interface IoredisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  status: string;
  isCluster?: boolean;
  options: {
    keyPrefix?: string;
    scaleReads?: unknown;
    role?: string;
    sentinels?: unknown;
    host?: string;
    port?: number;
    redisOptions?: { keyPrefix?: string };
  };
}

interface IoredisCluster extends IoredisClient {
  nodes(role: "master"): IoredisClient[];
  /** Per slot: the keys ("host:port") of its master, then its replicas. */
  slots: (string[] | undefined)[];
  refreshSlotsCache?(callback?: (error?: unknown) => void): void;
}

/** Statuses in which a node's connection is known to be down (a lazy node is "wait" until used). */
const NODE_DOWN = new Set(["close", "end", "reconnecting"]);

/** Is `client` an ioredis or iovalkey client (of any topology)? */
export function isIoredis(client: unknown): boolean {
  const c = client as { call?: unknown; status?: unknown; options?: unknown } | null;
  return (
    c !== null &&
    typeof c === "object" &&
    typeof c.call === "function" &&
    typeof c.status === "string" &&
    typeof c.options === "object" &&
    c.options !== null
  );
}

/**
 * Why this ioredis client cannot serve the store, or undefined. `keyPrefix` is not applied to SCAN
 * MATCH patterns, so bulk calls would find nothing; `scaleReads` other than "master" (or a Sentinel
 * client's `role: "slave"`) sends reads to replicas, which may still hold a session destroyed a
 * moment ago.
 */
export function ioredisProblem(client: unknown): string | undefined {
  const { options } = client as IoredisClient;
  const prefix = options.keyPrefix || options.redisOptions?.keyPrefix;
  if (prefix) {
    return `an ioredis/iovalkey client without its keyPrefix option (ioredis does not apply keyPrefix to SCAN patterns; give the store's prefix option instead), got keyPrefix ${JSON.stringify(prefix)}`;
  }
  const { scaleReads } = options;
  if (scaleReads !== undefined && scaleReads !== "master") {
    const given = typeof scaleReads === "string" ? JSON.stringify(scaleReads) : "a function";
    return `an ioredis/iovalkey Cluster client with scaleReads "master" (a session must read its own writes, never a replica's copy), got scaleReads ${given}`;
  }
  if (options.role === "slave") {
    return `an ioredis/iovalkey Sentinel client of the master (role "master"), got role "slave"`;
  }
  return undefined;
}

function topologyOf(client: IoredisClient): Topology {
  if (client.isCluster === true) return "cluster";
  const { sentinels } = client.options;
  return Array.isArray(sentinels) && sentinels.length > 0 ? "sentinel" : "standalone";
}

const watchers = new Watchers();

export class IoredisDriver extends DriverBase {
  readonly #client: IoredisClient;
  readonly #clusterScan: ClusterScan | undefined;

  constructor(client: unknown, commandTimeout: number) {
    super(topologyOf(client as IoredisClient), commandTimeout);
    this.#client = client as IoredisClient;
    if (this.sharded) this.#clusterScan = this.clusterScan(ioredisNodes(this.#client as IoredisCluster));
  }

  get ready(): boolean {
    return this.#client.status === "ready";
  }

  protected send(_key: string | undefined, args: Args): Promise<unknown> {
    // ioredis routes by the command's own keys on Cluster (EVALSHA's too); iovalkey finds them only
    // under the command's lower-case name.
    return this.#client.call((args[0] as string).toLowerCase(), ...args.slice(1));
  }

  async *scan(pattern: string, count: number, step?: ScanStep): AsyncGenerator<string[]> {
    if (this.#clusterScan) {
      if (!this.ready) throw notReady();
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
    // Every topology (Cluster and Sentinel too) says "ready" when it can serve, and "close",
    // "reconnecting" or "end" when it stopped.
    watchers.add(this.#client, { up: ["ready"], down: ["close", "reconnecting", "end"] }, listener);
    return true;
  }

  /**
   * ioredis refreshes its slot map on MOVED and after a node's connection closes; a call that failed
   * for want of a node asks for a refresh at once as well (at most once a second).
   */
  protected refreshSlots(): Promise<void> | undefined {
    const cluster = this.#client as IoredisCluster;
    if (typeof cluster.refreshSlotsCache !== "function") return undefined;
    return new Promise<void>((resolve) => cluster.refreshSlotsCache?.(() => resolve()));
  }
}

/** ioredis's cluster client as the cluster scan sees it: `nodes("master")` and `slots`. */
function ioredisNodes(cluster: IoredisCluster): ClusterNodes {
  const addressOf = (master: unknown) => {
    const { host, port } = (master as IoredisClient).options;
    return `${host}:${port}`;
  };
  return {
    masters: () => cluster.nodes("master"),
    addressOf,
    // A master's connection is made on its first command: only one known to be down fails at once.
    connect: (master) => {
      const node = master as IoredisClient;
      return {
        send: (args) => node.call(args[0] as string, ...args.slice(1)),
        get ready() {
          return !NODE_DOWN.has(node.status);
        },
      };
    },
    coversAllSlots: (finished) => {
      const { slots } = cluster;
      if (!Array.isArray(slots) || slots.length < 16384) return false;
      for (let slot = 0; slot < 16384; slot++) {
        const master = slots[slot]?.[0];
        if (!master || !finished.has(master)) return false;
      }
      return true;
    },
    find: (_id, address) => cluster.nodes("master").find((master) => addressOf(master) === address),
  };
}
