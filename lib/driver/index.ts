/** Picks the driver for a client, from the client object itself. */
import type { Driver } from "./driver.js";
import { IoredisDriver, ioredisProblem, isIoredis } from "./ioredis.js";
import { isNodeRedis, NodeRedisDriver } from "./node-redis.js";

export type { Driver, Topology } from "./driver.js";

/** What the `client` option accepts, as the error for anything else lists it. */
export const SUPPORTED_CLIENTS =
  "a connected node-redis 5/6 client (createClient(), createCluster() or createSentinel()), or an ioredis 5/6 or iovalkey client (new Redis(), new Redis.Cluster(), new Redis({ sentinels, name }), new Valkey(), new Valkey.Cluster())";

/** Is `client` a client object one of the drivers knows? */
export function isSupportedClient(client: unknown): boolean {
  return isIoredis(client) || isNodeRedis(client);
}

/** Why a client the drivers know cannot serve the store (as "must be ..., got ..."), or undefined when it can. */
export function clientProblem(client: unknown): string | undefined {
  return isIoredis(client) ? ioredisProblem(client) : undefined;
}

/** The driver for `client`, or undefined when it is no client we know. */
export function driverFor(client: unknown, commandTimeout: number): Driver | undefined {
  // ioredis first: it too has a sendCommand(), which node-redis's test looks at.
  if (isIoredis(client)) return new IoredisDriver(client, commandTimeout);
  if (isNodeRedis(client)) return new NodeRedisDriver(client, commandTimeout);
  return undefined;
}
