/**
 * Device metadata kept beside a session (its info key, keys.ts): the user agent and IP the device
 * tracker saw, stored as a small JSON string, and the readable name a listing shows for them
 * ("Chrome on Windows", "Safari on iPhone"), made by bowser (MIT) when a listing reads it, so a
 * newer parser names old records better.
 */
import Bowser from "bowser";

/** What a stored device is sealed for, with encryption on (its envelope is bound to the session and this). */
export const DEVICE_PURPOSE = "device";

/** A device as listUserSessions() shows it. */
export interface Device {
  /** Readable: "Chrome on Windows", "Safari on iPhone"; "Unknown device" when the user agent says nothing known. */
  name: string;
  userAgent: string;
  ip: string;
}

/** What the tracker records of one request. */
export interface SeenDevice {
  userAgent: string;
  ip: string;
}

/** Longest user agent kept, in characters (real ones are under 400); a longer one is cut. */
export const MAX_USER_AGENT = 512;
/** Longest IP kept (an IPv6 address with a zone is under 64). */
const MAX_IP = 64;

/** The stored form of a device. */
export function serializeDevice(device: SeenDevice): string {
  return JSON.stringify({ ua: device.userAgent.slice(0, MAX_USER_AGENT), ip: device.ip.slice(0, MAX_IP) });
}

const names = new Map<string, string>();
/** Names kept per user agent: a listing of many sessions parses each distinct user agent once. */
const NAMES_KEPT = 1000;

/** A readable name for a user agent: browser "on" the device (iPhone, iPad) or operating system. */
export function deviceName(userAgent: string): string {
  const known = names.get(userAgent);
  if (known !== undefined) return known;
  let name = "Unknown device";
  if (userAgent.trim() !== "") {
    const parsed = Bowser.parse(userAgent);
    const browser = parsed.browser.name || "";
    const where = parsed.platform.model === "iPhone" || parsed.platform.model === "iPad" ? parsed.platform.model : parsed.os.name || "";
    name = browser && where ? `${browser} on ${where}` : browser || where || "Unknown device";
  }
  if (names.size >= NAMES_KEPT) names.clear();
  names.set(userAgent, name);
  return name;
}

/** A stored device, or null when there is none or it is not one this store wrote. */
export function parseDevice(stored: string | undefined): Device | null {
  if (stored === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return null;
  }
  const { ua, ip } = (parsed ?? {}) as { ua?: unknown; ip?: unknown };
  if (typeof ua !== "string" || typeof ip !== "string") return null;
  return { name: deviceName(ua), userAgent: ua, ip };
}
