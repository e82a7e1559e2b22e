// `npm test`: every test file, in two passes. The failover files SIGKILL masters and time how the
// store follows the promotion; they run last and one at a time, so the rest of the suite (which
// starts its own clusters and sentinels) does not starve them of the machine's cores.
// Arguments are passed to both jest runs (`npm test -- --ci`).
//
// Valkey is found (or fetched into .cache/valkey/) once, here, and handed to jest in VALKEY_SERVER,
// VALKEY_CLI and VALKEY_LD_LIBRARY_PATH; when it cannot be had the run stops with one line saying
// how to get it. SKIP_VALKEY=1 leaves the Valkey suites out, and the last line says so.
import { spawnSync } from "node:child_process";
import { ensureValkey } from "./valkey.mjs";

const skipValkey = process.env.SKIP_VALKEY === "1";
const env = { ...process.env };
if (!skipValkey) {
  try {
    const valkey = ensureValkey();
    Object.assign(env, { VALKEY_SERVER: valkey.server, VALKEY_CLI: valkey.cli, VALKEY_LD_LIBRARY_PATH: valkey.libraryPath });
    console.log(`Valkey for the tests: ${valkey.server} (${valkey.version.split(" ").slice(0, 3).join(" ")}, from ${valkey.source})`);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

const jest = ["node_modules/jest/bin/jest.js"];
const args = process.argv.slice(2);
const run = (extra) => spawnSync(process.execPath, [...jest, ...extra, ...args], { stdio: "inherit", env }).status ?? 1;

const first = run(["--testPathIgnorePatterns", "failover"]);
const second = run(["--runInBand", "--testPathPatterns", "failover"]);
if (skipValkey) console.log("Valkey suites skipped (SKIP_VALKEY=1): the contract suite ran on Redis only");
process.exit(first || second);
