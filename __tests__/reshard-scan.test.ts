/**
 * Slots migrate between Cluster masters (redis-cli --cluster reshard) while all(), ids() and
 * length() scan: every session must still be listed exactly once, and nothing may fail. A session
 * moved from a master whose scan had not reached it yet to one whose scan was already past it is
 * found by neither SCAN; the store must notice the move and look again.
 *
 * The overlap is forced, not hoped for: all()'s serializer waits on a gate that opens only after the
 * reshard has moved its first slots, so all() is provably mid-scan (cursors open on every master)
 * when slots start to move, and the rest of the migration runs under the rest of the scan.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import { RedisStore } from "../lib/index";
import { keySlot } from "../lib/keys";
import { type ClientHandle, type ClientName, makeClient } from "./helpers/clients";
import { type ClusterNode, cli, parseClusterNodes, startCluster, type TestCluster } from "./helpers/cluster";
import { waitFor } from "./helpers/redis-server";
import { CLIENTS } from "./helpers/setups";

const SESSIONS = 20_000;
/** Slots moved by each reshard (of 16384): about 600 of the sessions. */
const SLOTS_MOVED = 500;
/** Slots the first reshard must have moved before all()'s scan may go on. */
const MOVED_WHILE_PAUSED = 100;
/** Small SCAN batches: the scan takes many steps, so the migration runs between them. */
const SCAN_COUNT = 10;

let cluster: TestCluster;
/** Reshards done so far: each one moves slots from the next master to the one after. */
let reshards = 0;

beforeAll(async () => {
  cluster = await startCluster();
}, 60000);

afterAll(async () => {
  await cluster?.stop();
}, 30000);

/** The slots a node serves by its own word (CLUSTER NODES, its "myself" line). */
async function slotsOf(node: ClusterNode): Promise<Set<number>> {
  const own = parseClusterNodes(await cli(node.port, ["CLUSTER", "NODES"])).find((line) => line.flags.includes("myself"));
  const slots = new Set<number>();
  for (const [from, to] of own?.slots ?? []) for (let slot = from; slot <= to; slot++) slots.add(slot);
  return slots;
}

/**
 * Starts `redis-cli --cluster reshard` of SLOTS_MOVED slots between two masters (a different pair
 * each time). Resolves once it is started, with the target, the target's slots before, and a
 * promise of the reshard's end.
 */
async function startReshard(): Promise<{ to: ClusterNode; targetBefore: Set<number>; done: Promise<void> }> {
  const masters = cluster.masters;
  const from = masters[reshards % masters.length] as ClusterNode;
  const to = masters[(reshards + 1) % masters.length] as ClusterNode;
  reshards++;
  const targetBefore = await slotsOf(to);
  const args = ["--cluster", "reshard", `127.0.0.1:${from.port}`, "--cluster-from", from.id, "--cluster-to", to.id];
  const done = new Promise<void>((resolve, reject) => {
    execFile(
      "redis-cli",
      [...args, "--cluster-slots", String(SLOTS_MOVED), "--cluster-yes"],
      { timeout: 60000, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error, _stdout, stderr) => (error ? reject(new Error(`redis-cli --cluster reshard failed: ${error.message} ${stderr}`)) : resolve()),
    );
  });
  done.catch(() => undefined); // awaited by the test
  return { to, targetBefore, done };
}

const session = (i: number) =>
  ({ cookie: { originalMaxAge: 600_000, expires: new Date(Date.now() + 600_000) }, i }) as unknown as SessionData;

describe.each(CLIENTS)("%s: slots resharded during a scan", (client: ClientName) => {
  let h: ClientHandle;
  const prefix = `reshard-${client.replace(" ", "-")}:`;
  const expected = Array.from({ length: SESSIONS }, (_, i) => `s${i}`);
  /** Ids expected but not listed, and listed but not expected (a short diff when the test fails). */
  const missingAndExtra = (ids: readonly string[]) => {
    const listed = new Set(ids);
    const known = new Set(expected);
    return { missing: expected.filter((id) => !listed.has(id)), extra: [...listed].filter((id) => !known.has(id)) };
  };

  beforeAll(async () => {
    h = await makeClient(client, "cluster", cluster);
    const store = new RedisStore({ client: h.client, prefix, userId: false });
    let next = 0;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < SESSIONS) {
          const i = next++;
          await store.set(`s${i}`, session(i));
        }
      }),
    );
  }, 60000);

  afterAll(async () => {
    await h?.close();
  });

  test("all() lists every session exactly once", async () => {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let parsing = false;
    const store = new RedisStore({
      client: h.client,
      prefix,
      userId: false,
      scanCount: SCAN_COUNT,
      serializer: {
        stringify: JSON.stringify,
        parse: async (text: string) => {
          parsing = true;
          await gate;
          return JSON.parse(text);
        },
      },
    });

    let resolvedAt: number | undefined;
    const listing = store.all().finally(() => {
      resolvedAt = Date.now();
    });
    listing.catch(() => undefined); // awaited below
    // The scan has read its first batches (so it is under way on every master) and now waits.
    await waitFor(async () => parsing, 10000, "all() to start reading");

    const reshard = await startReshard();
    const targetBefore = reshard.targetBefore.size;
    await waitFor(async () => (await slotsOf(reshard.to)).size >= targetBefore + MOVED_WHILE_PAUSED, 30000, "the first slots to move");
    const movedAt = Date.now();
    open();

    const sessions = await listing;
    await reshard.done;
    await cluster.waitHealthy(20000);

    // The migration overlapped the scan: slots had moved before all() returned.
    expect(resolvedAt).toBeGreaterThanOrEqual(movedAt);
    expect((await slotsOf(reshard.to)).size).toBe(targetBefore + SLOTS_MOVED);
    const ids = sessions.map((s) => s.id);
    expect(missingAndExtra(ids)).toEqual({ missing: [], extra: [] });
    expect(ids.length).toBe(SESSIONS); // so none twice
    for (const s of sessions) expect((s as unknown as { i: number }).i).toBe(Number(s.id.slice(1)));
  }, 60000);

  test("ids() and length() miss nothing while slots move", async () => {
    const store = new RedisStore({ client: h.client, prefix, userId: false, scanCount: SCAN_COUNT });
    const reshard = await startReshard();
    let finished = false;
    void reshard.done.then(
      () => {
        finished = true;
      },
      () => {
        finished = true;
      },
    );
    let duringReshard = 0;
    do {
      const startedBeforeEnd = !finished;
      const [ids, length] = await Promise.all([store.ids(), store.length()]);
      if (startedBeforeEnd) duringReshard++;
      expect(missingAndExtra(ids)).toEqual({ missing: [], extra: [] });
      expect(ids.length).toBe(SESSIONS);
      // length() counts batch by batch, without a set: a key seen again after its slot moved is
      // counted twice (documented), a missed one not at all.
      expect(length).toBeGreaterThanOrEqual(SESSIONS);
    } while (!finished);
    await reshard.done;
    await cluster.waitHealthy(20000);
    expect(duringReshard).toBeGreaterThan(0);

    // Sessions in moved slots are read and written where they now live.
    const gained = new Set([...(await slotsOf(reshard.to))].filter((slot) => !reshard.targetBefore.has(slot)));
    expect(gained.size).toBe(SLOTS_MOVED);
    const movedIds = expected.filter((id) => gained.has(keySlot(prefix + id)));
    expect(movedIds.length).toBeGreaterThan(0);
    const sid = movedIds[0] as string;
    expect(await store.get(sid)).toMatchObject({ i: Number(sid.slice(1)) });
    await store.set(sid, session(-1));
    expect(await store.get(sid)).toMatchObject({ i: -1 });
    await store.set(sid, session(Number(sid.slice(1))));
  }, 60000);
});
