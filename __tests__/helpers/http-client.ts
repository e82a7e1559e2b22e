/**
 * A minimal HTTP client for tests that need control over timing: one fresh TCP connection per
 * request, a cookie jar per "device", and a hard bound after which a request counts as unanswered
 * (it never rejects: every outcome is a value the test can assert on).
 */
import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface HttpOutcome {
  /** 0 when there was no HTTP answer (connection error, reset, or no answer within the bound). */
  status: number;
  body: string;
  /** The parsed body when it is JSON. */
  json: any;
  /** Set when there was no HTTP answer. */
  error?: Error;
  /** Milliseconds from sending to the end of the answer (or to the failure). */
  ms: number;
}

/** A cookie jar for one client ("device"): keeps the cookies the server sets. */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  header(): string | undefined {
    if (!this.cookies.size) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  store(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const pair = line.split(";")[0] ?? "";
      const eq = pair.indexOf("=");
      if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
}

export interface SendOptions {
  jar?: CookieJar;
  /** No answer after this many ms: the request is destroyed and reported with status 0. */
  boundMs?: number;
  body?: unknown;
  /** Extra request headers (e.g. user-agent). */
  headers?: Record<string, string>;
}

/** Sends one request to 127.0.0.1:port and resolves with its outcome; never rejects. */
export function send(port: number, method: string, path: string, options: SendOptions = {}): Promise<HttpOutcome> {
  const started = Date.now();
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<HttpOutcome, "ms">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, ms: Date.now() - started });
    };
    const headers: Record<string, string> = { ...options.headers };
    const cookie = options.jar?.header();
    if (cookie) headers.cookie = cookie;
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", (error) => finish({ status: 0, body: "", json: undefined, error }));
      res.on("end", () => {
        options.jar?.store(res.headers["set-cookie"]);
        const body = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        finish({ status: res.statusCode ?? 0, body, json });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({ status: 0, body: "", json: undefined, error: new Error(`no answer within ${options.boundMs} ms`) });
    }, options.boundMs ?? 30000);
    req.on("error", (error) => finish({ status: 0, body: "", json: undefined, error }));
    req.end(payload);
  });
}

/** A resolvable promise, for routes that wait for the test to let them go on. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Starts an app on a free port of 127.0.0.1. */
export function listen(app: {
  listen: (port: number, host: string, ready: () => void) => Server;
}): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}

/** Closes a server and every connection still open on it. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
