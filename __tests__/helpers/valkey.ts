/**
 * Where the tests' valkey-server is. `npm test` (scripts/test.mjs) finds or fetches it once and
 * passes it down in VALKEY_SERVER, VALKEY_CLI and VALKEY_LD_LIBRARY_PATH; a jest run started by hand
 * asks scripts/valkey.mjs itself (PATH, then the .cache/valkey/ cache, then a fetch).
 * SKIP_VALKEY=1 leaves the Valkey suites out.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export interface ValkeyBinaries {
  server: string;
  cli: string;
  /** Extra LD_LIBRARY_PATH for libraries fetched beside the binary ("" when none). */
  libraryPath: string;
}

/** False when SKIP_VALKEY=1: the Valkey suites are left out. */
export const VALKEY_ENABLED = process.env.SKIP_VALKEY !== "1";

let found: ValkeyBinaries | undefined;

export function valkeyBinaries(): ValkeyBinaries {
  if (found) return found;
  const { VALKEY_SERVER, VALKEY_CLI, VALKEY_LD_LIBRARY_PATH } = process.env;
  if (VALKEY_SERVER) {
    found = { server: VALKEY_SERVER, cli: VALKEY_CLI || "valkey-cli", libraryPath: VALKEY_LD_LIBRARY_PATH ?? "" };
    return found;
  }
  try {
    const out = execFileSync(process.execPath, [join(__dirname, "..", "..", "scripts", "valkey.mjs")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    found = JSON.parse(out) as ValkeyBinaries;
    return found;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new Error(stderr || (error as Error).message);
  }
}

/** The environment a Valkey binary runs with (its fetched libraries first). */
export function valkeyEnv(binaries: ValkeyBinaries): NodeJS.ProcessEnv {
  if (!binaries.libraryPath) return process.env;
  const inherited = process.env.LD_LIBRARY_PATH;
  return { ...process.env, LD_LIBRARY_PATH: inherited ? `${binaries.libraryPath}:${inherited}` : binaries.libraryPath };
}
