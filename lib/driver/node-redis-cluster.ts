/**
 * node-redis's cluster client as the cluster scan sees it: `masters`, `slots` and `nodeClient()`.
 * Used by the node-redis driver only.
 */

import { slotTagOf } from "../keys.js";
import type { ClusterNodes } from "./cluster-scan.js";
import type { Args } from "./driver.js";

export interface NodeClient {
  sendCommand(args: Args): Promise<unknown>;
  isReady?: boolean;
}

export interface ClusterClient {
  sendCommand(firstKey: string | undefined, isReadonly: boolean, args: Args): Promise<unknown>;
  masters: unknown[];
  nodeClient(node: unknown): Promise<NodeClient> | NodeClient;
  isOpen?: boolean;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * The key node-redis is given to route a command for `key`. node-redis 5 finds slots with
 * cluster-key-slot, which hashes a key whose first hash tag is empty ("a{}b{c}") by the next tag
 * ("b{c"), where Redis hashes the whole key: the command goes to the wrong master, and node-redis
 * follows the MOVED reply by the same wrong slot until it gives up with MOVED. Such a key is routed
 * by a hash tag of its real slot instead (node-redis 6 carries a fixed copy; the reroute is harmless there).
 */
export function routingKey(key: string | undefined): string | undefined {
  if (key === undefined) return key;
  const open = key.indexOf("{");
  return open !== -1 && key.charCodeAt(open + 1) === 0x7d ? slotTagOf(key) : key;
}

function addressOf(master: unknown): string {
  const node = master as { address?: string; host?: string; port?: number };
  return node.address ?? `${node.host}:${node.port}`;
}

export function nodeRedisNodes(cluster: ClusterClient): ClusterNodes {
  return {
    masters: () => cluster.masters,
    addressOf,
    connect: async (master) => {
      const node = await cluster.nodeClient(master);
      return {
        send: (args) => node.sendCommand(args),
        get ready() {
          return node.isReady !== false;
        },
      };
    },
    // While node-redis rediscovers, its slot map is briefly empty: that is not "every slot scanned".
    coversAllSlots: (finished) => {
      const slots = (cluster as { slots?: ({ master?: unknown } | undefined)[] }).slots;
      if (!Array.isArray(slots) || slots.length < 16384) return false;
      for (const shard of slots) if (!shard?.master || !finished.has(addressOf(shard.master))) return false;
      return true;
    },
    find: (id) => cluster.masters.find((node) => (node as { id?: string }).id === id),
  };
}
