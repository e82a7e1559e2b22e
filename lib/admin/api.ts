/**
 * The admin JSON API over a store's per-user calls. Each handler checks its input (a 400 names the
 * parameter), makes one store call and answers with metadata only: ids, dates and the device, never
 * the session data, which holds what the app keeps there (tokens, CSRF secrets, personal data) and
 * which no admin screen needs.
 */
import type { ServerResponse } from "node:http";
import { ownerOf } from "../owner.js";
import { type AdminRequest, HttpError, readJson, sendJson } from "./http.js";

/** A device, as the store records it beside a session (see RedisStore#deviceTracker). */
export interface AdminDevice {
  name: string;
  userAgent: string;
  ip: string;
}

/** What the API reads of one of a user's sessions. */
export interface AdminSessionEntry {
  id: string;
  expiresAt: Date | null;
  lastActive: Date | null;
  createdAt: Date | null;
  device: AdminDevice | null;
}

/** What the admin router needs of a store: RedisStore, or the Koa and React Router stores' `store`. */
export interface AdminStore {
  readonly options: { readonly userId: ((session: any) => unknown) | false };
  get(sid: string): Promise<unknown>;
  destroy(sid: string, options: { reason: string }): Promise<void>;
  listUserSessions(userId: string): Promise<AdminSessionEntry[]>;
  destroyUserSessions(userId: string, options: { except?: string[]; reason: string }): Promise<number>;
  countActiveUsers(withinSeconds: number): Promise<number>;
  listActiveUsers(withinSeconds: number): Promise<string[]>;
  listActiveSessions(
    withinSeconds: number,
    options?: { pageSize?: number },
  ): AsyncIterable<{ id: string; session: unknown; lastActive: Date; expiresAt: Date | null } & Partial<AdminSessionEntry>>;
}

/** The reason a sign-out from the admin page leaves in the tombstone unless another is given. */
export const DEFAULT_REASON = "admin";
const MAX_ID = 1024;
const MAX_WITHIN = 366 * 24 * 3600;
const MAX_LIMIT = 1000;

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

function entry(s: AdminSessionEntry & { userId?: string | null }) {
  return {
    id: s.id,
    ...(s.userId !== undefined ? { userId: s.userId } : {}),
    createdAt: iso(s.createdAt),
    lastActive: iso(s.lastActive),
    expiresAt: iso(s.expiresAt),
    device: s.device ? { name: s.device.name, userAgent: s.device.userAgent, ip: s.device.ip } : null,
  };
}

/** A path segment, decoded: a non-empty id of at most 1024 characters. */
export function idParameter(name: string, raw: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `parameter "${name}" is not a valid URL-encoded string`);
  }
  if (value === "" || value.length > MAX_ID) throw new HttpError(400, `parameter "${name}" must be 1 to ${MAX_ID} characters`);
  return value;
}

function integerQuery(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new HttpError(400, `parameter "${name}" must be a whole number from 1 to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return Number(raw);
}

function reasonOf(body: Record<string, unknown>): string {
  const reason = body.reason ?? DEFAULT_REASON;
  if (typeof reason !== "string" || reason.trim() === "" || reason.length > 200) {
    throw new HttpError(400, 'parameter "reason" must be a non-empty string of at most 200 characters');
  }
  return reason.trim();
}

function exceptOf(body: Record<string, unknown>): string[] {
  const except = body.except ?? [];
  const list = Array.isArray(except) ? except : [except];
  if (!list.every((id) => typeof id === "string" && id !== "" && id.length <= MAX_ID)) {
    throw new HttpError(400, 'parameter "except" must be a session id or an array of session ids');
  }
  return list as string[];
}

export class AdminApi {
  constructor(readonly store: AdminStore) {}

  /** GET users/:userId/sessions: the user's live sessions, most recent activity first. */
  async userSessions(res: ServerResponse, userId: string): Promise<void> {
    const sessions = await this.store.listUserSessions(userId);
    sendJson(res, 200, { userId, sessions: sessions.map(entry) });
  }

  /** POST users/:userId/sign-out { reason?, except? }: every session of the user but `except`. */
  async signOutUser(req: AdminRequest, res: ServerResponse, userId: string): Promise<void> {
    const body = await readJson(req);
    const reason = reasonOf(body);
    const signedOut = await this.store.destroyUserSessions(userId, { except: exceptOf(body), reason });
    sendJson(res, 200, { userId, signedOut, reason });
  }

  /** POST sessions/:sid/sign-out or DELETE sessions/:sid { reason? }: one session; 404 when it is not live. */
  async signOutSession(req: AdminRequest, res: ServerResponse, sid: string): Promise<void> {
    const reason = reasonOf(await readJson(req));
    const session = await this.store.get(sid);
    // A session that is gone is not destroyed again: that would only leave a tombstone behind.
    if (session === null || session === undefined) throw new HttpError(404, "no live session has this id");
    const userId = ownerOf(this.store.options.userId, session) || null;
    await this.store.destroy(sid, { reason });
    sendJson(res, 200, { id: sid, userId, signedOut: true, reason });
  }

  /** GET active-users?within=&limit=: how many users were active in the window, and the most recent ones. */
  async activeUsers(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const within = integerQuery(query, "within", 300, MAX_WITHIN);
    const limit = integerQuery(query, "limit", 100, MAX_LIMIT);
    const [count, users] = await Promise.all([this.store.countActiveUsers(within), this.store.listActiveUsers(within)]);
    sendJson(res, 200, { within, count, users: users.slice(0, limit) });
  }

  /** GET active-sessions?within=&limit=: the sessions active in the window, newest first, with their owner. */
  async activeSessions(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const within = integerQuery(query, "within", 300, MAX_WITHIN);
    const limit = integerQuery(query, "limit", 100, MAX_LIMIT);
    const sessions: ReturnType<typeof entry>[] = [];
    for await (const s of this.store.listActiveSessions(within, { pageSize: Math.min(limit, 100) })) {
      const userId = ownerOf(this.store.options.userId, s.session) || null;
      sessions.push(entry({ ...s, createdAt: s.createdAt ?? null, device: s.device ?? null, userId }));
      if (sessions.length >= limit) break;
    }
    sendJson(res, 200, { within, sessions });
  }
}
