/**
 * One bulk operation of one store, alone in a fresh Node process (started by bulk.ts with
 * --expose-gc), so its heap figure is its own: nothing else allocated in this process, no garbage
 * left by a previous contestant.
 *
 * Heap: after connecting, gc() twice and take heapUsed as the baseline; while the operation runs,
 * sample heapUsed every 2 ms (whenever the event loop is free) and once more when it settles, with
 * its result still held. Peak heap growth = highest sample - baseline. Also reported: the peak RSS
 * growth (the kernel's maxRSS minus the RSS at the baseline), which also sees Buffers and memory
 * freed between samples.
 *
 * Input: one JSON argument { url, store: "ours" | "connect-redis", op: "all" | "length" | "clear" | "scan" }.
 * Output: one JSON line { ms, heapPeak, rssPeak, count }.
 */
import { performance } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { createClient } from "redis";
import { connectRedis, ours } from "./stores.js";

interface Input {
  url: string;
  store: "ours" | "connect-redis";
  op: "all" | "length" | "clear" | "scan";
}

const input = JSON.parse(process.argv[2] as string) as Input;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

const client = createClient({ url: input.url });
client.on("error", (error) => process.stderr.write(`bulk child: ${error}\n`));
await client.connect();
const store = input.store === "ours" ? ours(client) : connectRedis(client);

const held: unknown[] = []; // all()'s result stays alive until the last heap sample

async function run(): Promise<number> {
  switch (input.op) {
    case "all": {
      const sessions = (await store.all()) as unknown[];
      held.push(sessions);
      return sessions.length;
    }
    case "length":
      return (await store.length()) as number;
    case "clear":
      await store.clear();
      return 0;
    case "scan": {
      if (input.store !== "ours") throw new Error("scan() is ours only");
      let n = 0;
      for await (const _ of (store as ReturnType<typeof ours>).scan()) n++;
      return n;
    }
  }
}

gc();
gc();
const baseline = getHeapStatistics().used_heap_size;
const rssBaseline = process.memoryUsage.rss();
let peak = baseline;
const sample = () => {
  const used = getHeapStatistics().used_heap_size;
  if (used > peak) peak = used;
};
const timer = setInterval(sample, 2);
const start = performance.now();
const count = await run();
const ms = performance.now() - start;
sample();
clearInterval(timer);
held.length = 0;
const rssPeak = Math.max(0, process.resourceUsage().maxRSS * 1024 - rssBaseline);
process.stdout.write(`${JSON.stringify({ ms, heapPeak: peak - baseline, rssPeak, count })}\n`);
await client.quit();
