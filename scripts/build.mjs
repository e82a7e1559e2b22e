// One implementation, two formats: the CommonJS build is the code; each ESM entry is a thin wrapper
// that re-exports it, so an app that both imports and requires the package gets the same classes
// (instanceof RedisUnavailableError holds across the two).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

/** The package's entry points (package.json "exports"): ".", "./koa", "./react-router", "./admin". */
const ENTRIES = ["index", "koa", "react-router", "admin"];

const tsc = (args) => execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", ...args], { stdio: "inherit" });

rmSync("dist", { recursive: true, force: true });
tsc(["-p", "tsconfig.build.json"]);
writeFileSync("dist/cjs/package.json", `${JSON.stringify({ type: "commonjs" })}\n`);

mkdirSync("dist/esm", { recursive: true });
writeFileSync("dist/esm/package.json", `${JSON.stringify({ type: "module" })}\n`);
const require = createRequire(import.meta.url);
for (const entry of ENTRIES) {
  // Loading an entry needs its framework (a devDependency here) only to list the export names.
  const names = Object.keys(require(resolve(`dist/cjs/${entry}.js`))).filter((name) => name !== "__esModule");
  writeFileSync(`dist/esm/${entry}.js`, `import cjs from "../cjs/${entry}.js";\n\nexport const { ${names.join(", ")} } = cjs;\n`);
  writeFileSync(`dist/esm/${entry}.d.ts`, `export * from "../cjs/${entry}.js";\n`);
}
