/**
 * A Cluster master dies while all() is in the middle of its scan: all() must neither crash nor hang,
 * and must list every session exactly once. The serializer's parse waits on a gate that opens only
 * after the replica is promoted, so the scan is provably mid-way (cursors open on every master) at
 * the kill. Each client gets a fresh cluster, so every session is replicated before the kill.
 */
import { expect, test } from "@jest/globals";
import type { SessionData } from "express-session";
import { RedisStore } from "../lib/index";
import { type ClientName, makeClient } from "./helpers/clients";
import { startCluster } from "./helpers/cluster";
import { CLIENTS } from "./helpers/setups";

test.each(CLIENTS)(
  "%s: all() during a failover lists every session once",
  async (client: ClientName) => {
    const cluster = await startCluster();
    const h = await makeClient(client, "cluster", cluster);
    try {
      let open = (): void => undefined;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const store = new RedisStore({
        client: h.client,
        prefix: `scan-failover-${client.replace(" ", "-")}:`,
        scanCount: 5,
        userId: false,
        commandTimeout: 1000,
        serializer: {
          stringify: JSON.stringify,
          parse: async (text: string) => {
            await gate;
            return JSON.parse(text);
          },
        },
      });
      const expires = new Date(Date.now() + 600_000);
      const seeded = Array.from({ length: 300 }, (_, i) => `s${i}`);
      await Promise.all(
        seeded.map((sid) => store.set(sid, { cookie: { originalMaxAge: 600_000, expires }, i: 1 } as unknown as SessionData)),
      );

      const scanning = store.all();
      scanning.catch(() => undefined); // awaited below
      const killed = await cluster.killMaster({ slot: 0 });
      await cluster.awaitFailover(killed, 20000);
      open();
      // Bounded, so a hang fails this test instead of the file's timeout.
      const settled = await Promise.race([
        scanning.then((sessions) => ({ sessions })),
        new Promise<undefined>((resolve) => {
          setTimeout(() => resolve(undefined), 30000).unref();
        }),
      ]);
      expect(settled).toBeDefined();
      const listed = (settled?.sessions ?? []).map((s) => s.id);
      expect(listed.length).toBe(new Set(listed).size);
      expect([...listed].sort()).toEqual([...seeded].sort());
    } finally {
      await h.close();
      await cluster.stop();
    }
  },
  60000,
);
