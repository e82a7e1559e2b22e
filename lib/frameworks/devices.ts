/**
 * The device tracker: which requests want their session's device (user agent and IP) recorded, and
 * the stored form the store's next write carries. The device never goes into the session data: it
 * rides on the store's own writes (a save, or a touch that is sent: at most every touchAfter), and
 * Redis rewrites it only when it changed, so tracking adds no command to a request.
 */
import { type SeenDevice, serializeDevice } from "../device.js";
import { mark, markOf } from "./marks.js";

export interface DeviceTrackerOptions {
  /** Record devices of anonymous sessions too (only signed-in sessions by default). @default false */
  anonymous?: boolean;
}

/** A request as the tracker reads it: express's (`req.ip` honours `trust proxy`), or anything alike. */
interface RequestLike {
  ip?: string | undefined;
  socket?: { remoteAddress?: string | undefined } | undefined;
  headers?: Record<string, string | string[] | undefined>;
}

export function checkTrackerOptions(options: unknown, name: string): { anonymous: boolean } {
  if (options === undefined) return { anonymous: false };
  if (options === null || typeof options !== "object")
    throw new TypeError(`redis-session-store: ${name} must be an object, got ${options}`);
  const { anonymous = false, ...rest } = options as DeviceTrackerOptions;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new TypeError(`redis-session-store: unknown ${name} option "${unknown[0]}" (known: anonymous)`);
  if (typeof anonymous !== "boolean")
    throw new TypeError(`redis-session-store: ${name}.anonymous must be a boolean, got ${typeof anonymous}`);
  return { anonymous };
}

/** Device tracking without the per-user index, where its devices show: refused, naming `what`. */
export function needsIndex(what: string): TypeError {
  return new TypeError(
    `redis-session-store: ${what} needs the per-user index (its devices show in listUserSessions()): remove \`userId: false\``,
  );
}

/**
 * The `trackDevices` option of the Koa and React Router adapters: undefined when off, else the
 * tracker's options. It needs the per-user index, where the devices show.
 */
export function checkTrackDevices(value: unknown, indexOff: boolean): { anonymous: boolean } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (value === null || typeof value !== "object")) {
    throw new TypeError(`redis-session-store: option "trackDevices" must be a boolean or { anonymous }, got ${String(value)}`);
  }
  if (indexOff) throw needsIndex('option "trackDevices"');
  return checkTrackerOptions(value === true ? undefined : value, "trackDevices");
}

/** A device an app passes in (React Router's commitSession), checked. */
export function checkDevice(value: unknown, name: string): SeenDevice | undefined {
  if (value === undefined) return undefined;
  const { userAgent, ip } = (value ?? {}) as { userAgent?: unknown; ip?: unknown };
  if (value === null || typeof value !== "object" || typeof userAgent !== "string" || typeof ip !== "string") {
    throw new TypeError(`redis-session-store: ${name} must be { userAgent: string, ip: string }`);
  }
  return { userAgent, ip };
}

/** The device a request comes from. */
export function seenOn(req: RequestLike): SeenDevice {
  const agent = req.headers?.["user-agent"];
  return {
    userAgent: typeof agent === "string" ? agent : "",
    ip: req.ip ?? req.socket?.remoteAddress ?? "",
  };
}

/** The stored device for a write, or "" when nothing is to be recorded. */
export function deviceToRecord(device: SeenDevice | undefined, owner: string, anonymous: boolean): string {
  if (!device || (owner === "" && !anonymous)) return "";
  return serializeDevice(device);
}

/** Requests whose sessions the tracker follows, for express-session (its Session keeps `req`). */
export class TrackedRequests {
  /** This tracker's mark on a followed request (marks.ts). */
  readonly #mark = Symbol("redis-session-store: device tracked");

  /** Follows a request; `anonymous`: record its device even while the session has no owner. */
  follow(req: object, anonymous: boolean): void {
    mark(req, this.#mark, anonymous);
  }

  /** The stored device for a write of this session (express-session's Session), or "". */
  deviceOf(session: object, owner: string): string {
    const req = (session as { req?: unknown }).req;
    if (!req || typeof req !== "object") return "";
    const anonymous = markOf<boolean>(req, this.#mark);
    if (anonymous === undefined) return "";
    return deviceToRecord(seenOn(req as RequestLike), owner, anonymous);
  }
}
