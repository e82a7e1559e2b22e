export type { Serializer } from "./codec.js";
export type { Topology } from "./driver/driver.js";
export type { DecryptWithOption, Encryption, EncryptionAdapter, EncryptionKey, EncryptionOption } from "./encryption.js";
export type { SessionFields } from "./engine/fields.js";
export type { RotateProgress } from "./engine/rotate.js";
export {
  RedisSessionStoreError,
  RedisUnavailableError,
  SessionDecodeError,
  SessionEncodeError,
  SessionFieldsError,
  SessionNotFoundError,
  SessionTooLargeError,
  type UnavailableCode,
} from "./errors.js";
export type { Callback, RotateCall } from "./frameworks/calls.js";
export { type ActiveSession, RedisStore, type RedisStoreEvents, type SessionWithId, type UserSession } from "./frameworks/express.js";
export type { RedisClientLike, RedisStoreOptions, ResolvedOptions, TtlOption, UserIdResolver } from "./options.js";
