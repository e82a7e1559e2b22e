/**
 * Shared pieces of the benchmark: realistic sessions, a bounded-concurrency runner, timing,
 * medians and formatting.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";

export const DAY_MS = 86_400_000;

/** A realistic logged-in session, about 500 bytes as JSON (express-session cookie, passport, cart). */
export function makeSession(userId: string, now = Date.now()): Record<string, unknown> {
  return {
    cookie: {
      originalMaxAge: DAY_MS,
      expires: new Date(now + DAY_MS).toISOString(),
      httpOnly: true,
      path: "/",
    },
    passport: { user: userId },
    csrfSecret: "hX3kR9vQ2mLp7sWz4aBc1dEf",
    cart: {
      currency: "EUR",
      items: [
        { sku: "SKU-10293", name: "Cotton t-shirt, M", qty: 2, price: 19.9 },
        { sku: "SKU-55810", name: "Wool socks", qty: 1, price: 24.5 },
        { sku: "SKU-77412", name: "Canvas tote bag", qty: 1, price: 12 },
      ],
      coupon: null,
      updatedAt: new Date(now).toISOString(),
    },
    locale: "en-GB",
    lastPage: "/shop/checkout/shipping",
  };
}

/** A random session id like express-session's (24 random bytes, base64url). */
export function makeSid(): string {
  return randomBytes(24).toString("base64url");
}

/** Runs `task(i)` for i in [0, total) with at most `inFlight` calls pending at once. */
export async function runConcurrent(total: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
}

/** Milliseconds taken by `fn`. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export function median(values: readonly number[]): number {
  if (!values.length) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Rotates a list by `round`, so every contestant takes every position in turn. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function fmtRate(opsPerSec: number): string {
  if (!Number.isFinite(opsPerSec)) return "n/a";
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M/s`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k/s`;
  return `${opsPerSec.toFixed(1)}/s`;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "n/a";
  const sign = bytes < 0 ? "-" : "";
  const b = Math.abs(bytes);
  if (b >= 1024 ** 3) return `${sign}${(b / 1024 ** 3).toFixed(2)} GiB`;
  if (b >= 1024 ** 2) return `${sign}${(b / 1024 ** 2).toFixed(1)} MiB`;
  if (b >= 1024) return `${sign}${(b / 1024).toFixed(0)} KiB`;
  return `${sign}${b.toFixed(0)} B`;
}

export function fmtRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "n/a";
}

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Lets pending I/O and timers run (used between measured phases). */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return Math.floor(value);
}

export function envList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  return raw.split(",").map((part) => {
    const value = Number(part.trim().replace(/_/g, ""));
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`${name} must be a comma-separated list of positive integers, got ${JSON.stringify(raw)}`);
    return value;
  });
}
