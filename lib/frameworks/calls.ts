/**
 * What every public method of an adapter shares: one way to report (a promise, and the optional
 * callback called exactly once, outside any try), and one template for bad arguments.
 */

import type { RotateOptions } from "../engine/rotate.js";
import type { SessionDecodeError } from "../errors.js";
import type { ResolvedOptions } from "../options.js";

/** The events a store emits (RedisStore, and the Koa and React Router stores), with their arguments. */
export interface RedisStoreEvents {
  /** The client is ready (again): express-session uses sessions. */
  connect: [];
  /** The client is not ready: express-session runs requests without a session instead of waiting. */
  disconnect: [];
  /** A stored value could not be read; that request gets no session. */
  decodeError: [error: SessionDecodeError];
  /** A save created a session (not with `userId: false` and no tombstones, whose plain SET can't tell). */
  created: [event: { id: string; userId: string | null }];
  /** The store destroyed a session: destroy(), destroyUserSessions(), the device limit, clear()'s signed-in sessions. */
  destroyed: [event: { id: string; userId: string | null; reason: string }];
  /** The device limit destroyed a session (besides its `destroyed` event). */
  evicted: [event: { id: string; userId: string }];
}

/** Node-style callback: called exactly once, outside any try and outside the promise chain. */
export type Callback<T = unknown> = (error?: unknown, value?: T) => void;

/** Settles a promise into an optional callback; with a callback the returned promise never rejects. */
export function settle<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> {
  if (typeof callback !== "function") return promise;
  return promise.then(
    (value) => {
      process.nextTick(callback, null, value);
      return value;
    },
    (error: unknown) => {
      process.nextTick(callback, error);
      return undefined as T;
    },
  );
}

/** Runs `fn` and turns a synchronous throw into a rejection, so every method reports through one path. */
export function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

function describe(given: unknown): string {
  if (typeof given === "string") return JSON.stringify(given.length > 64 ? `${given.slice(0, 64)}...` : given);
  if (typeof given === "number" || typeof given === "boolean") return String(given);
  if (given === null) return "null";
  if (Array.isArray(given)) return "an array";
  return typeof given === "object" ? "an object" : typeof given;
}

/** One template for every bad argument: package, argument, what was expected, what was given. */
export function argumentError(name: string, expected: string, given: unknown): TypeError {
  return new TypeError(`redis-session-store: argument "${name}" must be ${expected}, got ${describe(given)}`);
}

export function checkSid(sid: unknown, name = "sid"): string {
  if (typeof sid !== "string" || sid.length === 0) throw argumentError(name, "a non-empty string", sid);
  return sid;
}

export function checkUserId(userId: unknown): string {
  if (typeof userId === "number" && Number.isFinite(userId)) return String(userId);
  if (typeof userId === "bigint") return userId.toString();
  if (typeof userId !== "string" || userId.length === 0) throw argumentError("userId", "a non-empty string or a finite number", userId);
  return userId;
}

export function checkSeconds(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    throw argumentError(name, "a non-negative number of seconds", value);
  return value;
}

/** A sign-out reason, kept in the tombstone: a short non-empty string. */
export function checkReason(reason: unknown): string {
  if (typeof reason !== "string" || reason === "" || reason.length > 200) {
    throw argumentError("reason", "a non-empty string of at most 200 characters", reason);
  }
  return reason;
}

export function checkCount(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw argumentError(name, "a positive integer", value);
  return value;
}

/** What rotate() takes; `batch` defaults to scanCount. */
export interface RotateCall {
  /** Keys asked for per SCAN call, and so sessions per batch, about. @default scanCount */
  batch?: number;
  /** A `cursor` from an earlier rotate()'s progress, to carry on after it. */
  cursor?: string;
  /** Stops the rotation after the batch under way: rotate() then throws the signal's reason. */
  signal?: AbortSignal;
}

export function checkRotate(call: RotateCall, options: ResolvedOptions): RotateOptions {
  if (!options.encryption.readsEnvelopes) {
    throw new TypeError('redis-session-store: rotate() needs the "encryption" option (or "decryptWith", to write sessions plain again)');
  }
  if (call === null || typeof call !== "object") throw argumentError("options", "an object { batch?, cursor?, signal? }", call);
  const { cursor, signal } = call;
  if (cursor !== undefined && (typeof cursor !== "string" || cursor === ""))
    throw argumentError("cursor", "a cursor from rotate()'s progress", cursor);
  if (signal !== undefined && (signal === null || typeof (signal as { throwIfAborted?: unknown }).throwIfAborted !== "function")) {
    throw argumentError("signal", "an AbortSignal", signal);
  }
  return { batch: checkCount(call.batch ?? options.scanCount, "batch"), cursor, signal };
}
