/**
 * node-redis's cluster client as the cluster scan sees it: `masters`, `slots` and `nodeClient()`.
 * Used by the node-redis driver only.
 */

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
