/** Picks the driver for a client, from the client object itself. */
import type { Driver } from "./driver.js";
import { isNodeRedis, NodeRedisDriver } from "./node-redis.js";

export type { Driver, Topology } from "./driver.js";

/** What the `client` option accepts, as the error for anything else lists it. */
export const SUPPORTED_CLIENTS = "a connected node-redis 5/6 client from createClient(), createCluster() or createSentinel()";

/** Is `client` a client object one of the drivers knows? */
export function isSupportedClient(client: unknown): boolean {
  return isNodeRedis(client);
}

/** The driver for `client`, or undefined when it is no client we know. */
export function driverFor(client: unknown, commandTimeout: number): Driver | undefined {
  if (isNodeRedis(client)) return new NodeRedisDriver(client, commandTimeout);
  return undefined;
}
