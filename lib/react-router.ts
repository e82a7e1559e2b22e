// redis-session-store/react-router: React Router's session storage.

export { RedisUnavailableError, SessionDecodeError, SessionEncodeError, SessionTooLargeError } from "./errors.js";
export { createRedisSessionStorage, type RedisSessionStorage, type RedisSessionStorageOptions } from "./frameworks/react-router.js";
export { RedisSessions, type RedisSessionsEvents, type RedisSessionsOptions } from "./frameworks/redis-sessions.js";
