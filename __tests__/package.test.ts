/**
 * The published package: `npm pack` it, unpack it into a fresh folder as node_modules would hold
 * it, and load it both ways: `import` (ESM) and `require` (CommonJS), each against a real Redis.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { testRedis } from "./helpers/redis-server";

const root = join(__dirname, "..");
let redis: Awaited<ReturnType<typeof testRedis>>;
let app: string;

beforeAll(async () => {
  redis = await testRedis();
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" });
  app = mkdtempSync(join(tmpdir(), "redis-session-store-pack-"));
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", app], { cwd: root, encoding: "utf8" })
    .trim()
    .split("\n")
    .pop() as string;
  const modules = join(app, "node_modules");
  mkdirSync(join(modules, "redis-session-store"), { recursive: true });
  execFileSync("tar", ["xzf", join(app, out), "-C", join(modules, "redis-session-store"), "--strip-components=1"]);
  // Peer dependencies come from this checkout, as an application would have installed them.
  for (const peer of ["redis", "@redis", "express-session"]) symlinkSync(join(root, "node_modules", peer), join(modules, peer));
  for (const dep of readdirSync(join(root, "node_modules"))) {
    if (["redis", "@redis", "express-session", ".bin"].includes(dep)) continue;
    // express-session's and redis's own dependencies (hoisted in this checkout).
    try {
      symlinkSync(join(root, "node_modules", dep), join(modules, dep));
    } catch {
      // already linked
    }
  }
}, 120_000);

afterAll(async () => {
  rmSync(app, { recursive: true, force: true });
  await redis.close();
});

const program = (load: string) => `
${load}
const { createClient } = require("redis");
(async () => {
  const client = createClient({ url: process.env.URL });
  await client.connect();
  const store = new RedisStore({ client, prefix: "pack-" + process.pid + ":" });
  await store.set("a", { cookie: { originalMaxAge: null }, userId: "u" });
  const got = await store.get("a");
  const listed = await store.listUserSessions("u");
  await store.clear();
  client.destroy();
  console.log(JSON.stringify({ got, listed: listed.map((s) => s.id), isStore: typeof store.regenerate }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

test("only dist, package.json, README and LICENSE are packed", () => {
  const files = execFileSync("tar", ["tzf", join(app, readdirSync(app).find((f) => f.endsWith(".tgz")) as string)], { encoding: "utf8" })
    .trim()
    .split("\n");
  expect(files.every((f) => /^package\/(dist\/|package\.json$|README\.md$|LICENSE$|MIGRATING\.md$)/.test(f))).toBe(true);
  expect(files).toContain("package/dist/cjs/index.js");
  expect(files).toContain("package/dist/cjs/index.d.ts");
  expect(files).toContain("package/dist/esm/index.js");
  expect(files).toContain("package/dist/esm/index.d.ts");
});

test("every source map in the package carries its sources (lib/ is not packed)", () => {
  const dist = join(app, "node_modules", "redis-session-store", "dist");
  const maps = (readdirSync(dist, { recursive: true }) as string[]).filter((f) => f.endsWith(".map"));
  expect(maps.length).toBeGreaterThan(0);
  for (const file of maps) {
    const map = JSON.parse(readFileSync(join(dist, file), "utf8")) as { sources: string[]; sourcesContent?: Array<string | null> };
    expect({
      file,
      inlined: map.sourcesContent?.length === map.sources.length && map.sourcesContent.every((s) => typeof s === "string"),
    }).toEqual({
      file,
      inlined: true,
    });
  }
});

test.each([
  ["require (CommonJS)", "main.cjs", 'const { RedisStore } = require("redis-session-store");'],
  [
    "import (ESM)",
    "main.mjs",
    'import { createRequire } from "node:module"; const require = createRequire(import.meta.url); import { RedisStore } from "redis-session-store";',
  ],
])("%s works from the packed tarball", (_, file, load) => {
  writeFileSync(join(app, file), program(load));
  const out = execFileSync(process.execPath, [file], { cwd: app, env: { ...process.env, URL: redis.url }, encoding: "utf8" });
  expect(JSON.parse(out)).toEqual({ got: { cookie: { originalMaxAge: null }, userId: "u" }, listed: ["a"], isStore: "function" });
});

test("one implementation for both formats: a class imported and required is the same class", () => {
  writeFileSync(
    join(app, "both.mjs"),
    [
      'import { createRequire } from "node:module";',
      'import { RedisStore, RedisUnavailableError } from "redis-session-store";',
      'const required = createRequire(import.meta.url)("redis-session-store");',
      "const error = new required.RedisUnavailableError('x');",
      "console.log(JSON.stringify([RedisStore === required.RedisStore, error instanceof RedisUnavailableError]));",
    ].join("\n"),
  );
  expect(JSON.parse(execFileSync(process.execPath, ["both.mjs"], { cwd: app, encoding: "utf8" }))).toEqual([true, true]);
});

/**
 * The declarations, as an application's `tsc` reads them through `import` and `require`. The
 * `@ts-expect-error` lines are the compile-fail half: each must be an error, or tsc fails on the
 * unused directive.
 */
test("type declarations resolve for both import and require, and reject what is wrong", () => {
  writeFileSync(
    join(app, "types.mts"),
    [
      'import { RedisStore, type RedisStoreOptions, type SessionDecodeError, type UserSession } from "redis-session-store";',
      "const client = { sendCommand: (args: string[]) => Promise.resolve(args), isReady: true };",
      "const o: RedisStoreOptions = { client };",
      "// @ts-expect-error a number is no Redis client",
      "const wrong: RedisStoreOptions = { client: 42 };",
      "// @ts-expect-error an unknown option",
      "const typo: RedisStoreOptions = { client, disableTtl: true };",
      'const auto: RedisStoreOptions = { client, touchAfter: "auto" };',
      "declare const store: RedisStore;",
      "const typed: { sendCommand(...args: any[]): unknown } = store.client;",
      'store.on("decodeError", (error: SessionDecodeError) => error.sessionId.toUpperCase());',
      'store.on("disconnect", () => undefined);',
      "// @ts-expect-error decodeError's listener gets an error, not a number",
      'store.on("decodeError", (n: number) => n + 1);',
      "// @ts-expect-error readiness hooks are not public API",
      "store.onRedisReady();",
      'const listed: Promise<UserSession[]> = store.listUserSessions("u1");',
      'store.destroyUserSessions("u1", (error?: unknown, count?: number) => [error, count]);',
      "export { o, wrong, typo, auto, typed, listed };",
    ].join("\n"),
  );
  writeFileSync(
    join(app, "types.cts"),
    'import { RedisStore } from "redis-session-store";\nexport const s: typeof RedisStore = RedisStore;\n',
  );
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: [] },
      files: ["types.mts", "types.cts"],
    }),
  );
  execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", app], { cwd: app, stdio: "pipe" });
});
