/**
 * The little HTTP the admin router needs, on Node's own request and response, so it mounts in
 * express 4 and 5 (and anything that passes (req, res, next)) without importing a framework:
 * answers with their security headers, the JSON body (read here unless a body parser already did),
 * and the same-origin check that guards every state change.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** What the router reads of a request: Node's, plus what express adds when it is there. */
export interface AdminRequest extends IncomingMessage {
  /** The path the router is mounted at (express); "" elsewhere. */
  baseUrl?: string;
  /** A body an earlier parser read (express.json()). */
  body?: unknown;
}

/** An answer that says why: `status` and the message sent as `{ error }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The page's policy: scripts, styles and requests only from this origin; no frames, no plugins, no inline code. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Sent on every answer: nothing cached (session lists are personal data), nothing sniffed, nothing framed. */
function secure(res: ServerResponse): void {
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Content-Security-Policy", CSP);
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  secure(res);
  for (const [name, header] of Object.entries(headers)) res.setHeader(name, header);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

export function sendText(res: ServerResponse, type: string, body: string): void {
  secure(res);
  res.statusCode = 200;
  res.setHeader("Content-Type", `${type}; charset=utf-8`);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

/** The largest JSON body the API reads: a reason and a few ids. */
const MAX_BODY = 16 * 1024;

/**
 * The request's JSON object: what express.json() parsed, else read from the stream here. An empty
 * body is `{}`; anything but a JSON object is a 400 (or 415 for another content type).
 */
export async function readJson(req: AdminRequest): Promise<Record<string, unknown>> {
  // body-parser marks a body it read with `_body`; express 4's parsers also set `req.body = {}` on
  // requests they skipped, whose stream is still unread.
  const parsed = (req as { _body?: unknown })._body === true;
  let value: unknown;
  if (parsed) {
    value = req.body ?? {};
  } else {
    const text = await readText(req);
    if (text.trim() === "") return {};
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json") throw new HttpError(415, 'the body must be JSON (header "Content-Type: application/json")');
    try {
      value = JSON.parse(text);
    } catch {
      throw new HttpError(400, "the body is not valid JSON");
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new HttpError(400, "the body must be a JSON object");
  return value as Record<string, unknown>;
}

function readText(req: IncomingMessage): Promise<string> {
  if (req.readableEnded) return Promise.resolve("");
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        failed = true;
        reject(new HttpError(413, `the body is larger than ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => {
      if (!failed) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.once("error", (error) => {
      if (!failed) reject(error);
    });
  });
}

/**
 * A state change must come from a page of this origin: `Sec-Fetch-Site: same-origin` when the
 * browser sends it, and an `Origin` whose host is the request's `Host` (or one of `allowed`). A
 * request with neither header is refused too: a script that signs users out sends its `Origin`.
 */
export function sameOrigin(req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  const site = single(req.headers["sec-fetch-site"]);
  if (site !== undefined && site !== "same-origin") return false;
  const origin = single(req.headers.origin);
  if (origin === undefined) return site === "same-origin";
  if (allowed.has(origin)) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host === req.headers.host;
  } catch {
    return false; // "null" (a sandboxed frame, a file) or garbage
  }
}

function single(header: string | string[] | undefined): string | undefined {
  return Array.isArray(header) ? header[0] : header;
}
