/**
 * A real headless Chromium for the tests that drive pages as a person would: Debian's `chromium`
 * package (or CHROMIUM_PATH), driven by playwright-core, which downloads no browser of its own.
 * When there is no Chromium, launching fails with one line saying how to get one, as a missing
 * redis-server does (./redis-server.ts). Also: the demo app as `npm run demo` starts it, and the
 * folder the screenshots go to.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { freePort, waitFor } from "./redis-server";

const root = join(__dirname, "..", "..");

export const CHROMIUM_HINT =
  "Chromium was not found for the browser tests: install it (Debian/Ubuntu, as root: apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary";

/** An error that jest prints as its message alone: the hint is the whole story, a stack adds nothing. */
function oneLine(message: string): Error {
  const error = new Error(message);
  error.stack = message;
  return error;
}

/** Launches headless Chromium, or throws one line saying how to install it. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw oneLine(CHROMIUM_HINT);
  return chromium.launch({ executablePath, headless: true });
}

/** Where the browser tests save their screenshots (git-ignored), created on first use. */
export function screenshotPath(name: string): string {
  const dir = join(root, "test-results", "screenshots");
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export interface Demo {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** What the demo wrote to stderr so far (shown when a test fails). */
  readonly stderr: () => string;
  /** SIGTERM, and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts examples/demo.ts as `npm run demo` runs it, on a free port, against `redisUrl`; resolves once it answers. */
export async function startDemo(redisUrl: string): Promise<Demo> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "examples/demo.ts"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  try {
    // An exit ends the wait at once, as a redis-server's does in ./redis-server.ts.
    await waitFor(async () => child.exitCode !== null || (await fetch(url)).status === 200, 30_000, `the demo on port ${port}`);
    if (child.exitCode !== null) throw new Error("the demo exited at start");
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; the demo said: ${stderr || "nothing"}`);
  }
  return { url, stderr: () => stderr, stop };
}
