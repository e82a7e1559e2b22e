export type { SessionWithId } from "./bulk.js";
export {
  RedisSessionStoreError,
  RedisUnavailableError,
  SessionDecodeError,
  SessionEncodeError,
  SessionTooLargeError,
} from "./errors.js";
export type { RedisStoreOptions, ResolvedOptions, TtlOption, UserIdResolver } from "./options.js";
export type { Topology } from "./redis.js";
export type { Serializer } from "./serializer.js";
export { type Callback, RedisStore } from "./store.js";
export type { ActiveSession, UserSession } from "./user-index.js";
