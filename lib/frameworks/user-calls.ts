/**
 * The per-user calls every adapter offers, over the engine's index: arguments are checked by the
 * adapter, defaults and the index-off case are handled here once. With `userId: false` there is no
 * index: listings are empty and nothing is destroyed.
 */
import type { Engine } from "../engine/engine.js";
import type { ActiveSession, UserSession } from "../engine/user-index.js";
import { checkReason, checkSid } from "./calls.js";

export class UserCalls<S> {
  constructor(readonly engine: Engine<S>) {}

  list(userId: string): Promise<UserSession<S>[]> {
    return this.engine.users ? this.engine.users.sessions(userId, true) : Promise.resolve([]);
  }

  async count(userId: string): Promise<number> {
    return this.engine.users ? (await this.engine.users.sessions(userId, false)).length : 0;
  }

  async destroy(userId: string, options: { except?: string | string[]; reason?: string }): Promise<number> {
    if (options === null || typeof options !== "object") throw new TypeError('redis-session-store: argument "options" must be an object');
    const except = new Set(options.except === undefined ? [] : Array.isArray(options.except) ? options.except : [options.except]);
    for (const sid of except) checkSid(sid, "except");
    const reason = checkReason(options.reason ?? "signed-out-elsewhere");
    return (await this.engine.destroyUser(userId, except, reason)).length;
  }

  countActive(windowMs: number): Promise<number> {
    return this.engine.users ? this.engine.users.countActiveUsers(windowMs) : Promise.resolve(0);
  }

  listActive(windowMs: number): Promise<string[]> {
    return this.engine.users ? this.engine.users.listActiveUsers(windowMs) : Promise.resolve([]);
  }

  async *activeSessions(windowMs: number, pageSize: number): AsyncGenerator<ActiveSession<S>> {
    if (this.engine.users) yield* this.engine.users.activeSessions(windowMs, pageSize);
  }
}
