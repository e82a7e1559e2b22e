/**
 * adminRouter(store, { authorize }): a (req, res, next) handler that routes itself, so express 4
 * and 5 mount it with `app.use("/admin/sessions", adminRouter(store, { authorize }))` and the
 * package imports nothing of express. Every request is authorized first; a state change (POST,
 * DELETE) must also come from this origin. Paths it does not know go to `next()`.
 *
 *   GET    /                                  the page (HTML; its script and stylesheet below)
 *   GET    /admin.js, /admin.css, /icon.svg
 *   GET    /api/users/:userId/sessions        a user's sessions, with metadata
 *   POST   /api/users/:userId/sign-out        { reason?, except? }: sign the user out everywhere
 *   POST   /api/sessions/:sid/sign-out        { reason? }: one session (DELETE /api/sessions/:sid too)
 *   GET    /api/active-users?within=&limit=
 *   GET    /api/active-sessions?within=&limit=
 */
import type { ServerResponse } from "node:http";
import { RedisUnavailableError } from "../errors.js";
import { optionError } from "../options.js";
import { AdminApi, type AdminStore, idParameter } from "./api.js";
import { type AdminRequest, HttpError, sameOrigin, sendJson, sendText } from "./http.js";
import { ADMIN_CSS, ADMIN_ICON, ADMIN_JS, adminHtml } from "./page.js";

export interface AdminRouterOptions<Req extends AdminRequest = AdminRequest> {
  /**
   * Decides, for every request to the router, whether it comes from an admin: true lets it through,
   * false answers 403. May be async. Anything but a boolean answers 500 and goes to `onError`. A throw answers 500 (its message is not sent) and goes to `onError`.
   */
  authorize: (req: Req) => boolean | Promise<boolean>;
  /**
   * Origins besides the request's own host that may change state, such as "https://admin.example.com"
   * behind a proxy that rewrites `Host`. @default []
   */
  allowedOrigins?: readonly string[];
  /** Hears every error answered with a 500 or 503 (a throwing `authorize`, a Redis error). @default console.error */
  onError?: (error: unknown, req: Req) => void;
}

/** What adminRouter returns: an express-compatible middleware. */
export type AdminHandler<Req extends AdminRequest = AdminRequest> = (
  req: Req,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

const KNOWN = new Set(["authorize", "allowedOrigins", "onError"]);

type Route = (req: AdminRequest, res: ServerResponse, query: URLSearchParams) => Promise<void> | void;

/**
 * The admin router: a JSON API and a page to find a user's sessions and sign them out. `store` is a
 * RedisStore (or the `store` of the Koa and React Router adapters) with its per-user index on.
 */
export function adminRouter<Req extends AdminRequest = AdminRequest>(
  store: AdminStore,
  options: AdminRouterOptions<Req>,
): AdminHandler<Req> {
  if (store === null || typeof store !== "object" || typeof store.listUserSessions !== "function") {
    throw new TypeError(`redis-session-store: adminRouter's argument "store" must be a RedisStore, got ${typeof store}`);
  }
  if (store.options?.userId === false) {
    throw new TypeError("redis-session-store: adminRouter needs the per-user index: the store was made with `userId: false`");
  }
  if (options === null || typeof options !== "object")
    throw optionError("authorize", "a function (req) => boolean | Promise<boolean>", undefined);
  for (const name of Object.keys(options)) {
    if (!KNOWN.has(name))
      throw new TypeError(`redis-session-store: unknown adminRouter option "${name}" (known: ${[...KNOWN].join(", ")})`);
  }
  const { authorize } = options;
  if (typeof authorize !== "function") throw optionError("authorize", "a function (req) => boolean | Promise<boolean>", authorize);
  const allowed = new Set(checkOrigins(options.allowedOrigins ?? []));
  const onError = options.onError ?? ((error: unknown) => console.error("redis-session-store admin:", error));
  if (typeof onError !== "function") throw optionError("onError", "a function (error, req) => void", onError);

  const api = new AdminApi(store);
  const page = (req: AdminRequest, res: ServerResponse) => sendText(res, "text/html", adminHtml(req.baseUrl ?? ""));

  /** The route for a method and path, null when the path is not ours, or an HttpError (405) when the method is wrong. */
  const route = (method: string, path: string[]): Route | HttpError | null => {
    const get = (handler: Route) => (method === "GET" || method === "HEAD" ? handler : notAllowed("GET, HEAD"));
    const [first, second, third, fourth, ...rest] = path;
    if (path.length === 0) return get(page);
    if (path.length === 1 && first === "admin.js") return get((_req, res) => sendText(res, "text/javascript", ADMIN_JS));
    if (path.length === 1 && first === "admin.css") return get((_req, res) => sendText(res, "text/css", ADMIN_CSS));
    if (path.length === 1 && first === "icon.svg") return get((_req, res) => sendText(res, "image/svg+xml", ADMIN_ICON));
    if (first !== "api" || rest.length > 0) return null;
    if (second === "users" && third !== undefined && fourth === "sessions") {
      return get((_req, res) => api.userSessions(res, idParameter("userId", third)));
    }
    if (second === "users" && third !== undefined && fourth === "sign-out") {
      return method === "POST" ? (req, res) => api.signOutUser(req, res, idParameter("userId", third)) : notAllowed("POST");
    }
    if (second === "sessions" && third !== undefined && fourth === "sign-out") {
      return method === "POST" ? (req, res) => api.signOutSession(req, res, idParameter("sid", third)) : notAllowed("POST");
    }
    if (second === "sessions" && third !== undefined && fourth === undefined) {
      return method === "DELETE" ? (req, res) => api.signOutSession(req, res, idParameter("sid", third)) : notAllowed("DELETE");
    }
    if (second === "active-users" && third === undefined) return get((_req, res, query) => api.activeUsers(res, query));
    if (second === "active-sessions" && third === undefined) return get((_req, res, query) => api.activeSessions(res, query));
    return new HttpError(404, "no such admin API path");
  };

  return (req, res, next) => {
    const url = new URL(req.url ?? "/", "http://admin.invalid");
    // Segments stay encoded here: an id may hold a "/" (as %2F); handlers decode their own.
    const path = url.pathname.split("/").filter((segment) => segment !== "");
    const method = (req.method ?? "GET").toUpperCase();
    const found = route(method, path);
    if (found === null) {
      next();
      return;
    }
    void (async () => {
      try {
        const verdict = await authorize(req);
        // Fails closed, and says so: a forgotten `return` or a user object is a bug to hear of, not a pass.
        if (typeof verdict !== "boolean") {
          const given = verdict === null ? "null" : typeof verdict === "object" ? "an object" : String(verdict);
          throw new TypeError(`redis-session-store: option "authorize" must return true or false (or a promise of one), got ${given}`);
        }
        if (!verdict) throw new HttpError(403, "not authorized");
        if (found instanceof HttpError) throw found;
        if (method !== "GET" && method !== "HEAD" && !sameOrigin(req, allowed)) {
          throw new HttpError(403, "cross-origin request refused: a change must come from this site's own pages");
        }
        await found(req, res, url.searchParams);
      } catch (error) {
        answerError(req, res, error);
      }
    })();
  };

  function answerError(req: Req, res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      onError(error, req);
      res.destroy();
      return;
    }
    if (error instanceof HttpError) {
      sendJson(res, error.status, { error: error.message }, error.headers);
    } else if (error instanceof RedisUnavailableError) {
      onError(error, req);
      sendJson(res, 503, { error: "the session store is unavailable; try again shortly" });
    } else if (error instanceof TypeError && /^redis-session-store: argument "(\w+)"/.test(error.message)) {
      // The store refused an argument the API passed on (a reason, an id): the caller's input.
      sendJson(res, 400, { error: error.message.replace(/^redis-session-store: argument/, "parameter") });
    } else {
      onError(error, req);
      sendJson(res, 500, { error: "internal error" });
    }
  }
}

function notAllowed(allow: string): HttpError {
  return new HttpError(405, `method not allowed here; use ${allow}`, { Allow: allow });
}

function checkOrigins(origins: readonly string[]): string[] {
  if (!Array.isArray(origins)) throw optionError("allowedOrigins", 'an array of origins such as "https://admin.example.com"', origins);
  return origins.map((origin) => {
    let parsed: URL | undefined;
    try {
      parsed = typeof origin === "string" ? new URL(origin) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw optionError("allowedOrigins", 'an array of origins such as "https://admin.example.com" (scheme, host, port; no path)', origin);
    }
    return origin;
  });
}
