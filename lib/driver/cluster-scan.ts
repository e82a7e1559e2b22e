/**
 * SCAN over a Redis Cluster that survives a failover and a reshard while it runs: every master is
 * scanned on its own connection, a master lost mid-scan is scanned again once the client has found
 * its replacement, and slots that moved during the scan are scanned again where they live now (see
 * #rescanMovedSlots). It knows no client: a driver hands it a {@link ClusterNodes} view of its
 * client's masters (node-redis: node-redis-cluster.ts; ioredis and iovalkey: ioredis.ts).
 */
import { RedisUnavailableError } from "../errors.js";
import { keySlot } from "../keys.js";
import type { Args } from "./driver.js";
import { notReady } from "./errors.js";
import { scanNodeFrom } from "./node-scan.js";

/** One master's own connection, as the scan uses it. */
export interface NodeConnection {
  send(args: Args): Promise<unknown>;
  /** False while the connection is known to be down: the scan then fails at once. */
  readonly ready: boolean;
}

/** What the scan needs to know of a cluster client: its masters as it sees them now. */
export interface ClusterNodes {
  /** The masters the client knows now (briefly none while it rediscovers). */
  masters(): readonly unknown[];
  /** "host:port" of a master, the same across the client's refreshes. */
  addressOf(master: unknown): string;
  /** The master's own connection (may wait for it to connect: the scan bounds that wait). */
  connect(master: unknown): Promise<NodeConnection> | NodeConnection;
  /** True when the client maps every slot to a master whose address is in `finished`. */
  coversAllSlots(finished: ReadonlySet<string>): boolean;
  /** The master the client knows by the id and address CLUSTER NODES gives it, if it knows it yet. */
  find(id: string, address: string): unknown | undefined;
}

/** What the scan needs from the driver that runs it. */
export interface ScanHost {
  readonly recoveryMs: number;
  /** Asks the client to refresh its view of the cluster (after a lost node). */
  heal(): Promise<void>;
  /** A wait that is not a command, bounded by commandTimeout. */
  bounded<T>(wait: Promise<T>): Promise<T>;
  /** A sent command's reply, bounded by commandTimeout, errors translated. */
  answer<T>(sent: Promise<T>): Promise<T>;
}

export class ClusterScan {
  readonly #cluster: ClusterNodes;
  readonly #host: ScanHost;

  constructor(cluster: ClusterNodes, host: ScanHost) {
    this.#cluster = cluster;
    this.#host = host;
  }

  /**
   * Batches of keys matching `pattern`, every master at once. A key may be yielded twice if a slot
   * moves during the scan (SCAN's own guarantee). Without a layout to compare (CLUSTER NODES
   * refused, no master answering), the scan is SCAN's best: slots that move during it may lose keys.
   */
  async *keys(pattern: string, count: number): AsyncGenerator<string[]> {
    const layout = await this.#layout().catch(() => undefined);
    yield* this.#scanEveryMaster(pattern, count, new Map());
    if (layout) yield* this.#rescanMovedSlots(pattern, count, layout);
  }

  /**
   * keys(), resumable: each batch comes with a cursor (a JSON object of "host:port" to that master's
   * SCAN cursor, "done" once scanned to the end) from which a later call carries on after it.
   * Masters the cursor does not name (a replica promoted since) are
   * scanned from the start. Slots that move during a call are scanned again within that call.
   */
  async *resumable(pattern: string, count: number, cursor: string | undefined): AsyncGenerator<{ keys: string[]; cursor: string }> {
    const progress = parseCursor(cursor);
    const snapshot = () => JSON.stringify(Object.fromEntries(progress));
    const layout = await this.#layout().catch(() => undefined);
    for await (const keys of this.#scanEveryMaster(pattern, count, progress)) yield { keys, cursor: snapshot() };
    if (layout) for await (const keys of this.#rescanMovedSlots(pattern, count, layout)) yield { keys, cursor: snapshot() };
  }

  /** Scans every master to the end, each from its cursor in `progress`, which it keeps up to date. */
  async *#scanEveryMaster(pattern: string, count: number, progress: Map<string, string>): AsyncGenerator<string[]> {
    const cluster = this.#cluster;
    const finished = new Set<string>([...progress].filter(([, at]) => at === DONE).map(([address]) => address));
    // The recovery window opens at the first failure, not at the start: a long scan is not cut short.
    let giveUpAt = Number.POSITIVE_INFINITY;
    for (;;) {
      // Done only when every slot's current master has been scanned to the end: while a client
      // rediscovers, its slot map may be briefly empty, and an empty list of masters is not "all done".
      if (cluster.coversAllSlots(finished)) return;
      const targets = cluster.masters().filter((master) => !finished.has(cluster.addressOf(master)));
      if (!targets.length) {
        giveUpAt = Math.min(giveUpAt, Date.now() + this.#host.recoveryMs);
        if (Date.now() > giveUpAt)
          throw new RedisUnavailableError("redis-session-store: the cluster's slot map did not settle during the scan");
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      try {
        const iterators = targets.map((master) => this.#scanMaster(master, pattern, count, { finished, progress }));
        // A master's cursor moves as its batch is handed on, never as it is read ahead: after a
        // failure, each master carries on after the last batch its consumer received.
        for await (const batch of iterators.length === 1 ? (iterators[0] as AsyncGenerator<MasterBatch>) : merge(iterators)) {
          progress.set(batch.address, batch.next === "0" ? DONE : batch.next);
          if (batch.keys.length) yield batch.keys;
        }
        for (const address of finished) progress.set(address, DONE);
      } catch (error) {
        giveUpAt = Math.min(giveUpAt, Date.now() + this.#host.recoveryMs);
        if (Date.now() > giveUpAt) throw error;
        await this.#host.heal();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /**
   * SCANs one master to the end, each reply with the cursor that follows it; with `only`, just the
   * keys of those slots. With `finished`, it starts from the master's cursor in `progress`, and adds
   * the master to `finished` at the end.
   */
  async *#scanMaster(
    master: unknown,
    pattern: string,
    count: number,
    track?: { finished: Set<string>; progress: ReadonlyMap<string, string> },
    only?: ReadonlySet<number>,
  ): AsyncGenerator<MasterBatch> {
    const address = this.#cluster.addressOf(master);
    const send = await this.#nodeSender(master);
    const ask = (cursor: string) => send(["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)]) as Promise<[string, string[]]>;
    for await (const { keys, next } of scanNodeFrom(ask, track?.progress.get(address) ?? "0")) {
      yield { address, keys: only ? keys.filter((key) => only.has(keySlot(key))) : keys, next };
    }
    track?.finished.add(address);
  }

  /** Sends commands to one master's own connection, bounded and translated like any command. */
  async #nodeSender(master: unknown): Promise<(args: Args) => Promise<unknown>> {
    // A client may wait for a connection to a node that is gone: bounded like a command.
    const node = await this.#host.bounded(Promise.resolve(this.#cluster.connect(master)));
    return (args: Args) => (node.ready ? this.#host.answer(node.send(args)) : Promise.reject(notReady()));
  }

  /**
   * Scans again the slots that moved while the scan before ran, until a scan runs with no slot of
   * its moving.
   *
   * A SCAN of one master only promises the keys that stay on it for the whole SCAN. During a reshard
   * a key can leave a master whose SCAN has not reached it yet for one whose SCAN is already past
   * it: neither returns it. So the masters' view of
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
    const cluster = this.#cluster;
    let giveUpAt = Number.POSITIVE_INFINITY;
    /** Heals and waits after a lost node, or rethrows once the window has closed. */
    const recover = async (error: unknown) => {
      if (!(error instanceof RedisUnavailableError)) throw error;
      giveUpAt = Math.min(giveUpAt, Date.now() + this.#host.recoveryMs);
      if (Date.now() > giveUpAt) throw error;
      await this.#host.heal();
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
      giveUpAt = Math.min(giveUpAt, Date.now() + this.#host.recoveryMs);
      if (Date.now() > giveUpAt) return;
      for (;;) {
        try {
          const iterators = mastersFor(cluster, now, moved).map((master) => this.#scanMaster(master, pattern, count, undefined, moved));
          for await (const { keys } of iterators.length === 1 ? (iterators[0] as AsyncGenerator<MasterBatch>) : merge(iterators)) {
            if (keys.length) yield keys;
          }
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
    const cluster = this.#cluster;
    const views = await Promise.allSettled(
      cluster.masters().map(async (master): Promise<NodeView> => {
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
    if (!answered.length) throw (views[0] as PromiseRejectedResult | undefined)?.reason ?? notReady();
    return layoutOf(answered);
  }
}

/** One SCAN reply of one master: its keys, and the cursor that follows them ("0": the end). */
interface MasterBatch {
  address: string;
  keys: string[];
  next: string;
}

/** Who serves each slot and which slots are on the move, as the masters say (see #rescanMovedSlots). */
interface SlotLayout {
  /** The id of the master serving each slot; "" when none is known or two masters claim it. */
  readonly owner: readonly string[];
  /** Replica id to its master's id. */
  readonly replicaOf: ReadonlyMap<string, string>;
  /** Node id to its "host:port". */
  readonly addresses: ReadonlyMap<string, string>;
  /** Per slot being migrated or imported: every "node>peer=keys left" (or "<") a master reports. */
  readonly moving: ReadonlyMap<number, string>;
  /** Per slot being migrated or imported: the ids of the masters on both ends. */
  readonly movingNodes: ReadonlyMap<number, readonly string[]>;
}

interface NodesLine {
  id: string;
  /** "host:port", without the cluster bus port and hostname. */
  address: string;
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
      address: (fields[1] as string).split(/[@,]/)[0] as string,
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
  const addresses = new Map<string, string>();
  for (const view of views) for (const line of view.lines) addresses.set(line.id, line.address);
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
    addresses,
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
function mastersFor(cluster: ClusterNodes, layout: SlotLayout, slots: ReadonlySet<number>): unknown[] {
  const ids = new Set<string>();
  for (const slot of slots) {
    ids.add(layout.owner[slot] as string);
    for (const id of layout.movingNodes.get(slot) ?? []) ids.add(id);
  }
  return [...ids].map((id) => {
    const master = id ? cluster.find(id, layout.addresses.get(id) ?? "") : undefined;
    // An owner nobody agrees on, or a master the client has not discovered: refresh and look again.
    if (!master) throw new RedisUnavailableError("redis-session-store: a slot moved to a master the client does not know yet");
    return master;
  });
}

/** A master scanned to the end, in a resumable scan's cursor. */
const DONE = "done";

/** A cursor of ClusterScan.resumable as a map; TypeError naming the argument when it is none. */
function parseCursor(cursor: string | undefined): Map<string, string> {
  if (cursor === undefined) return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(cursor);
  } catch {
    parsed = undefined;
  }
  const entries = parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? Object.entries(parsed) : undefined;
  if (!entries?.every(([, at]) => typeof at === "string" && (at === DONE || /^\d+$/.test(at)))) {
    throw new TypeError('redis-session-store: argument "cursor" must be a cursor an earlier rotate() of a Cluster store gave');
  }
  return new Map(entries as [string, string][]);
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
