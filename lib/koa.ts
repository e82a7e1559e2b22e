// redis-session-store/koa: koa-session's external store.

export { RedisUnavailableError, SessionDecodeError, SessionEncodeError, SessionTooLargeError } from "./errors.js";
export { createKoaStore, type KoaSessionData, type KoaStore } from "./frameworks/koa.js";
export { RedisSessions, type RedisSessionsEvents, type RedisSessionsOptions } from "./frameworks/redis-sessions.js";
