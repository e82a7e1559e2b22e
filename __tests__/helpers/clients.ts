/**
 * Connected node-redis clients for every topology (standalone, Cluster, Sentinel) and both client
 * majors (redis 5, RESP2 by default; redis 6, RESP3 by default), made the same way an application
 * would, plus a small topology-neutral command helper for tests to inspect Redis directly.
 *
 * Every client gets an `error` listener here (the store never adds one): errors while servers are
 * killed are recorded in `errors` instead of crashing the process.
 */
import * as redis5 from "redis";
import * as redis6 from "redis6";
import type { ServerKind } from "./redis-server";
import { VALKEY_ENABLED } from "./valkey";

export type ClientVersion = 5 | 6;
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
  readonly version: ClientVersion;
  readonly topology: TopologyName;
  /** The node-redis client, connected: pass it to new RedisStore({ client }). */
  readonly client: any;
  /** Every error the client emitted ('error', and 'node-error' on Cluster). */
  readonly errors: unknown[];
  /** Sends one command to the node that owns `key` (default: args[1]). */
  command<T = unknown>(args: string[], key?: string): Promise<T>;
  /** Every key matching `pattern` on every master (SCAN; one master per shard on Cluster). */
  keys(pattern: string): Promise<string[]>;
  /** Destroys the client (never hangs, even with servers down). Safe to call twice. */
  close(): Promise<void>;
}

/** Reconnection attempts a node-redis 5 Sentinel client's master connection makes before it gives up. */
const SENTINEL_V5_NODE_ATTEMPTS = 5;

const label = (version: ClientVersion, topology: TopologyName) => `node-redis ${version} ${topology}`;

export async function makeClient(
  version: ClientVersion,
  topology: TopologyName,
  target: Target,
  options: ClientOptions = {},
): Promise<ClientHandle> {
  const lib = version === 5 ? redis5 : redis6;
  const maxDelay = options.maxReconnectDelay ?? 200;
  const socket = {
    connectTimeout: options.connectTimeout ?? 1000,
    reconnectStrategy: (retries: number) => Math.min(50 * (retries + 1), maxDelay),
  };
  const errors: unknown[] = [];
  const record = (error: unknown) => {
    errors.push(error);
    if (process.env.RSS_TEST_DEBUG_CLIENTS) console.warn(`[${label(version, topology)}]`, error);
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
        return client.sendCommand(key, false, args);
      case "sentinel":
        return client.sendCommand(false, args);
      default:
        return client.sendCommand(args);
    }
  };

  const scanWith = async (send: (args: string[]) => Promise<unknown>, pattern: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = (await send(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"])) as [string, string[]];
      cursor = String(next);
      found.push(...keys.map(String));
    } while (cursor !== "0");
    return found;
  };

  let closed = false;
  return {
    version,
    topology,
    client,
    errors,
    command,
    keys: async (pattern) => {
      if (topology !== "cluster") return [...new Set(await scanWith((args) => command(args, undefined), pattern))];
      const nodes = await Promise.all((client.masters as unknown[]).map((master) => client.nodeClient(master)));
      const all = await Promise.all(nodes.map((node) => scanWith((args) => node.sendCommand(args), pattern)));
      return [...new Set(all.flat())];
    },
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

/**
 * The combinations the contract suite runs against: Redis in every topology with both client
 * majors, and Valkey 8 standalone and Cluster with node-redis 6 (left out when SKIP_VALKEY=1).
 */
export const COMBOS: ReadonlyArray<readonly [ServerKind, TopologyName, ClientVersion]> = [
  ["redis", "standalone", 5],
  ["redis", "standalone", 6],
  ["redis", "cluster", 5],
  ["redis", "cluster", 6],
  ["redis", "sentinel", 5],
  ["redis", "sentinel", 6],
  ...(VALKEY_ENABLED
    ? ([
        ["valkey", "standalone", 6],
        ["valkey", "cluster", 6],
      ] as const)
    : []),
];
