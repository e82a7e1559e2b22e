// koa-redis 4 ships no types: the part the bench uses.
declare module "koa-redis" {
  import type { EventEmitter } from "node:events";

  interface KoaRedisStore extends EventEmitter {
    get(sid: string): Promise<unknown>;
    set(sid: string, session: unknown, maxAge?: number): Promise<void>;
    destroy(sid: string): Promise<void>;
    quit(): Promise<void>;
  }

  /** Its own ioredis 4 client, from `url` (other options go to ioredis). */
  export default function redisStore(options?: { url?: string; [option: string]: unknown }): KoaRedisStore;
}
