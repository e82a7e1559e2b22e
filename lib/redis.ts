/**
 * The only module that talks to the node-redis client: topology detection, script calls, scans
 * and per-slot batches, readiness. Everything goes through `sendCommand`, whose shape differs per
 * topology, so the rest of the store sees one interface for standalone, Cluster and Sentinel.
 */
import { createHash } from "node:crypto";
import { RedisUnavailableError } from "./errors.js";
import { keySlot } from "./keys.js";
import { SCAN_STEPS } from "./scripts.js";

export type Topology = "standalone" | "cluster" | "sentinel";

type Args = readonly string[];
type CommandOptions = { timeout?: number };

interface StandaloneClient {
  sendCommand(args: Args, options?: CommandOptions): Promise<unknown>;
  isReady?: boolean;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}
interface ClusterClient {
  sendCommand(firstKey: string | undefined, isReadonly: boolean, args: Args, options?: CommandOptions): Promise<unknown>;
  masters: unknown[];
  nodeClient(node: unknown): Promise<StandaloneClient> | StandaloneClient;
  isOpen?: boolean;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}
interface SentinelClient {
  sendCommand(isReadonly: boolean, args: Args, options?: CommandOptions): Promise<unknown>;
  isReady?: boolean;
  acquire(): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** A Lua script run by SHA, falling back to EVAL (which also caches it) only on NOSCRIPT. */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }
}

/** Lua false/nil reaches us as null on RESP2 and as false on RESP3 (node-redis 6's default). */
export function isNil(value: unknown): value is null | undefined | false {
  return value === null || value === undefined || value === false;
}

export function topologyOf(client: unknown): Topology {
  const c = client as Record<string, unknown>;
  if (Array.isArray(c.masters) && typeof c.nodeClient === "function") return "cluster";
  // RedisSentinel leases clients with acquire(); its sendCommand takes (isReadonly, args, options).
  if (typeof c.acquire === "function") return "sentinel";
  return "standalone";
}

/** Readiness callbacks of the stores that use one client; one set of listeners per client. */
interface ReadinessWatcher {
  stores: Set<WeakRef<ReadinessTarget>>;
}
export interface ReadinessTarget {
  onRedisReady(): void;
  onRedisDown(): void;
}
const watchers = new WeakMap<object, ReadinessWatcher>();

/**
 * On a single Redis a SCAN runs on the server in stretches of about this many keys' worth of
 * SCAN calls (10 calls of the default scanCount, 100) per round trip: see SCAN_STEPS.
 */
const SCAN_BUDGET = 1000;
const SCAN = new Script(SCAN_STEPS);

export class RedisGateway {
  readonly topology: Topology;
  readonly #client: unknown;
  readonly #deadlines: Deadlines | undefined;

  constructor(client: unknown, commandTimeout: number) {
    this.#client = client;
    this.topology = topologyOf(client);
    this.#deadlines = commandTimeout > 0 ? new Deadlines(commandTimeout) : undefined;
  }

  /** False while the client is known to be disconnected; calls then fail at once. */
  get ready(): boolean {
    const c = this.#client as { isReady?: boolean; isOpen?: boolean };
    if (this.topology === "cluster") return c.isOpen !== false;
    return c.isReady !== false;
  }

  /**
   * Sends one command. `key` routes it on Cluster; `readonly` lets Sentinel and Cluster pick a
   * replica only where the caller allows it (we never do: sessions must read their own writes).
   */
  command<T = unknown>(key: string | undefined, args: Args): Promise<T>;
  /** With `map`: the reply goes through it inside the same promise (one promise less on the hot path). */
  command<T, R>(key: string | undefined, args: Args, map: (reply: T) => R | Promise<R>): Promise<R>;
  command<T, R>(key: string | undefined, args: Args, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    if (!this.ready)
      return Promise.reject(new RedisUnavailableError("redis-session-store: Redis is not reachable (the client is not ready)"));
    let sent: Promise<unknown>;
    try {
      switch (this.topology) {
        case "cluster":
          sent = (this.#client as ClusterClient).sendCommand(key, false, args);
          break;
        case "sentinel":
          sent = (this.#client as SentinelClient).sendCommand(false, args);
          break;
        default:
          sent = (this.#client as StandaloneClient).sendCommand(args);
      }
    } catch (error) {
      return Promise.reject(translate(error));
    }
    const answer = this.#answer(sent as Promise<T>, map);
    if (this.topology !== "cluster") return answer;
    return answer.catch((error: unknown) => {
      // translate() has already turned lost connections and CLUSTERDOWN into RedisUnavailableError.
      if (error instanceof RedisUnavailableError) {
        void this.#heal();
      }
      throw error;
    });
  }

  /** Runs a script by SHA; on NOSCRIPT (a new node, a flushed cache) sends the source once. */
  script<T = unknown>(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
    const command = ["EVALSHA", script.sha, String(keys.length)];
    for (const key of keys) command.push(key);
    for (const arg of args) command.push(typeof arg === "string" ? arg : String(arg));
    return this.command<T>(keys[0], command).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      command[0] = "EVAL";
      command[1] = script.source;
      return this.command<T>(keys[0], command);
    });
  }

  /**
   * Groups keys by cluster slot, so every multi-key command stays on one slot. On a single Redis
   * (standalone or Sentinel) every key is on the one node: one group.
   */
  groupBySlot<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
    if (this.topology !== "cluster") return items.length ? [items.slice()] : [];
    const groups = new Map<number, T[]>();
    for (const item of items) {
      const slot = keySlot(keyOf(item));
      const group = groups.get(slot);
      if (group) group.push(item);
      else groups.set(slot, [item]);
    }
    return [...groups.values()];
  }

  /**
   * SCANs every master (all at once on Cluster) for keys matching `pattern`, yielding batches of
   * about `count` keys. The next SCAN of a node is already in flight while its batch is used.
   * With `stretch`, on a single Redis, a batch is one SCAN_STEPS call: about SCAN_BUDGET keys.
   * A key may be yielded twice if Redis rehashes or a slot moves during the scan (SCAN's guarantee).
   *
   * On Cluster a node that fails mid-scan (failover, restart) does not fail the scan: the client's
   * topology is refreshed and every master not yet fully scanned is scanned again, for up to
   * `recoveryMs`; only then does the error reach the caller. Slots that migrate between masters
   * during the scan (a reshard) are scanned again where they now live: see #rescanMovedSlots.
   */
  async *scan(pattern: string, count: number, prefix: string, stretch = false): AsyncGenerator<string[]> {
    if (this.topology !== "cluster") {
      if (!this.ready) throw unavailable();
      yield* scanNode(
        stretch
          ? (cursor) => this.#scanSteps(cursor, pattern, count, "keys", prefix) as Promise<[string, string[]]>
          : (cursor) => this.command(undefined, ["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)]),
      );
      return;
    }
    // Without a layout to compare (CLUSTER NODES refused, no master answering), the scan is SCAN's
    // best: slots that move during it may lose keys.
    const layout = await this.#layout().catch(() => undefined);
    yield* this.#scanEveryMaster(pattern, count);
    if (layout) yield* this.#rescanMovedSlots(pattern, count, layout);
  }

  /**
   * On a single Redis: counts ("count") or UNLINKs ("unlink") every key matching `pattern` that
   * starts with `prefix`, without sending the keys to us. One SCAN, run on the server a stretch at a
   * time (see SCAN_STEPS). Returns how many keys were counted or unlinked.
   */
  async sweep(pattern: string, count: number, prefix: string, mode: "count" | "unlink"): Promise<number> {
    if (this.topology === "cluster") throw new Error("redis-session-store: sweep() is for a single Redis");
    let total = 0;
    let cursor = "0";
    do {
      const [next, n] = (await this.#scanSteps(cursor, pattern, count, mode, prefix)) as [string, number];
      cursor = String(next);
      total += Number(n);
    } while (cursor !== "0");
    return total;
  }

  /** One SCAN_STEPS call: about SCAN_BUDGET keys' worth of SCAN calls of `count`, in one round trip. */
  #scanSteps(cursor: string, pattern: string, count: number, mode: "keys" | "count" | "unlink", prefix: string): Promise<unknown> {
    const steps = Math.max(1, Math.ceil(SCAN_BUDGET / count));
    return this.script(SCAN, [], [cursor, pattern, count, steps, mode, prefix]);
  }

  async *#scanEveryMaster(pattern: string, count: number): AsyncGenerator<string[]> {
    const cluster = this.#client as ClusterClient;
    const finished = new Set<string>();
    // The recovery window opens at the first failure, not at the start: a long scan is not cut short.
    let giveUpAt = Number.POSITIVE_INFINITY;
    for (;;) {
      // Done only when every slot's current master has been scanned to the end: while node-redis
      // rediscovers, its slot map is briefly empty, and an empty list of masters is not "all done".
      if (coversAllSlots(cluster, finished)) return;
      const targets = cluster.masters.filter((master) => !finished.has(addressOf(master)));
      if (!targets.length) {
        giveUpAt = Math.min(giveUpAt, Date.now() + this.recoveryMs);
        if (Date.now() > giveUpAt)
          throw new RedisUnavailableError("redis-session-store: the cluster's slot map did not settle during the scan");
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      try {
        const iterators = targets.map((master) => this.#scanMaster(master, pattern, count, finished));
        yield* iterators.length === 1 ? (iterators[0] as AsyncGenerator<string[]>) : merge(iterators);
      } catch (error) {
        giveUpAt = Math.min(giveUpAt, Date.now() + this.recoveryMs);
        if (Date.now() > giveUpAt) throw error;
        await this.#heal(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** SCANs one master to the end; with `only`, yields just the keys of those slots. */
  async *#scanMaster(
    master: unknown,
    pattern: string,
    count: number,
    finished?: Set<string>,
    only?: ReadonlySet<number>,
  ): AsyncGenerator<string[]> {
    const send = await this.#nodeSender(master);
    const ask = (cursor: string) => send(["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)]) as Promise<[string, string[]]>;
    if (!only) yield* scanNode(ask);
    else
      for await (const keys of scanNode(ask)) {
        const wanted = keys.filter((key) => only.has(keySlot(key)));
        if (wanted.length) yield wanted;
      }
    finished?.add(addressOf(master));
  }

  /** Sends commands to one master's own connection, bounded and translated like any command. */
  async #nodeSender(master: unknown): Promise<(args: Args) => Promise<unknown>> {
    const cluster = this.#client as ClusterClient;
    // nodeClient() may wait for a connection to a node that is gone: bounded like a command.
    const node = await this.#bounded(Promise.resolve(cluster.nodeClient(master)));
    return (args: Args) => (node.isReady === false ? Promise.reject(unavailable()) : this.#answer(node.sendCommand(args)));
  }

  /**
   * Scans again the slots that moved while the scan before ran, until a scan runs with no slot of
   * its moving.
   *
   * A SCAN of one master only promises the keys that stay on it for the whole SCAN. During a reshard
   * a key can leave a master whose SCAN has not reached it yet for one whose SCAN is already past
   * it: neither returns it (in our reshard test, up to a fifth of the moved keys). So the masters' view of
   * the slots (CLUSTER NODES: who serves each slot, which are being migrated and how many keys they
   * still hold) is read before the scan and after it. Every slot whose owner, migration or key count
   * differs is scanned again on the masters serving or importing it now, keeping only its keys, and
   * compared again, until nothing moved. A slot that stayed put was scanned whole by its one master.
   * A replica promoted in a failover is not a move (it holds its master's keys; the failover itself
   * is handled by #scanEveryMaster). Keys of moved slots may be yielded twice.
   *
   * If slots are still moving `recoveryMs` after the first move was seen (a long reshard), the scan
   * ends with what it found rather than fail: only keys of slots moving at that point may be missed.
   */
  async *#rescanMovedSlots(pattern: string, count: number, start: SlotLayout): AsyncGenerator<string[]> {
    const cluster = this.#client as ClusterClient;
    let giveUpAt = Number.POSITIVE_INFINITY;
    /** Heals and waits after a lost node, or rethrows once the window has closed. */
    const recover = async (error: unknown) => {
      if (!(error instanceof RedisUnavailableError)) throw error;
      giveUpAt = Math.min(giveUpAt, Date.now() + this.recoveryMs);
      if (Date.now() > giveUpAt) throw error;
      await this.#heal(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
    };
    const layout = async (): Promise<SlotLayout> => {
      for (;;) {
        try {
          return await this.#layout();
        } catch (error) {
          await recover(error);
        }
      }
    };
    let before = start;
    let among: ReadonlySet<number> | undefined; // undefined: every slot, as the first scan covered
    for (;;) {
      let now = await layout();
      const moved = movedSlots(before, now, among);
      if (!moved.size) return;
      giveUpAt = Math.min(giveUpAt, Date.now() + this.recoveryMs);
      if (Date.now() > giveUpAt) return;
      for (;;) {
        try {
          const iterators = mastersFor(cluster, now, moved).map((master) => this.#scanMaster(master, pattern, count, undefined, moved));
          yield* iterators.length === 1 ? (iterators[0] as AsyncGenerator<string[]>) : merge(iterators);
          break;
        } catch (error) {
          // A node lost mid-way: every moved slot is scanned again, from a fresh layout.
          await recover(error);
          now = await layout();
        }
      }
      before = now;
      among = moved;
    }
  }

  /**
   * The masters' own view of the slots: CLUSTER NODES from every master the client knows, plus
   * COUNTKEYSINSLOT for each slot one of them is migrating or importing. Fails only if none answers.
   */
  async #layout(): Promise<SlotLayout> {
    const cluster = this.#client as ClusterClient;
    const views = await Promise.allSettled(
      cluster.masters.map(async (master): Promise<NodeView> => {
        const send = await this.#nodeSender(master);
        const lines = parseClusterNodes(String(await send(["CLUSTER", "NODES"])));
        const own = lines.find((line) => line.flags.includes("myself"));
        const keysLeft = await Promise.all(
          (own?.moving ?? []).map(async ([slot]) => Number(await send(["CLUSTER", "COUNTKEYSINSLOT", String(slot)]))),
        );
        return { lines, own, keysLeft };
      }),
    );
    const answered = views.flatMap((view) => (view.status === "fulfilled" ? [view.value] : []));
    if (!answered.length) throw (views[0] as PromiseRejectedResult | undefined)?.reason ?? unavailable();
    return layoutOf(answered);
  }

  /**
   * Runs one step of a bulk operation (a batch read or delete). On Cluster, a step that fails for
   * want of a node (failover, a client replaced by a topology refresh) is retried after a refresh
   * until the recovery window closes, as scans are; elsewhere, and for any other error, it fails.
   */
  async retry<T>(step: () => Promise<T>): Promise<T> {
    const giveUpAt = Date.now() + this.recoveryMs;
    for (;;) {
      try {
        return await step();
      } catch (error) {
        if (this.topology !== "cluster" || !(error instanceof RedisUnavailableError) || Date.now() > giveUpAt) throw error;
        await this.#heal(true);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** How long a cluster scan keeps retrying through a failover before it gives up. */
  get recoveryMs(): number {
    return Math.max(10_000, 5 * (this.#deadlines?.ms ?? 2000));
  }

  #lastHeal = 0;

  /**
   * node-redis 5's cluster client refreshes its slot map only on MOVED/ASK, so after a master dies
   * it keeps sending that master's slots to the dead node. When a call fails for want of a
   * connection we ask it to rediscover from a live master (at most once a second). node-redis 6
   * refreshes on its own; the call is harmless there.
   *
   * Sentinel gets no such heal, because none can work from here. node-redis 5's Sentinel client
   * can stop following the master for good: a rediscovery that runs while its master connection is
   * down, answered by a sentinel that has not yet seen the master die, reconnects to the dead
   * address and awaits that connection before it asks again; with a reconnectStrategy that never
   * gives up, forever. Every later rediscovery (scanInterval, +switch-master) and every command
   * awaits the same promise, and so do its close() and destroy(); the connection lives in the
   * client's private fields (node-redis #3061 and #3066; node-redis 6 fails that wait instead, PR
   * #3331). The remedy is the client's: node connections that give up (see the README).
   */
  async #heal(force = false): Promise<void> {
    if (this.topology !== "cluster") return;
    const now = Date.now();
    if (!force && now - this.#lastHeal < 1000) return;
    this.#lastHeal = now;
    const cluster = this.#client as ClusterClient & { _slots?: { rediscover?: (startWith: unknown) => Promise<void> } };
    const rediscover = cluster._slots?.rediscover;
    if (typeof rediscover !== "function") return;
    const live = cluster.masters
      .map((master) => (master as { client?: StandaloneClient }).client)
      .find((client) => client?.isReady === true);
    if (!live) return;
    // The caller already has the original error; a failed or slow refresh just waits for the next one.
    await this.#bounded(rediscover.call(cluster._slots, live)).catch(() => undefined);
  }

  /** A sent command's reply, bounded by commandTimeout, with connection errors translated. */
  #answer<T, R = T>(sent: Promise<T>, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    if (this.#deadlines) return this.#deadlines.track(sent, map);
    return map ? sent.then(map, rethrowTranslated) : sent.catch(rethrowTranslated);
  }

  /** Fails a wait on the client that is not a command (connecting, rediscovering) after commandTimeout. */
  #bounded<T>(wait: Promise<T>): Promise<T> {
    const ms = this.#deadlines?.ms;
    if (!ms) return wait;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut(ms)), ms);
      timer.unref();
    });
    wait.catch(() => undefined);
    return Promise.race([wait, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Calls the store's onRedisReady/onRedisDown as the client connects and disconnects, without
   * adding an `error` listener (that would silence the application's own error handling).
   */
  watch(target: ReadinessTarget): void {
    const client = this.#client as { on?: (event: string, listener: (...args: unknown[]) => void) => unknown };
    if (typeof client.on !== "function") return;
    let watcher = watchers.get(client);
    if (!watcher) {
      const created: ReadinessWatcher = { stores: new Set() };
      watcher = created;
      watchers.set(client, created);
      const notify = (up: boolean) => {
        for (const ref of created.stores) {
          const store = ref.deref();
          if (!store) created.stores.delete(ref);
          else if (up) store.onRedisReady();
          else store.onRedisDown();
        }
      };
      const [upEvents, downEvents] =
        this.topology === "cluster"
          ? [["connect"], ["disconnect"]]
          : this.topology === "sentinel"
            ? [[], []]
            : [["ready"], ["end", "reconnecting"]];
      for (const event of upEvents) client.on.call(client, event, () => notify(true));
      for (const event of downEvents) client.on.call(client, event, () => notify(false));
    }
    watcher.stores.add(new WeakRef(target));
  }
}

function timedOut(ms: number): RedisUnavailableError {
  return new RedisUnavailableError(`redis-session-store: Redis did not answer within commandTimeout (${ms} ms)`, { code: "ETIMEDOUT" });
}

function unavailable(): RedisUnavailableError {
  return new RedisUnavailableError("redis-session-store: Redis is not reachable (the client is not ready)");
}

function coversAllSlots(cluster: ClusterClient, finished: ReadonlySet<string>): boolean {
  const slots = (cluster as { slots?: ({ master?: unknown } | undefined)[] }).slots;
  if (!Array.isArray(slots) || slots.length < 16384) return false;
  for (const shard of slots) if (!shard?.master || !finished.has(addressOf(shard.master))) return false;
  return true;
}

/** Who serves each slot and which slots are on the move, as the masters say (see #rescanMovedSlots). */
interface SlotLayout {
  /** The id of the master serving each slot; "" when none is known or two masters claim it. */
  readonly owner: readonly string[];
  /** Replica id to its master's id. */
  readonly replicaOf: ReadonlyMap<string, string>;
  /** Per slot being migrated or imported: every "node>peer=keys left" (or "<") a master reports. */
  readonly moving: ReadonlyMap<number, string>;
  /** Per slot being migrated or imported: the ids of the masters on both ends. */
  readonly movingNodes: ReadonlyMap<number, readonly string[]>;
}

interface NodesLine {
  id: string;
  flags: string[];
  masterId: string;
  slots: [number, number][];
  /** [slot, ">" migrating to / "<" importing from, peer id] */
  moving: [number, string, string][];
}

interface NodeView {
  lines: NodesLine[];
  own: NodesLine | undefined;
  /** COUNTKEYSINSLOT for each of `own.moving`. */
  keysLeft: number[];
}

const SLOT_COUNT = 16384;

/** CLUSTER NODES: `<id> <addr> <flags> <master> <ping> <pong> <epoch> <link> <slot|range|[slot->-id]|[slot-<-id]>...` */
function parseClusterNodes(text: string): NodesLine[] {
  const lines: NodesLine[] = [];
  for (const raw of text.split("\n")) {
    const fields = raw.trim().split(" ");
    if (fields.length < 8) continue;
    const line: NodesLine = {
      id: fields[0] as string,
      flags: (fields[2] as string).split(","),
      masterId: fields[3] as string,
      slots: [],
      moving: [],
    };
    for (const field of fields.slice(8)) {
      const marker = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(field);
      if (marker) line.moving.push([Number(marker[1]), marker[2] as string, marker[3] as string]);
      else if (!field.startsWith("[")) {
        const [from, to = from] = field.split("-");
        line.slots.push([Number(from), Number(to)]);
      }
    }
    lines.push(line);
  }
  return lines;
}

/** Each master's own line is its word on its slots; what the others say fills in for a master that did not answer. */
function layoutOf(views: NodeView[]): SlotLayout {
  const owner: string[] = new Array(SLOT_COUNT).fill("");
  const claimedBy: (string | undefined)[] = new Array(SLOT_COUNT);
  const replicaOf = new Map<string, string>();
  for (const line of views[0]?.lines ?? []) {
    if (line.flags.includes("slave") || line.flags.includes("replica")) replicaOf.set(line.id, line.masterId);
    else if (line.flags.includes("master") && !line.flags.includes("fail"))
      for (const [from, to] of line.slots) for (let slot = from; slot <= to; slot++) owner[slot] = line.id;
  }
  const moving = new Map<number, string[]>();
  const movingNodes = new Map<number, string[]>();
  for (const { own, keysLeft } of views) {
    if (!own) continue;
    for (const [from, to] of own.slots)
      for (let slot = from; slot <= to; slot++) {
        owner[slot] = claimedBy[slot] === undefined || claimedBy[slot] === own.id ? own.id : "";
        claimedBy[slot] = own.id;
      }
    own.moving.forEach(([slot, direction, peer], i) => {
      moving.set(slot, [...(moving.get(slot) ?? []), `${own.id}${direction}${peer}=${keysLeft[i]}`]);
      movingNodes.set(slot, [...(movingNodes.get(slot) ?? []), own.id, peer]);
    });
  }
  return {
    owner,
    replicaOf,
    moving: new Map([...moving].map(([slot, entries]) => [slot, entries.sort().join(",")])),
    movingNodes,
  };
}

/** The slots (of `among`, default all) that did not stay on one master, unmigrated, from `before` to `after`. */
function movedSlots(before: SlotLayout, after: SlotLayout, among?: ReadonlySet<number>): Set<number> {
  const moved = new Set<number>();
  const check = (slot: number) => {
    const was = before.owner[slot];
    const is = after.owner[slot];
    const stayed = was === is || (!!is && before.replicaOf.get(is) === was);
    if (!was || !is || !stayed || before.moving.get(slot) !== after.moving.get(slot)) moved.add(slot);
  };
  if (among) for (const slot of among) check(slot);
  else for (let slot = 0; slot < SLOT_COUNT; slot++) check(slot);
  return moved;
}

/** The client's masters that serve, import or export `slots` in `layout`; unavailable if the client does not know one yet. */
function mastersFor(cluster: ClusterClient, layout: SlotLayout, slots: ReadonlySet<number>): unknown[] {
  const ids = new Set<string>();
  for (const slot of slots) {
    ids.add(layout.owner[slot] as string);
    for (const id of layout.movingNodes.get(slot) ?? []) ids.add(id);
  }
  return [...ids].map((id) => {
    const master = id ? cluster.masters.find((node) => (node as { id?: string }).id === id) : undefined;
    // An owner nobody agrees on, or a master the client has not discovered: refresh and look again.
    if (!master) throw new RedisUnavailableError("redis-session-store: a slot moved to a master the client does not know yet");
    return master;
  });
}

function addressOf(master: unknown): string {
  const node = master as { address?: string; host?: string; port?: number };
  return node.address ?? `${node.host}:${node.port}`;
}

function rethrowTranslated(error: unknown): never {
  throw translate(error);
}

interface Deadline {
  readonly at: number;
  readonly reject: (error: unknown) => void;
  done: boolean;
}

/**
 * commandTimeout for every call at the cost of one object per call and one timer per store.
 * node-redis's own per-command `timeout` arms an AbortSignal timer per command, which more than
 * halved hot-path throughput in our benchmark. Deadlines are checked at most every 50 ms, so a
 * call fails between `ms` and `ms + 50` after it was sent. The timer runs only while calls are
 * pending and never holds the process open.
 */
class Deadlines {
  readonly #queue: Deadline[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  track<T, R = T>(sent: Promise<T>, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    return new Promise<T | R>((resolve, reject) => {
      const deadline: Deadline = { at: Date.now() + this.ms, reject, done: false };
      // Most calls finish in send order: drop answered ones from the head as we go.
      while (this.#head < this.#queue.length && (this.#queue[this.#head] as Deadline).done) this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#queue.push(deadline);
      if (!this.#timer) this.#arm();
      sent.then(
        (value) => {
          deadline.done = true;
          if (!map) return resolve(value);
          try {
            resolve(map(value));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          deadline.done = true;
          reject(translate(error));
        },
      );
    });
  }

  #arm(): void {
    const first = this.#queue[this.#head];
    if (!first) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(first.at - Date.now(), 50));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    const queue = this.#queue;
    // Deadlines are in send order and all share one timeout, so the expired ones are at the head.
    while (this.#head < queue.length) {
      const deadline = queue[this.#head] as Deadline;
      if (!deadline.done && deadline.at > now) break;
      if (!deadline.done) {
        deadline.done = true;
        deadline.reject(timedOut(this.ms));
      }
      this.#head++;
    }
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    }
    this.#arm();
  }
}

const CONNECTION_ERRORS = new Set([
  "TimeoutError",
  "ClientClosedError",
  "ClientOfflineError",
  "SocketClosedUnexpectedlyError",
  "ConnectionTimeoutError",
  "SocketTimeoutError",
  "ReconnectStrategyError",
  "DisconnectsClientError",
]);
// Replies by which Redis says "not now" during a failover or a restart: the data is not there to serve.
const UNAVAILABLE_REPLIES = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|Disconnects client)/;
const CONNECTION_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTCONN", "ECONNABORTED"]);

/**
 * Losing Redis mid-call surfaces from node-redis as several error classes (none of which sets
 * `.name`) or as a raw socket error, and a failover as replies such as CLUSTERDOWN or READONLY:
 * all of them become one RedisUnavailableError, with the original as `cause`. Other errors Redis
 * replies with (OOM, NOPERM, WRONGTYPE...) pass through unchanged.
 */
function translate(error: unknown): unknown {
  // Duck-typed, not `instanceof Error`: socket errors may come from another realm (vm contexts, jest).
  if (error === null || typeof error !== "object" || error instanceof RedisUnavailableError) return error;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  const kind = (error as object).constructor?.name ?? "";
  if (
    CONNECTION_ERRORS.has(kind) ||
    (typeof name === "string" && CONNECTION_ERRORS.has(name)) ||
    (typeof code === "string" && CONNECTION_CODES.has(code)) ||
    (typeof message === "string" &&
      (UNAVAILABLE_REPLIES.test(message) ||
        /^Socket closed unexpectedly|^The client is closed|^Connection timeout|ECONNRESET|ECONNREFUSED|EPIPE/.test(message)))
  ) {
    return new RedisUnavailableError(`redis-session-store: lost the connection to Redis (${String(message)})`, { cause: error });
  }
  return error;
}

/** SCAN of one node, through `ask` (one SCAN call, or a stretch of them), to the end. */
async function* scanNode(ask: (cursor: string) => Promise<[string, string[]]>): AsyncGenerator<string[]> {
  let pending = ask("0");
  for (;;) {
    const [cursor, keys] = await pending;
    const more = String(cursor) !== "0";
    if (more) {
      pending = ask(String(cursor));
      // If the consumer stops early, the prefetched reply is nobody's: don't let it go unhandled.
      pending.catch(() => undefined);
    }
    if (keys.length) yield keys;
    if (!more) return;
  }
}

/** Interleaves several async iterators, yielding whichever is ready first. */
async function* merge<T>(iterators: AsyncGenerator<T>[]): AsyncGenerator<T> {
  const next = (i: number) => (iterators[i] as AsyncGenerator<T>).next().then((result) => ({ i, result }));
  const pending = new Map<number, Promise<{ i: number; result: IteratorResult<T> }>>();
  for (let i = 0; i < iterators.length; i++) pending.set(i, next(i));
  try {
    while (pending.size) {
      const { i, result } = await Promise.race(pending.values());
      if (result.done) pending.delete(i);
      else {
        pending.set(i, next(i));
        yield result.value;
      }
    }
  } finally {
    for (const [i, promise] of pending) {
      promise.catch(() => undefined);
      void (iterators[i] as AsyncGenerator<T>).return(undefined);
    }
  }
}
