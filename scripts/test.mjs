// `npm test`: every test file, in two passes. The failover files SIGKILL masters and time how the
// store follows the promotion; they run last and one at a time, so the rest of the suite (which
// starts its own clusters and sentinels) does not starve them of the machine's cores.
// Arguments are passed to both jest runs (`npm test -- --ci`).
import { spawnSync } from "node:child_process";

const jest = ["node_modules/jest/bin/jest.js"];
const args = process.argv.slice(2);
const run = (extra) => spawnSync(process.execPath, [...jest, ...extra, ...args], { stdio: "inherit" }).status ?? 1;

const first = run(["--testPathIgnorePatterns", "failover"]);
const second = run(["--runInBand", "--testPathPatterns", "failover"]);
process.exit(first || second);
