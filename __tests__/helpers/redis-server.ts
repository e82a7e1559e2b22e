/**
 * Private redis-server (or valkey-server) processes for tests, the demo and the benchmarks: started
 * on a free port from PATH (Valkey: see ./valkey), readiness polled with PING (never slept), stopped
 * at the end. Nothing here ever touches a server it did not start.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { valkeyBinaries, valkeyEnv } from "./valkey";

export const INSTALL_HINT =
  "redis-server was not found on PATH: install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL";

/** Throws one clear line when redis-server is missing. */
export function requireRedisServer(): string {
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(INSTALL_HINT);
  }
}

/** Which server a helper starts: Redis (redis-server from PATH) or Valkey (see ./valkey). */
export type ServerKind = "redis" | "valkey";

/** The server binary of a kind, its CLI, and the environment both run with. */
export function serverCommand(kind: ServerKind): { binary: string; cli: string; env: NodeJS.ProcessEnv } {
  if (kind === "redis") return { binary: requireRedisServer(), cli: "redis-cli", env: process.env };
  const valkey = valkeyBinaries();
  return { binary: valkey.server, cli: valkey.cli, env: valkeyEnv(valkey) };
}

/**
 * The server's own name from INFO server: Valkey says `server_name:valkey` (and an old
 * `redis_version` for compatibility); Redis 7.0 has no such field.
 */
export async function serverName(port: number): Promise<ServerKind> {
  const info = await new Promise<string>((resolve, reject) => {
    const socket = new Socket();
    let data = "";
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error(`INFO server on port ${port}: timeout`));
    });
    socket.once("error", reject);
    socket.connect(port, "127.0.0.1", () => socket.write("INFO server\r\n"));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      // A bulk reply: "$<length>\r\n<text>\r\n".
      const length = Number(/^\$(\d+)\r\n/.exec(data)?.[1]);
      if (Number.isFinite(length) && Buffer.byteLength(data) >= String(length).length + 3 + length) {
        socket.destroy();
        resolve(data);
      }
    });
  });
  return /^server_name:valkey\r?$/m.test(info) ? "valkey" : "redis";
}

/** A free TCP port on 127.0.0.1 (and port + 10000, the cluster bus, when `withBus`). */
export async function freePort(withBus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (!withBus || port + 10000 > 65535) {
      if (!withBus) return port;
      continue;
    }
    if (await canListen(port + 10000)) return port;
  }
  throw new Error("no free port found");
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const found = typeof address === "object" && address ? address.port : port;
      server.close(() => resolve(found));
    });
  });
}

async function canListen(port: number): Promise<boolean> {
  try {
    await listenOnce(port);
    return true;
  } catch {
    return false;
  }
}

/** Sends one inline command over a raw socket; resolves with the first reply line. */
export function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("timeout"));
    }, timeoutMs);
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.connect(port, "127.0.0.1", () => socket.write(`${command}\r\n`));
    socket.on("data", (chunk) => {
      data += chunk.toString();
      if (data.includes("\r\n")) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.split("\r\n")[0] as string);
      }
    });
  });
}

/** Polls until `check` resolves truthy, or throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 10000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stops the process (SIGKILL when `hard`) and waits for it to exit. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and waits for PING. */
  start(): Promise<void>;
  readonly running: boolean;
}

/** Every redis-server child still running, with its folder; one hook kills them all (and removes the folders) if the process ends first. */
const live = new Map<ChildProcess, string>();
let exitHook = false;
function registerExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  const killAll = () => {
    for (const [child, dir] of live) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once("exit", killAll);
  // Interrupted (Ctrl-C, a CI cancel): kill the servers too, then die of the same signal. Only
  // when nobody else handles the signal, so a test runner's own handling stays as it was.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Starts a private redis-server on a free port. `args` are extra redis-server arguments. `config`,
 * when given, is the text of a config file written to the server's folder and passed first (a
 * sentinel needs a writable config file: pass `args: ["--sentinel"]` with it). `server: "valkey"`
 * starts valkey-server instead (same arguments).
 */
export async function startRedis(
  options: { args?: string[]; port?: number; withBus?: boolean; config?: string; server?: ServerKind } = {},
): Promise<RedisServer> {
  const { binary, env } = serverCommand(options.server ?? "redis");
  const name = `${options.server ?? "redis"}-server`;
  registerExitHook();
  const port = options.port ?? (await freePort(options.withBus ?? false));
  const dir = mkdtempSync(join(tmpdir(), "redis-session-store-"));
  let child: ChildProcess | undefined;
  const configFile = join(dir, "redis.conf");
  if (options.config !== undefined) writeFileSync(configFile, options.config);

  const start = async () => {
    const args = [
      ...(options.config !== undefined ? [configFile] : []),
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      ...(options.args ?? []),
    ];
    const spawned = spawn(binary, args, { stdio: "ignore", env });
    child = spawned;
    let exited = false;
    spawned.once("exit", () => {
      exited = true;
    });
    live.set(spawned, dir);
    spawned.once("exit", () => live.delete(spawned));
    // An exit ends the wait at once (a taken port fails fast instead of after the timeout).
    await waitFor(async () => exited || (await rawCommand(port, "PING")) === "+PONG", 10000, `${name} on port ${port}`);
    if (exited) throw new Error(`${name} on port ${port} exited at start (port taken?)`);
  };

  const stop = async (hard = false) => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve());
      running.kill(hard ? "SIGKILL" : "SIGTERM");
    });
  };

  try {
    await start();
  } catch (error) {
    await stop(true);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
  };
  return Object.assign(server, {
    stop: async (hard?: boolean) => {
      await stop(hard);
    },
  });
}

/** Removes a server's temporary folder after it has stopped. */
export function removeDir(server: RedisServer): void {
  rmSync(server.dir, { recursive: true, force: true });
}

/**
 * The Redis a test file should use: `REDIS_URL` when set (shared: tests then use their own
 * prefixes and never flush), else a private server of its own.
 */
export async function testRedis(): Promise<{ url: string; private: boolean; close(): Promise<void> }> {
  const shared = process.env.REDIS_URL;
  if (shared) return { url: shared, private: false, close: async () => undefined };
  const server = await startRedis();
  return {
    url: server.url,
    private: true,
    close: async () => {
      await server.stop();
      removeDir(server);
    },
  };
}
