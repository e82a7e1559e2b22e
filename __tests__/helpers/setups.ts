/**
 * One suite body over several client × topology setups: the setups a file runs (`setups()`, for
 * `describe.each`), and the servers its describe blocks share (`useServers()`): one standalone
 * Redis, one Cluster and one Sentinel at most per file, each started once, and only when a setup
 * names its topology.
 */
import { afterAll, beforeAll } from "@jest/globals";
import type { ClientName, Target, TopologyName } from "./clients";
import { startCluster, startSentinel, type TestCluster, type TestSentinel } from "./cluster";
import { type RedisServer, removeDir, startRedis, testRedis } from "./redis-server";

/** Every client the store supports, in its default reply mode. */
export const CLIENTS: readonly ClientName[] = ["node-redis 5", "node-redis 6", "ioredis 5", "ioredis 6", "iovalkey"];
/** The ioredis family: clients that keep an offline queue and re-send after a reconnect. */
export const IOREDIS_FAMILY: readonly ClientName[] = ["ioredis 5", "ioredis 6", "iovalkey"];

/** A describe.each row: "ioredis 6, cluster", the client, the topology. */
export type Setup = readonly [label: string, client: ClientName, topology: TopologyName];

/** The setups of a file: for each topology, the clients that run on it. */
export function setups(byTopology: Partial<Record<TopologyName, readonly ClientName[]>>): Setup[] {
  const rows: Setup[] = [];
  for (const [topology, clients] of Object.entries(byTopology) as [TopologyName, readonly ClientName[]][]) {
    for (const client of clients) rows.push([`${client}, ${topology}`, client, topology]);
  }
  return rows;
}

/** A short, key-safe name of a setup, for prefixes: "ioredis6-cluster". */
export function tagOf(client: ClientName, topology: TopologyName): string {
  return `${client.replace(/ /g, "")}-${topology}`;
}

export interface Servers {
  /** Where a client of `topology` connects. */
  target(topology: TopologyName): Target;
  /** The standalone server, when the file started one itself (not REDIS_URL). */
  readonly standalone: RedisServer | undefined;
  readonly cluster: TestCluster | undefined;
  readonly sentinel: TestSentinel | undefined;
}

/**
 * Starts, in the file's beforeAll, the topologies `list` names (all at once) and stops them in
 * afterAll. The standalone server is REDIS_URL when set, unless `privateStandalone` (a file that
 * inspects every key of its server).
 */
export function useServers(list: readonly Setup[], options: { privateStandalone?: boolean } = {}): Servers {
  const wanted = new Set(list.map(([, , topology]) => topology));
  let standaloneUrl: string | undefined;
  let standalone: RedisServer | undefined;
  let closeShared: (() => Promise<void>) | undefined;
  let cluster: TestCluster | undefined;
  let sentinel: TestSentinel | undefined;

  beforeAll(async () => {
    const starts: Promise<unknown>[] = [];
    if (wanted.has("standalone")) {
      starts.push(
        options.privateStandalone
          ? startRedis().then((server) => {
              standalone = server;
              standaloneUrl = server.url;
            })
          : testRedis().then((redis) => {
              closeShared = redis.close;
              standaloneUrl = redis.url;
            }),
      );
    }
    if (wanted.has("cluster"))
      starts.push(
        startCluster().then((started) => {
          cluster = started;
        }),
      );
    if (wanted.has("sentinel"))
      starts.push(
        startSentinel().then((started) => {
          sentinel = started;
        }),
      );
    // If one fails, the others are still stopped in afterAll.
    for (const result of await Promise.allSettled(starts)) if (result.status === "rejected") throw result.reason;
  }, 60000);

  afterAll(async () => {
    await Promise.all([
      closeShared?.(),
      standalone?.stop().then(() => standalone && removeDir(standalone)),
      cluster?.stop(),
      sentinel?.stop(),
    ]);
  }, 30000);

  return {
    target(topology) {
      if (topology === "standalone") return { url: standaloneUrl as string };
      if (topology === "cluster") return cluster as TestCluster;
      return sentinel as TestSentinel;
    },
    get standalone() {
      return standalone;
    },
    get cluster() {
      return cluster;
    },
    get sentinel() {
      return sentinel;
    },
  };
}
