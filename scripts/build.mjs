// Dual build: CommonJS (package type) and ESM, each with its own declarations.
// The ESM tree gets a package.json of {"type":"module"} so Node and TypeScript read its .js/.d.ts as ESM.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";

const tsc = (args) => execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", ...args], { stdio: "inherit" });

rmSync("dist", { recursive: true, force: true });
tsc(["-p", "tsconfig.build.json"]);
tsc(["-p", "tsconfig.build.json", "--module", "ES2022", "--moduleResolution", "Bundler", "--outDir", "dist/esm"]);
mkdirSync("dist/esm", { recursive: true });
writeFileSync("dist/esm/package.json", `${JSON.stringify({ type: "module" })}\n`);
writeFileSync("dist/cjs/package.json", `${JSON.stringify({ type: "commonjs" })}\n`);
