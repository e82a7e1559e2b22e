// One implementation, two entry points: the CommonJS build is the code; the ESM entry is a thin
// wrapper that re-exports it, so an app that both imports and requires the package gets the same
// classes (instanceof RedisUnavailableError holds across the two).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const tsc = (args) => execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", ...args], { stdio: "inherit" });

rmSync("dist", { recursive: true, force: true });
tsc(["-p", "tsconfig.build.json"]);
writeFileSync("dist/cjs/package.json", `${JSON.stringify({ type: "commonjs" })}\n`);

mkdirSync("dist/esm", { recursive: true });
writeFileSync("dist/esm/package.json", `${JSON.stringify({ type: "module" })}\n`);
const names = Object.keys(createRequire(import.meta.url)(resolve("dist/cjs/index.js"))).filter((name) => name !== "__esModule");
writeFileSync("dist/esm/index.js", `import cjs from "../cjs/index.js";\n\nexport const { ${names.join(", ")} } = cjs;\n`);
writeFileSync("dist/esm/index.d.ts", `export * from "../cjs/index.js";\n`);
