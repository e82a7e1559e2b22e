/**
 * How a client's failures become the store's errors. Losing Redis mid-call surfaces from a client as
 * several error classes (node-redis sets no `.name` on most) or as a raw socket error; a failover
 * as replies such as CLUSTERDOWN or READONLY. All of them become one RedisUnavailableError, with
 * the original as `cause`. Other replies (OOM, NOPERM, WRONGTYPE...) pass through, with the
 * script's SHA and Lua line taken out of their message: those mean nothing to an application. A
 * NOPERM also names what the store needs, so an ACL without scripting fails once, with the remedy.
 */
import { RedisUnavailableError } from "../errors.js";

const CONNECTION_ERRORS = new Set([
  "TimeoutError",
  "ClientClosedError",
  "ClientOfflineError",
  "SocketClosedUnexpectedlyError",
  "ConnectionTimeoutError",
  "SocketTimeoutError",
  "ReconnectStrategyError",
  "DisconnectsClientError",
  "MaxRetriesPerRequestError",
  "ClusterAllFailedError",
]);
/** Replies by which Redis says "not now" during a failover or a restart: the data is not there to serve. */
const NOT_SERVING = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY)/;
const CONNECTION_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTCONN", "ECONNABORTED"]);
const LOST =
  /^Socket closed unexpectedly|^The client is closed|^Connection timeout|^Disconnects client|ECONNRESET|ECONNREFUSED|EPIPE|Connection is closed/;
/** What every ACL denial is told: the store's needs (docs/operations.md#acls). */
const ACL_NEEDS =
  "redis-session-store needs +@read +@write +@scripting +time on its prefix and indexPrefix keys (with userId: false and tombstoneTtl 0 it sends no script, and needs no +@scripting); see docs/operations.md#acls";
/** ioredis's and iovalkey's words for a lost or absent connection (most are plain Errors). */
const IOREDIS_LOST =
  /^Command aborted due to connection close|^Connection is (aborted|discarded)|^Stream isn't writeable|^Cluster isn't ready|^Cluster is (disconnected|disconnecting|ended)|^None of startup nodes is available|^Node is disconnected|^Failed to refresh slots cache|^Too many Cluster redirections|^All sentinels are unreachable|^Socket timeout|^Reached the max retries per request limit/;
/** What Redis 7 and Valkey append to an error raised inside a script: the SHA and the Lua line. */
const SCRIPT_TRAILER = /(\s*script: \w+, on @user_script:\d+\.?|\s*script: \w+|@user_script:\d+:\s*)/g;

export function timedOut(ms: number): RedisUnavailableError {
  return new RedisUnavailableError(`redis-session-store: Redis did not answer within commandTimeout (${ms} ms)`, { code: "ETIMEDOUT" });
}

export function notReady(): RedisUnavailableError {
  return new RedisUnavailableError(
    "redis-session-store: Redis is not reachable: the client is not ready (call `await client.connect()` before serving requests, or wait for it to reconnect)",
    { code: "ENOTREADY" },
  );
}

export function rethrowTranslated(error: unknown): never {
  throw translate(error);
}

export function translate(error: unknown): unknown {
  // Duck-typed, not `instanceof Error`: socket errors may come from another realm (vm contexts, jest).
  if (error === null || typeof error !== "object" || error instanceof RedisUnavailableError) return error;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  const text = typeof message === "string" ? message : "";
  if (NOT_SERVING.test(text)) {
    return new RedisUnavailableError(`redis-session-store: Redis is not serving this key right now (${clean(text)})`, {
      cause: error,
      code: "ENOTSERVING",
    });
  }
  const kind = (error as object).constructor?.name ?? "";
  if (
    CONNECTION_ERRORS.has(kind) ||
    (typeof name === "string" && CONNECTION_ERRORS.has(name)) ||
    (typeof code === "string" && CONNECTION_CODES.has(code)) ||
    LOST.test(text) ||
    IOREDIS_LOST.test(text)
  ) {
    return new RedisUnavailableError(`redis-session-store: lost the connection to Redis (${text})`, { cause: error });
  }
  SCRIPT_TRAILER.lastIndex = 0;
  const denied = text.startsWith("NOPERM") && !text.includes(ACL_NEEDS);
  if (error instanceof Error && (denied || SCRIPT_TRAILER.test(text))) {
    SCRIPT_TRAILER.lastIndex = 0;
    try {
      // The class and the reply's own words stay (callers match on "NOPERM"); the remedy follows.
      error.message = denied ? `${clean(text)}: ${ACL_NEEDS}` : clean(text);
    } catch {
      // a frozen error keeps its message
    }
  }
  return error;
}

function clean(message: string): string {
  SCRIPT_TRAILER.lastIndex = 0;
  return message.replace(SCRIPT_TRAILER, "").trim();
}
