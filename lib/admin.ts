// redis-session-store/admin: an admin page and JSON API for express (4 or 5) over a store's per-user index.

export type { AdminDevice, AdminSessionEntry, AdminStore } from "./admin/api.js";
export type { AdminRequest } from "./admin/http.js";
export { type AdminHandler, type AdminRouterOptions, adminRouter } from "./admin/router.js";
