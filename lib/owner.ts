/**
 * The owner of a session, as the per-user index keys it: the `userId` option's result as a string.
 * A number, a bigint or a MongoDB ObjectId (anything with toHexString()) is taken by its string
 * form; anything else leaves the session anonymous, with a one-time warning naming the option,
 * since it would otherwise vanish from the index without a word.
 */
let warned = false;

export function ownerOf(resolve: ((session: any) => unknown) | false, session: unknown): string {
  if (resolve === false) return "";
  const id = resolve(session);
  if (id === undefined || id === null || id === "") return "";
  if (typeof id === "string") return id;
  if (typeof id === "number" && Number.isFinite(id)) return String(id);
  if (typeof id === "bigint") return id.toString();
  if (typeof id === "object" && typeof (id as { toHexString?: unknown }).toHexString === "function") {
    const hex = (id as { toHexString(): unknown }).toHexString();
    if (typeof hex === "string" && hex !== "") return hex;
  }
  if (!warned) {
    warned = true;
    process.emitWarning(
      `redis-session-store: option "userId" returned ${describe(id)}, not a string, number, bigint or ObjectId: the session is saved, but left out of the per-user index`,
      { code: "REDIS_SESSION_STORE_USER_ID" },
    );
  }
  return "";
}

/**
 * The owner, or undefined when the resolver throws: for what a request loaded, whose owner only
 * decides whether a save may be a repeat save (the save itself calls the resolver again and reports).
 */
export function ownerIfResolved(resolve: ((session: any) => unknown) | false, session: unknown): string | undefined {
  try {
    return ownerOf(resolve, session);
  } catch {
    return undefined;
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return typeof value === "number" ? String(value) : `a ${typeof value}`;
}
