/**
 * Private Cluster (3 masters + 3 replicas, Redis or Valkey) and Sentinel (1 master + 1 replica + 3
 * sentinels, Redis) topologies for tests, on free ports, built on ./redis-server. Readiness is always polled from the
 * servers' own view (CLUSTER INFO / CLUSTER NODES / SENTINEL / INFO replication), never slept.
 * stop() kills every process and removes every temp folder, also after a failed start.
 */
import { execFile } from "node:child_process";
import { type RedisServer, removeDir, type ServerKind, serverCommand, startRedis, waitFor } from "./redis-server";

const HOST = "127.0.0.1";

/**
 * Runs one command with redis-cli against a port we started and resolves with its whole text
 * reply (rawCommand only gives the first line). Rejects on a connection error or a timeout.
 */
export function cli(port: number, args: readonly string[], timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("redis-cli", ["-h", HOST, "-p", String(port), ...args], { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli -p ${port} ${args.join(" ")}: ${error.message} ${stderr}`.trim()));
      // redis-cli prints connection failures on stdout/stderr but may exit 0.
      else if (/^Could not connect|Connection refused/m.test(stdout + stderr))
        reject(new Error(`redis-cli -p ${port}: ${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** "field:value" lines of INFO / CLUSTER INFO as a map. */
export function parseInfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) map.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return map;
}

/* ------------------------------------------------------------------------------------------------
 * Cluster
 * ---------------------------------------------------------------------------------------------- */

export interface ClusterNode {
  readonly port: number;
  readonly url: string;
  /** The node's id in the cluster (CLUSTER MYID). */
  readonly id: string;
  /** Role as last seen by the helper (refreshed by waitHealthy(), killMaster() and refreshRoles()). */
  role: "master" | "replica";
  /** True while the process runs. */
  readonly running: boolean;
  /** Stops the process (SIGKILL when `hard`); it stays a cluster member and may come back. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port with its nodes.conf: it rejoins the cluster (as a replica if it was failed over). */
  start(): Promise<void>;
}

export interface KillTarget {
  /** The master serving this slot. */
  slot?: number;
  /** The master serving this key's slot. */
  key?: string;
  /** This master. */
  port?: number;
}

export interface KilledMaster {
  killed: ClusterNode;
  /** Its replica at the time of the kill: the node expected to be promoted. */
  replica: ClusterNode;
  /** Slot ranges the killed master served, e.g. [[0, 5460]]. */
  slots: Array<[number, number]>;
  /** Date.now() at the SIGKILL. */
  killedAt: number;
}

export interface TestCluster {
  readonly rootNodes: Array<{ url: string }>;
  readonly nodes: ClusterNode[];
  readonly masters: ClusterNode[];
  readonly replicas: ClusterNode[];
  /**
   * SIGKILLs a master (default: the one serving slot 0; a number below 16384 is a slot, above a
   * port) and returns at once, so a test can watch the outage. Use awaitFailover() to wait for
   * the promotion.
   */
  killMaster(target?: number | KillTarget): Promise<KilledMaster>;
  /** Polls until `killed.replica` is a master, every slot is served by a running master, and all running nodes say cluster_state:ok. Resolves with ms since the kill. */
  awaitFailover(killed: KilledMaster, timeoutMs?: number): Promise<number>;
  /** Polls until every running node reports a healthy cluster with all slots served by running masters. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Re-reads every node's role from the cluster. */
  refreshRoles(): Promise<void>;
  /** The running master serving `slot` according to the cluster. */
  masterOfSlot(slot: number): Promise<ClusterNode>;
  /** Kills every node and removes the temp folders. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** cluster-node-timeout in ms (failure detection time). Default 1000. */
  nodeTimeout?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** Which server the nodes run (default "redis"); the cluster is created with that server's own CLI. */
  server?: ServerKind;
}

interface NodesLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | null;
  linkState: string;
  slots: Array<[number, number]>;
}

/** Parses CLUSTER NODES. */
export function parseClusterNodes(text: string): NodesLine[] {
  const lines: NodesLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const parts = line.split(" ");
    const address = parts[1] ?? "";
    const port = Number(address.split("@")[0]?.split(":").pop());
    const slots: Array<[number, number]> = [];
    for (const part of parts.slice(8)) {
      if (part.startsWith("[")) continue; // importing / migrating
      const [from, to] = part.split("-");
      slots.push([Number(from), Number(to ?? from)]);
    }
    lines.push({
      id: parts[0] ?? "",
      port,
      flags: (parts[2] ?? "").split(","),
      masterId: parts[3] && parts[3] !== "-" ? parts[3] : null,
      linkState: parts[7] ?? "",
      slots,
    });
  }
  return lines;
}

/** The servers of one test topology, and a stop that kills and removes them all, once. */
function serverGroup(): { servers: RedisServer[]; stopAll: () => Promise<void> } {
  const servers: RedisServer[] = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(servers.map((server) => server.stop(true).catch(() => undefined)));
    for (const server of servers) removeDir(server);
  };
  return { servers, stopAll };
}

/** Ports must be free together with their bus port (port + 10000): startRedis({ withBus }) does that. */
async function startNode(args: string[], server: ServerKind): Promise<RedisServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await startRedis({ withBus: true, args, server });
    } catch (error) {
      lastError = error; // a port taken between the probe and the start (parallel jest workers)
    }
  }
  throw lastError;
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const nodeTimeout = options.nodeTimeout ?? 1000;
  const args = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf", // relative to --dir, the node's own temp folder
    "--cluster-node-timeout",
    String(nodeTimeout),
    // Always let a replica take over, however long its link was down (repeated failovers in one run).
    "--cluster-replica-validity-factor",
    "0",
    "--cluster-require-full-coverage",
    "yes",
    // Replicas sync at once (the default waits 5 s for more replicas before a diskless transfer).
    "--repl-diskless-sync-delay",
    "0",
    ...(options.args ?? []),
  ];
  const { servers, stopAll } = serverGroup();

  try {
    // One at a time: a started node holds its ports, so the next probe cannot pick them again.
    const kind = options.server ?? "redis";
    for (let i = 0; i < 6; i++) servers.push(await startNode(args, kind));

    const { cli: createWith, env } = serverCommand(kind);
    await new Promise<void>((resolve, reject) => {
      execFile(
        createWith,
        ["--cluster", "create", ...servers.map((s) => `${HOST}:${s.port}`), "--cluster-replicas", "1", "--cluster-yes"],
        { timeout: 30000, encoding: "utf8", env },
        (error, stdout, stderr) => {
          if (error || !/All 16384 slots covered/.test(stdout)) {
            reject(new Error(`${createWith} --cluster create failed: ${error?.message ?? ""}\n${stdout}\n${stderr}`));
          } else resolve();
        },
      );
    });

    const ids = await Promise.all(servers.map(async (s) => (await cli(s.port, ["CLUSTER", "MYID"])).trim()));
    const nodes: ClusterNode[] = servers.map((server, i) => {
      const node: ClusterNode = {
        port: server.port,
        url: server.url,
        id: ids[i] as string,
        role: "master",
        get running() {
          return server.running;
        },
        stop: (hard?: boolean) => server.stop(hard),
        start: () => server.start(),
      };
      return node;
    });
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const byPort = new Map(nodes.map((n) => [n.port, n]));

    const runningNodes = () => nodes.filter((n) => n.running);

    /** The cluster's view from every running node; throws unless they all agree it is healthy. */
    const healthyView = async (): Promise<NodesLine[]> => {
      const running = runningNodes();
      let view: NodesLine[] | undefined;
      let owners: string | undefined;
      for (const node of running) {
        const info = parseInfo(await cli(node.port, ["CLUSTER", "INFO"]));
        if (info.get("cluster_state") !== "ok") throw new Error(`${node.port}: cluster_state ${info.get("cluster_state")}`);
        if (info.get("cluster_slots_ok") !== "16384") throw new Error(`${node.port}: slots_ok ${info.get("cluster_slots_ok")}`);
        if (info.get("cluster_known_nodes") !== "6") throw new Error(`${node.port}: known_nodes ${info.get("cluster_known_nodes")}`);
        const lines = parseClusterNodes(await cli(node.port, ["CLUSTER", "NODES"]));
        const masters = lines.filter((l) => l.flags.includes("master") && l.slots.length > 0);
        let covered = 0;
        for (const m of masters) {
          if (m.flags.some((f) => f === "fail" || f === "fail?")) throw new Error(`${node.port} sees master ${m.port} failing`);
          if (!byPort.get(m.port)?.running) throw new Error(`${node.port} still routes to stopped ${m.port}`);
          for (const [a, b] of m.slots) covered += b - a + 1;
        }
        if (covered !== 16384) throw new Error(`${node.port}: ${covered} slots covered`);
        // Every running node must agree on who serves what (clients may ask any of them).
        const signature = masters
          .map((m) => `${m.port}:${m.slots.map((r) => r.join("-")).join(",")}`)
          .sort()
          .join(" ");
        if (owners !== undefined && owners !== signature) throw new Error(`nodes disagree on slot owners`);
        owners = signature;
        view ??= lines;
      }
      return view ?? [];
    };

    const applyRoles = (lines: NodesLine[]) => {
      for (const line of lines) {
        const node = byId.get(line.id);
        if (node) node.role = line.flags.includes("master") ? "master" : "replica";
      }
    };

    /** Every running replica has its replication link up. */
    const replicasLinked = async (lines: NodesLine[]) => {
      for (const line of lines) {
        const node = byId.get(line.id);
        if (!node?.running || !line.flags.includes("slave")) continue;
        const info = parseInfo(await cli(node.port, ["INFO", "replication"]));
        if (info.get("master_link_status") !== "up") throw new Error(`replica ${node.port} link ${info.get("master_link_status")}`);
        const master = line.masterId ? byId.get(line.masterId) : undefined;
        if (!master?.running) continue; // its master is dead; the cluster will fail over
      }
      return true;
    };

    const waitHealthy = async (timeoutMs = 20000) => {
      let lastError = "";
      await waitFor(
        async () => {
          try {
            const view = await healthyView();
            await replicasLinked(view);
            applyRoles(view);
            return true;
          } catch (error) {
            lastError = (error as Error).message;
            return false;
          }
        },
        timeoutMs,
        "a healthy cluster",
      ).catch((error: Error) => {
        throw new Error(`${error.message} (last: ${lastError})`);
      });
    };

    // Initial readiness: all 6 up, 3 masters with slots, 3 replicas each attached to a master.
    let initialError = "";
    await waitFor(
      async () => {
        try {
          const view = await healthyView();
          const masters = view.filter((l) => l.flags.includes("master") && l.slots.length > 0);
          const replicas = view.filter((l) => l.flags.includes("slave"));
          if (masters.length !== 3) throw new Error(`${masters.length} masters`);
          if (replicas.length !== 3) throw new Error(`${replicas.length} replicas`);
          for (const master of masters) {
            if (!replicas.some((r) => r.masterId === master.id)) throw new Error(`master ${master.port} has no replica`);
          }
          await replicasLinked(view);
          applyRoles(view);
          return true;
        } catch (error) {
          initialError = (error as Error).message;
          return false;
        }
      },
      30000,
      "the cluster to form",
    ).catch((error: Error) => {
      throw new Error(`${error.message} (last: ${initialError})`);
    });

    const currentView = async (): Promise<NodesLine[]> => {
      for (const node of runningNodes()) {
        try {
          return parseClusterNodes(await cli(node.port, ["CLUSTER", "NODES"]));
        } catch {
          // try the next one
        }
      }
      throw new Error("no cluster node answers");
    };

    const refreshRoles = async () => applyRoles(await currentView());

    const masterOfSlot = async (slot: number): Promise<ClusterNode> => {
      const view = await currentView();
      const line = view.find(
        (l) => l.flags.includes("master") && !l.flags.includes("fail") && l.slots.some(([a, b]) => slot >= a && slot <= b),
      );
      const node = line ? byId.get(line.id) : undefined;
      if (!node) throw new Error(`no master serves slot ${slot}`);
      return node;
    };

    const killMaster = async (target: number | KillTarget = { slot: 0 }): Promise<KilledMaster> => {
      const t: KillTarget = typeof target === "number" ? (target < 16384 ? { slot: target } : { port: target }) : target;
      let master: ClusterNode | undefined;
      if (t.port !== undefined) master = byPort.get(t.port);
      else if (t.key !== undefined) {
        const slot = Number((await cli(nodes[0]?.port ?? 0, ["CLUSTER", "KEYSLOT", t.key])).trim());
        master = await masterOfSlot(slot);
      } else master = await masterOfSlot(t.slot ?? 0);
      if (!master) throw new Error(`no such master: ${JSON.stringify(t)}`);
      const view = await currentView();
      const own = view.find((l) => l.id === master?.id);
      if (!own?.flags.includes("master")) throw new Error(`node ${master.port} is not a master`);
      const replicaLine = view.find((l) => l.masterId === master?.id && l.flags.includes("slave") && byId.get(l.id)?.running);
      const replica = replicaLine ? byId.get(replicaLine.id) : undefined;
      if (!replica) throw new Error(`master ${master.port} has no running replica: failover impossible`);
      const killedAt = Date.now();
      await master.stop(true);
      return { killed: master, replica, slots: own.slots, killedAt };
    };

    const awaitFailover = async (killed: KilledMaster, timeoutMs = 20000): Promise<number> => {
      await waitFor(
        async () => {
          const info = parseInfo(await cli(killed.replica.port, ["INFO", "replication"]));
          return info.get("role") === "master";
        },
        timeoutMs,
        `replica ${killed.replica.port} to be promoted`,
      );
      const promotedAfter = Date.now() - killed.killedAt;
      await waitHealthy(timeoutMs);
      return promotedAfter;
    };

    const masters = nodes.filter((n) => n.role === "master");
    const replicas = nodes.filter((n) => n.role === "replica");
    return {
      rootNodes: nodes.map((n) => ({ url: n.url })),
      nodes,
      masters,
      replicas,
      killMaster,
      awaitFailover,
      waitHealthy,
      refreshRoles,
      masterOfSlot,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/* ------------------------------------------------------------------------------------------------
 * Sentinel
 * ---------------------------------------------------------------------------------------------- */

export interface TestSentinel {
  /** The monitored master's name (createSentinel({ name })). */
  readonly name: string;
  readonly sentinelRootNodes: Array<{ host: string; port: number }>;
  /** The current master / replica (swapped after a failover is awaited). */
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinels: RedisServer[];
  /** SIGKILLs the current master and returns at once (Date.now() of the kill). */
  killMaster(): Promise<{ killed: RedisServer; killedAt: number }>;
  /**
   * Polls until every sentinel names the old replica as master and it reports role:master.
   * Resolves with ms since the kill. Then `master` and `replica` are swapped; the killed server is
   * not restarted (restartOld: true restarts it and waits until it is linked as the new replica).
   */
  awaitFailover(killed: { killed: RedisServer; killedAt: number }, options?: { timeoutMs?: number; restartOld?: boolean }): Promise<number>;
  /** Kills everything and removes the temp folders. Safe to call twice. */
  stop(): Promise<void>;
}

export interface SentinelOptions {
  name?: string;
  /** down-after-milliseconds. Default 1000. */
  downAfter?: number;
  /** failover-timeout in ms. Default 3000. */
  failoverTimeout?: number;
}

export async function startSentinel(options: SentinelOptions = {}): Promise<TestSentinel> {
  const name = options.name ?? "rss-master";
  const downAfter = options.downAfter ?? 1000;
  const failoverTimeout = options.failoverTimeout ?? 3000;
  const { servers, stopAll } = serverGroup();

  try {
    // Replicas sync at once (the default waits 5 s for more replicas before a diskless transfer).
    const nodeArgs = ["--repl-diskless-sync-delay", "0"];
    let master = await startRedis({ args: nodeArgs });
    servers.push(master);
    let replica = await startRedis({ args: [...nodeArgs, "--replicaof", HOST, String(master.port)] });
    servers.push(replica);

    const config = [
      `sentinel monitor ${name} ${HOST} ${master.port} 2`,
      `sentinel down-after-milliseconds ${name} ${downAfter}`,
      `sentinel failover-timeout ${name} ${failoverTimeout}`,
      `sentinel parallel-syncs ${name} 1`,
      "",
    ].join("\n");
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await startRedis({ config, args: ["--sentinel"] });
      servers.push(sentinel);
      sentinels.push(sentinel);
    }

    const masterAddr = async (sentinel: RedisServer) =>
      (await cli(sentinel.port, ["SENTINEL", "get-master-addr-by-name", name])).trim().split(/\r?\n/);

    /** A sentinel's view: the master's port, how many replicas it sees up, how many other sentinels. */
    const sentinelView = async (sentinel: RedisServer) => {
      const [host, port] = await masterAddr(sentinel);
      // SENTINEL MASTER replies field and value on alternate lines.
      const lines = (await cli(sentinel.port, ["SENTINEL", "MASTER", name])).trim().split(/\r?\n/);
      const masterInfo = new Map<string, string>();
      for (let i = 0; i + 1 < lines.length; i += 2) masterInfo.set(lines[i] as string, lines[i + 1] as string);
      return {
        host,
        port: Number(port),
        replicas: Number(masterInfo.get("num-slaves")),
        otherSentinels: Number(masterInfo.get("num-other-sentinels")),
        flags: masterInfo.get("flags") ?? "",
      };
    };

    /** The replica's own view: linked to the master with the given port. */
    const linked = async (server: RedisServer, masterPort: number) => {
      const info = parseInfo(await cli(server.port, ["INFO", "replication"]));
      return info.get("role") === "slave" && info.get("master_port") === String(masterPort) && info.get("master_link_status") === "up";
    };

    const waitReady = async (timeoutMs: number) => {
      let last = "";
      await waitFor(
        async () => {
          if (!(await linked(replica, master.port))) {
            last = `replica ${replica.port} not linked to ${master.port}`;
            return false;
          }
          for (const sentinel of sentinels) {
            const view = await sentinelView(sentinel);
            last = `sentinel ${sentinel.port}: ${JSON.stringify(view)}`;
            // Sentinels find each other through hello messages (every 2 s): a failover needs 2 votes.
            if (view.port !== master.port || view.replicas < 1 || view.otherSentinels < 2 || view.flags !== "master") return false;
          }
          return true;
        },
        timeoutMs,
        "sentinels to agree on the master, its replica and each other",
      ).catch((error: Error) => {
        throw new Error(`${error.message} (last: ${last})`);
      });
    };
    await waitReady(20000);

    const result: TestSentinel = {
      name,
      sentinelRootNodes: sentinels.map((s) => ({ host: HOST, port: s.port })),
      get master() {
        return master;
      },
      get replica() {
        return replica;
      },
      sentinels,
      killMaster: async () => {
        const killed = master;
        const killedAt = Date.now();
        await killed.stop(true);
        return { killed, killedAt };
      },
      awaitFailover: async (killed, { timeoutMs = 20000, restartOld = false } = {}) => {
        const promoted = killed.killed === master ? replica : master;
        let last = "";
        await waitFor(
          async () => {
            for (const sentinel of sentinels) {
              const view = await sentinelView(sentinel).catch((error: Error) => error.message);
              last = `sentinel ${sentinel.port}: ${JSON.stringify(view)}`;
              if (typeof view === "string" || view.port !== promoted.port) return false;
            }
            const role = parseInfo(await cli(promoted.port, ["INFO", "replication"])).get("role");
            last = `${promoted.port} role ${role}`;
            return role === "master";
          },
          timeoutMs,
          `sentinels to promote ${promoted.port}`,
        ).catch((error: Error) => {
          throw new Error(`${error.message} (last: ${last})`);
        });
        const elapsed = Date.now() - killed.killedAt;
        master = promoted;
        replica = killed.killed;
        if (restartOld) {
          await replica.start();
          // Sentinel reconfigures the returning old master as a replica of the new one.
          await waitReady(timeoutMs);
        }
        return elapsed;
      },
      stop: stopAll,
    };
    return result;
  } catch (error) {
    await stopAll();
    throw error;
  }
}
