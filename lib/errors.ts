/** Base class of every error the store raises itself; Redis errors reach the caller unchanged. */
export class RedisSessionStoreError extends Error {
  override name = "RedisSessionStoreError";
}

export type UnavailableCode = "ECONNREFUSED" | "ETIMEDOUT" | "ENOTREADY" | "ENOTSERVING";

/**
 * Redis could not be reached: the client is not ready (disconnected, reconnecting, never connected)
 * or a command took longer than `commandTimeout`. Raised at once instead of queueing, so no request waits.
 */
export class RedisUnavailableError extends RedisSessionStoreError {
  override name = "RedisUnavailableError";
  /**
   * Why: "ENOTREADY" the client is not ready (never connected, or reconnecting); "ETIMEDOUT" Redis did
   * not answer within commandTimeout; "ENOTSERVING" Redis answered that it cannot serve the key now
   * (CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, READONLY during a failover); "ECONNREFUSED" the
   * connection was lost.
   */
  readonly code: UnavailableCode;
  constructor(message: string, options?: { cause?: unknown; code?: UnavailableCode }) {
    super(message, options);
    this.code = options?.code ?? "ECONNREFUSED";
  }
}

/** A stored value could not be parsed, or parsed to something that is not a session object. */
export class SessionDecodeError extends RedisSessionStoreError {
  override name = "SessionDecodeError";
  constructor(
    message: string,
    /** The session id whose value is unreadable. */
    readonly sessionId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The serializer threw while turning a session into a string; nothing was written. */
export class SessionEncodeError extends RedisSessionStoreError {
  override name = "SessionEncodeError";
}

/** The serialized session is larger than `maxSessionSize`; nothing was written. */
export class SessionTooLargeError extends RedisSessionStoreError {
  override name = "SessionTooLargeError";
}

/** A write to a session's fields found no session: it was never saved, or it is gone (expired, destroyed). */
export class SessionNotFoundError extends RedisSessionStoreError {
  override name = "SessionNotFoundError";
  constructor(
    message: string,
    /** The session id that has no session. */
    readonly sessionId: string,
  ) {
    super(message);
  }
}

/** A session's fields would break a limit (maxFields, maxFieldSize), or an increment met a value that is no integer. */
export class SessionFieldsError extends RedisSessionStoreError {
  override name = "SessionFieldsError";
}
