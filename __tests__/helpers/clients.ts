/**
 * Connected clients for every topology (standalone, Cluster, Sentinel): node-redis 5 (RESP2 by
 * default) and 6 (RESP3 by default), ioredis 5 (RESP2) and 6 (RESP3 by default), and iovalkey,
 * made the same way an application would, plus a small topology-neutral command helper for tests
 * to inspect Redis directly. ioredis and iovalkey keep their default settings (offline queue,
 * maxRetriesPerRequest 20, re-sending on reconnect) but for a quick reconnect.
 *
 * Every client gets an `error` listener here (the store never adds one): errors while servers are
 * killed are recorded in `errors` instead of crashing the process.
 */
import Ioredis5 from "ioredis";
import Ioredis6 from "ioredis6";
import Iovalkey from "iovalkey";
import * as redis5 from "redis";
import * as redis6 from "redis6";
import { routingKey } from "../../lib/driver/node-redis-cluster";
import type { ServerKind } from "./redis-server";
import { VALKEY_ENABLED } from "./valkey";

/** A node-redis major. */
export type ClientVersion = 5 | 6;
/** Every client the store supports, as the contract suite names it; a bare 5 or 6 is node-redis. */
export type ClientName = "node-redis 5" | "node-redis 6" | "ioredis 5" | "ioredis 6" | "ioredis 6 resp3" | "iovalkey";
export type TopologyName = "standalone" | "cluster" | "sentinel";

export interface StandaloneTarget {
  url: string;
}
export interface ClusterTarget {
  rootNodes: Array<{ url: string }>;
}
export interface SentinelTarget {
  name: string;
  sentinelRootNodes: Array<{ host: string; port: number }>;
}
export type Target = StandaloneTarget | ClusterTarget | SentinelTarget;

export interface ClientOptions {
  /** Socket connect timeout in ms. Default 1000. */
  connectTimeout?: number;
  /** Max delay between reconnect attempts in ms (attempts back off by 50 ms up to this). Default 200. */
  maxReconnectDelay?: number;
}

export interface ClientHandle {
  readonly name: ClientName;
  readonly topology: TopologyName;
  /** The client, connected: pass it to new RedisStore({ client }). */
  readonly client: any;
  /** Every error the client emitted ('error', and 'node-error' on Cluster). */
  readonly errors: unknown[];
  /** Sends one command to the node that owns `key` (default: args[1]). */
  command<T = unknown>(args: string[], key?: string): Promise<T>;
  /** Every key matching `pattern` on every master (SCAN; one master per shard on Cluster). */
  keys(pattern: string): Promise<string[]>;
  /** The keys matching `pattern`, master by master (one list on a single Redis). */
  keysPerMaster(pattern: string): Promise<string[][]>;
  /** Destroys the client (never hangs, even with servers down). Safe to call twice. */
  close(): Promise<void>;
}

/** Reconnection attempts a node-redis 5 Sentinel client's master connection makes before it gives up. */
const SENTINEL_V5_NODE_ATTEMPTS = 5;

export async function makeClient(
  which: ClientVersion | ClientName,
  topology: TopologyName,
  target: Target,
  options: ClientOptions = {},
): Promise<ClientHandle> {
  const name: ClientName = typeof which === "number" ? `node-redis ${which}` : which;
  if (!name.startsWith("node-redis")) return makeIoredis(name, topology, target, options);
  const version: ClientVersion = name === "node-redis 5" ? 5 : 6;
  const lib = version === 5 ? redis5 : redis6;
  const maxDelay = options.maxReconnectDelay ?? 200;
  const socket = {
    connectTimeout: options.connectTimeout ?? 1000,
    reconnectStrategy: (retries: number) => Math.min(50 * (retries + 1), maxDelay),
  };
  const errors: unknown[] = [];
  const record = (error: unknown) => {
    errors.push(error);
    if (process.env.RSS_TEST_DEBUG_CLIENTS) console.warn(`[${name} ${topology}]`, error);
  };

  let client: any;
  switch (topology) {
    case "standalone": {
      const { url } = target as StandaloneTarget;
      client = (lib.createClient as any)({ url, socket });
      break;
    }
    case "cluster": {
      const { rootNodes } = target as ClusterTarget;
      client = (lib.createCluster as any)({ rootNodes, defaults: { socket } });
      client.on("node-error", record);
      break;
    }
    case "sentinel": {
      const { name, sentinelRootNodes } = target as SentinelTarget;
      // As the README tells node-redis 5 users: node clients that give up after a few attempts.
      // node-redis 5's Sentinel client waits for its new master connection before it looks at the
      // sentinels again; to an address that died, with a strategy that never gives up, it waits forever.
      const nodeSocket =
        version === 5
          ? {
              ...socket,
              reconnectStrategy: (retries: number) =>
                retries >= SENTINEL_V5_NODE_ATTEMPTS
                  ? new Error("node unreachable: let Sentinel find the master")
                  : socket.reconnectStrategy(retries),
            }
          : socket;
      client = (lib.createSentinel as any)({
        name,
        sentinelRootNodes,
        nodeClientOptions: { socket: nodeSocket },
        sentinelClientOptions: { socket },
        // Failover is normally seen through +switch-master; the scan is the fallback.
        scanInterval: 1000,
      });
      break;
    }
  }
  client.on("error", record);
  await client.connect();

  const command = <T>(args: string[], key: string | undefined = args[1]): Promise<T> => {
    switch (topology) {
      case "cluster":
        // As the driver routes it: node-redis 5 misroutes a key whose first hash tag is empty.
        return client.sendCommand(routingKey(key), false, args);
      case "sentinel":
        return client.sendCommand(false, args);
      default:
        return client.sendCommand(args);
    }
  };

  const keysPerMaster = async (pattern: string) => {
    if (topology !== "cluster") return [await scanWith((args) => command(args, undefined), pattern)];
    const nodes = await Promise.all((client.masters as unknown[]).map((master) => client.nodeClient(master)));
    return Promise.all(nodes.map((node) => scanWith((args) => node.sendCommand(args), pattern)));
  };

  let closed = false;
  return {
    name,
    topology,
    client,
    errors,
    command,
    keys: async (pattern) => [...new Set((await keysPerMaster(pattern)).flat())],
    keysPerMaster,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        // destroy(), not close(): close() waits for replies that a killed server never sends.
        client.destroy();
      } catch {
        // already closed
      }
    },
  };
}

async function scanWith(send: (args: string[]) => Promise<unknown>, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = (await send(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])) as [string, string[]];
    cursor = String(next);
    found.push(...keys.map(String));
  } while (cursor !== "0");
  return found;
}

const IOREDIS = { "ioredis 5": Ioredis5, "ioredis 6": Ioredis6, "ioredis 6 resp3": Ioredis6, iovalkey: Iovalkey } as const;

/** The `Redis` (or `Valkey`) class of an ioredis-family client, for tests that build one with their own options. */
export function ioredisClass(name: ClientName): any {
  const found = IOREDIS[name as keyof typeof IOREDIS];
  if (!found) throw new Error(`${name} is not an ioredis-family client`);
  return found;
}

/** Is the handle's client ready to serve (node-redis `isReady`, ioredis `status`)? */
export function isReady(h: ClientHandle): boolean {
  return h.name.startsWith("node-redis") ? h.client.isReady === true : h.client.status === "ready";
}

function hostPort(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

/** An ioredis or iovalkey client, ready; default settings but for a quick reconnect. */
async function makeIoredis(name: ClientName, topology: TopologyName, target: Target, options: ClientOptions): Promise<ClientHandle> {
  const Redis = IOREDIS[name as keyof typeof IOREDIS] as any;
  const maxDelay = options.maxReconnectDelay ?? 200;
  const retryStrategy = (times: number) => Math.min(50 * times, maxDelay);
  const common = {
    connectTimeout: options.connectTimeout ?? 1000,
    retryStrategy,
    lazyConnect: true,
    // RESP3's own shapes: maps as objects, doubles as numbers, booleans as booleans.
    ...(name === "ioredis 6 resp3" ? { replyMapping: "resp3" } : {}),
  };
  const errors: unknown[] = [];
  const record = (error: unknown) => {
    errors.push(error);
    if (process.env.RSS_TEST_DEBUG_CLIENTS) console.warn(`[${name} ${topology}]`, error);
  };
  let client: any;
  switch (topology) {
    case "standalone":
      client = new Redis({ ...hostPort((target as StandaloneTarget).url), ...common });
      break;
    case "cluster":
      client = new Redis.Cluster(
        (target as ClusterTarget).rootNodes.map(({ url }) => hostPort(url)),
        { clusterRetryStrategy: retryStrategy, lazyConnect: true, redisOptions: { ...common, lazyConnect: undefined } },
      );
      client.on("node error", record);
      break;
    case "sentinel": {
      const { name: master, sentinelRootNodes } = target as SentinelTarget;
      client = new Redis({ sentinels: sentinelRootNodes, name: master, sentinelRetryStrategy: retryStrategy, ...common });
      break;
    }
  }
  client.on("error", record);
  await client.connect();
  const deadline = Date.now() + 10_000;
  while (client.status !== "ready") {
    if (Date.now() > deadline) throw new Error(`${name} ${topology}: not ready after 10 s (${client.status})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  // ioredis routes by the command's keys on Cluster; a keyless command goes to any node.
  // Lower-case: iovalkey finds a command's keys (to route it) only under its lower-case name.
  const command = <T>(args: string[]): Promise<T> => client.call(String(args[0]).toLowerCase(), ...args.slice(1));
  const keysPerMaster = async (pattern: string) => {
    if (topology !== "cluster") return [await scanWith(command, pattern)];
    const masters = client.nodes("master") as any[];
    return Promise.all(masters.map((node) => scanWith((args) => node.call(args[0], ...args.slice(1)), pattern)));
  };
  let closed = false;
  return {
    name,
    topology,
    client,
    errors,
    command,
    keys: async (pattern) => [...new Set((await keysPerMaster(pattern)).flat())],
    keysPerMaster,
    close: async () => {
      if (closed) return;
      closed = true;
      // disconnect(), not quit(): quit() waits for a reply that a killed server never sends.
      client.disconnect();
    },
  };
}

/**
 * The combinations the contract suite runs against: Redis in every topology with both node-redis
 * majors and ioredis 5, ioredis 6 (RESP3) standalone and Cluster, ioredis 6 with RESP3's own reply
 * shapes (replyMapping "resp3") standalone; Valkey 8 standalone and Cluster
 * with node-redis 6 and iovalkey (left out when SKIP_VALKEY=1).
 */
export const COMBOS: ReadonlyArray<readonly [ServerKind, TopologyName, ClientName]> = [
  ["redis", "standalone", "node-redis 5"],
  ["redis", "standalone", "node-redis 6"],
  ["redis", "cluster", "node-redis 5"],
  ["redis", "cluster", "node-redis 6"],
  ["redis", "sentinel", "node-redis 5"],
  ["redis", "sentinel", "node-redis 6"],
  ["redis", "standalone", "ioredis 5"],
  ["redis", "cluster", "ioredis 5"],
  ["redis", "sentinel", "ioredis 5"],
  ["redis", "standalone", "ioredis 6"],
  ["redis", "cluster", "ioredis 6"],
  ["redis", "sentinel", "ioredis 6"],
  ["redis", "standalone", "ioredis 6 resp3"],
  ...(VALKEY_ENABLED
    ? ([
        ["valkey", "standalone", "node-redis 6"],
        ["valkey", "cluster", "node-redis 6"],
        ["valkey", "standalone", "iovalkey"],
        ["valkey", "cluster", "iovalkey"],
        ["valkey", "standalone", "ioredis 5"],
        ["valkey", "cluster", "ioredis 5"],
      ] as const)
    : []),
];
