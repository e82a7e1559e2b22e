import type { SessionData } from "express-session";

/** Turns a session into the string stored in Redis and back; connect-redis's shape. */
export interface Serializer {
  /** May return a Promise: the store awaits it everywhere, all() included. */
  parse(text: string): SessionData | Promise<SessionData>;
  stringify(session: SessionData): string;
}

/** The default: JSON itself, so `store.serializer === JSON` as in connect-redis. */
export const JSON_SERIALIZER: Serializer = JSON;
