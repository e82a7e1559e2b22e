/**
 * SCAN of one node, cursor by cursor: what a single Redis's scans are, and what the cluster scan
 * runs on each master.
 */

/** SCAN of one node, through `ask` (one SCAN call, or a stretch of them), to the end. */
export async function* scanNode(ask: (cursor: string) => Promise<[string, string[]]>): AsyncGenerator<string[]> {
  for await (const { keys } of scanNodeFrom(ask, "0")) if (keys.length) yield keys;
}

/**
 * SCAN of one node from `start` to the end, each reply with the cursor that follows it ("0": the
 * end), empty ones included. The next reply is asked for while the consumer handles this one.
 */
export async function* scanNodeFrom(
  ask: (cursor: string) => Promise<[string, string[]]>,
  start: string,
): AsyncGenerator<{ keys: string[]; next: string }> {
  let pending = ask(start);
  for (;;) {
    const [cursor, keys] = await pending;
    const next = String(cursor);
    if (next !== "0") {
      pending = ask(next);
      // If the consumer stops early, the prefetched reply is nobody's: don't let it go unhandled.
      pending.catch(() => undefined);
    }
    yield { keys, next };
    if (next === "0") return;
  }
}

/**
 * A single node's SCAN as a resumable scan: each batch with the SCAN cursor that follows it. The
 * cursor given must be one such ("0", or none: from the start).
 */
export async function* resumableNodeScan(
  ask: (cursor: string) => Promise<[string, string[]]>,
  cursor: string | undefined,
): AsyncGenerator<{ keys: string[]; cursor: string }> {
  if (cursor !== undefined && !/^\d+$/.test(cursor)) {
    throw new TypeError('redis-session-store: argument "cursor" must be a cursor an earlier rotate() of a single-Redis store gave');
  }
  for await (const { keys, next } of scanNodeFrom(ask, cursor ?? "0")) yield { keys, cursor: next };
}
