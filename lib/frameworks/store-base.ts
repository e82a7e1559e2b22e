/**
 * The class a RedisStore extends: express-session's `Store` where express-session is installed (so
 * `instanceof Store` holds and express-session's own regenerate/load/createSession run), else a
 * small EventEmitter with the same three methods, so apps without express-session (Fastify, a
 * script) can import the package. express-session is an optional peer: it is required here, once,
 * at load time, and only its absence is forgiven; any other error while loading it is thrown.
 */
import { EventEmitter } from "node:events";
import type { Store } from "express-session";

type Callback = (error?: unknown, value?: unknown) => void;

interface StoreLike extends EventEmitter {
  get(sid: string, callback: Callback): unknown;
  destroy(sid: string, callback: Callback): unknown;
  generate?: (req: unknown) => void;
}

/** express-session's Store, as it behaves without express-session, with the same three methods. */
class FallbackStore extends EventEmitter {
  /** Destroys the request's session and lets express-session's `generate` make a new one. */
  regenerate(req: { sessionID: string }, fn: Callback): void {
    const self = this as unknown as StoreLike;
    self.destroy(req.sessionID, (error) => {
      self.generate?.(req);
      fn(error);
    });
  }

  /** Loads a session and passes it through createSession, as express-session's Store does. */
  load(sid: string, fn: Callback): void {
    (this as unknown as StoreLike).get(sid, (error, session) => {
      if (error) return fn(error);
      if (!session) return fn();
      fn(null, this.createSession({ sessionID: sid, sessionStore: this }, session as Record<string, unknown>));
    });
  }

  /** Without express-session there is no Session class: the data itself is the session, its expiry a Date. */
  createSession(req: { session?: unknown; sessionID?: string; sessionStore?: unknown }, session: Record<string, unknown>): unknown {
    const cookie = session.cookie as { expires?: unknown } | undefined;
    if (cookie && typeof cookie.expires === "string") cookie.expires = new Date(cookie.expires);
    req.session = session;
    return session;
  }
}

function loadStore(): typeof Store {
  try {
    return require("express-session").Store as typeof Store;
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "MODULE_NOT_FOUND" && /['"]express-session['"]/.test(String(error));
    if (!missing) throw error;
    return FallbackStore as unknown as typeof Store;
  }
}

/** express-session's Store when it is installed, else a stand-in with the same behaviour. */
export const StoreBase: typeof Store = loadStore();
