/**
 * What Redis did for a measured phase, counted once.
 *
 * `INFO commandstats` counts a command run inside a script (EVAL/EVALSHA) or queued in a
 * MULTI/EXEC on that command's own line, AND the EVALSHA/EXEC line's usec already includes it
 * (checked on Redis 7.0: see README, "Counting commands and Redis time"). Commandstats alone cannot
 * tell a script's SET from a client's SET, so the app processes also record the commands their
 * clients send (`trackRedisWrites`): those are the top-level commands. Then:
 *
 * - commands = commands the clients sent (scripts count as one EVALSHA, the commands inside them
 *   not at all; MULTI, each queued command and EXEC count one each);
 * - Redis µs = sum of usec over all cmdstat lines, minus the usec of the commands that ran inside a
 *   script or an EXEC (their calls x their line's usec per call), since the script's or EXEC's own
 *   line holds that time already.
 */
import type { Socket } from "node:net";
import net from "node:net";

export interface CommandStat {
  calls: number;
  usec: number;
}

export type CommandStats = Map<string, CommandStat>;

/** Parses `INFO commandstats` (and the `INFO cpu` main-thread lines, as the pseudo-command "cpu"). */
export function parseInfo(text: string): CommandStats {
  const stats: CommandStats = new Map();
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) stats.set((match[1] as string).toLowerCase(), { calls: Number(match[2]), usec: Number(match[3]) });
  }
  const cpu = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? Number.NaN);
  const seconds = cpu("used_cpu_sys_main_thread") + cpu("used_cpu_user_main_thread");
  stats.set(" cpu", { calls: 0, usec: seconds * 1e6 });
  return stats;
}

/** after - before, per command; the INFO calls of the measurement itself are dropped. */
export function diffStats(before: CommandStats, after: CommandStats): CommandStats {
  const diff: CommandStats = new Map();
  for (const [name, stat] of after) {
    if (name === "info") continue;
    const old = before.get(name) ?? { calls: 0, usec: 0 };
    if (stat.calls !== old.calls || stat.usec !== old.usec) diff.set(name, { calls: stat.calls - old.calls, usec: stat.usec - old.usec });
  }
  return diff;
}

/** Commands the clients sent, per lower-case name; `queued` are those sent between MULTI and EXEC. */
export interface SentCommands {
  sent: Record<string, number>;
  queued: Record<string, number>;
}

export interface PhaseCost {
  /** Top-level commands (as the clients sent them). */
  commands: number;
  /** Commands that ran inside scripts (commandstats calls beyond what the clients sent). */
  inner: number;
  /** Redis µs, each command counted once. */
  redisUsec: number;
  /** Main-thread CPU µs of redis-server (user + sys), which also covers network I/O and parsing. */
  cpuUsec: number;
  /** Sent commands that commandstats did not see (should be 0; counted as a warning). */
  unseen: number;
}

export function phaseCost(diff: CommandStats, sent: SentCommands): PhaseCost {
  let commands = 0;
  let inner = 0;
  let usec = 0;
  let nested = 0;
  let unseen = 0;
  for (const [name, count] of Object.entries(sent.sent)) if (name !== "info") commands += count;
  for (const [name, stat] of diff) {
    if (name === " cpu") continue;
    usec += stat.usec;
    const mine = sent.sent[name] ?? 0;
    const extra = stat.calls - mine;
    if (extra < 0) unseen -= extra;
    const inside = Math.max(0, extra) + (sent.queued[name] ?? 0);
    inner += Math.max(0, extra);
    if (stat.calls > 0) nested += (inside * stat.usec) / stat.calls;
  }
  return { commands, inner, redisUsec: usec - nested, cpuUsec: diff.get(" cpu")?.usec ?? 0, unseen };
}

/**
 * Records every command this process writes to the Redis on `port` (RESP arrays, parsed from the
 * socket writes after the phase, so the hot path only pays an array push). Returns `take()`, which
 * parses and forgets what was written since the last call.
 */
export function trackRedisWrites(port: number): () => SentCommands {
  const chunks = new Map<Socket, (string | Uint8Array)[]>();
  const parsers = new Map<Socket, RespParser>();
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    if (this.remotePort === port && (typeof chunk === "string" || chunk instanceof Uint8Array)) {
      const list = chunks.get(this) ?? [];
      chunks.set(this, list);
      list.push(chunk);
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
  return () => {
    const result: SentCommands = { sent: {}, queued: {} };
    for (const [socket, list] of chunks) {
      const parser = parsers.get(socket) ?? new RespParser();
      parsers.set(socket, parser);
      for (const chunk of list) parser.feed(typeof chunk === "string" || !Buffer.isBuffer(chunk) ? Buffer.from(chunk) : chunk, result);
      list.length = 0;
    }
    return result;
  };
}

/** Commands that commandstats lists per subcommand ("client|setinfo"). */
const CONTAINERS = new Set([
  "acl",
  "client",
  "cluster",
  "command",
  "config",
  "function",
  "latency",
  "memory",
  "module",
  "object",
  "pubsub",
  "script",
  "slowlog",
  "xinfo",
]);

/** A streaming parser of RESP command arrays (`*N` then N bulk strings); keeps only the names. */
class RespParser {
  #pending = Buffer.alloc(0);
  #args = 0; // bulk strings left in the current command
  #index = 0; // index of the next bulk string in the current command
  #skip = -1; // bytes of a bulk string (plus CRLF) left; -1 when a header line comes next
  #words: string[] = [];
  #inMulti = false;

  feed(chunk: Buffer, out: SentCommands): void {
    let data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    for (;;) {
      if (this.#skip >= 0) {
        // The first two words are read whole (a name and maybe a subcommand); the rest skipped.
        if (this.#index < 2) {
          if (data.length < this.#skip) break;
          this.#words.push(
            data
              .subarray(0, this.#skip - 2)
              .toString("latin1")
              .toLowerCase(),
          );
        } else if (data.length < this.#skip) {
          this.#skip -= data.length;
          data = data.subarray(data.length);
          break;
        }
        data = data.subarray(this.#skip);
        this.#skip = -1;
        this.#index++;
        if (this.#index === this.#args) this.#count(out);
        continue;
      }
      const end = data.indexOf("\r\n");
      if (end < 0) break;
      const line = data.subarray(0, end).toString("latin1");
      data = data.subarray(end + 2);
      if (line[0] === "*") {
        this.#args = Number(line.slice(1));
        this.#index = 0;
        this.#words = [];
      } else if (line[0] === "$") this.#skip = Number(line.slice(1)) + 2;
      else throw new Error(`unexpected RESP line from a client: ${JSON.stringify(line.slice(0, 40))}`);
    }
    this.#pending = Buffer.from(data);
  }

  #count(out: SentCommands): void {
    const [first = "?", second] = this.#words;
    const name = CONTAINERS.has(first) && second !== undefined ? `${first}|${second}` : first;
    out.sent[name] = (out.sent[name] ?? 0) + 1;
    if (name === "multi") this.#inMulti = true;
    else if (name === "exec" || name === "discard") this.#inMulti = false;
    else if (this.#inMulti) out.queued[name] = (out.queued[name] ?? 0) + 1;
  }
}
