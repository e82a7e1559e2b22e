/**
 * The published package: `npm pack` it, unpack it into a fresh folder as node_modules would hold
 * it, and load it both ways: `import` (ESM) and `require` (CommonJS), each against a real Redis.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { testRedis } from "./helpers/redis-server";

const root = join(__dirname, "..");
let redis: Awaited<ReturnType<typeof testRedis>>;
let app: string;
let fastifyApp: string | undefined;

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
  if (fastifyApp) rmSync(fastifyApp, { recursive: true, force: true });
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
  for (const entry of ["koa", "react-router", "admin"]) {
    for (const file of [`cjs/${entry}.js`, `cjs/${entry}.d.ts`, `esm/${entry}.js`, `esm/${entry}.d.ts`])
      expect(files).toContain(`package/dist/${file}`);
  }
});

test.each([
  [
    "require (CommonJS)",
    "entries.cjs",
    'const koa = require("redis-session-store/koa"); const rr = require("redis-session-store/react-router"); const admin = require("redis-session-store/admin");',
  ],
  [
    "import (ESM)",
    "entries.mjs",
    'import * as koa from "redis-session-store/koa"; import * as rr from "redis-session-store/react-router"; import * as admin from "redis-session-store/admin";',
  ],
])("the koa, react-router and admin entries load by %s", (_, file, load) => {
  writeFileSync(
    join(app, file),
    `${load}\nconsole.log(JSON.stringify([typeof koa.createKoaStore, typeof rr.createRedisSessionStorage, koa.RedisSessions === rr.RedisSessions, Object.keys(admin).filter((k) => k !== "default")]));\n`,
  );
  expect(JSON.parse(execFileSync(process.execPath, [file], { cwd: app, encoding: "utf8" }))).toEqual([
    "function",
    "function",
    true,
    ["adminRouter"],
  ]);
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
      'import { createKoaStore, type KoaStore } from "redis-session-store/koa";',
      'import { createRedisSessionStorage } from "redis-session-store/react-router";',
      "const koa: KoaStore = createKoaStore({ client });",
      "// @ts-expect-error disableTouch is express-session's touch() only",
      "createKoaStore({ client, disableTouch: true });",
      "createKoaStore({ client, touchAfter: 1, trackDevices: { anonymous: true } });",
      'const rr = createRedisSessionStorage<{ userId: string }>({ client, cookie: { secrets: ["s"] } });',
      'const counted: Promise<number> = rr.store.countUserSessions("u1");',
      'import { adminRouter } from "redis-session-store/admin";',
      'import express from "express";',
      'import "express-session";',
      "const mounted = express();",
      'mounted.use("/admin/sessions", adminRouter(store, { authorize: (req: express.Request) => req.session.id !== "" }));',
      'mounted.use("/plain", adminRouter(store, { authorize: (req) => req.headers.host === "x" }));',
      'adminRouter(rr.store, { authorize: async () => true, allowedOrigins: ["https://admin.example.com"] });',
      "// @ts-expect-error authorize is required",
      "adminRouter(store, {});",
      "// @ts-expect-error authorize returns a boolean",
      'adminRouter(store, { authorize: () => "yes" });',
      "export { o, wrong, typo, auto, typed, listed, koa, counted, mounted };",
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

/** The package's own dependencies: npm installs them with it. */
function ownDependencies(): string[] {
  return Object.keys(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).dependencies ?? {});
}

/**
 * The packages an application installs for these, with everything they depend on, found the way
 * Node finds them (nearest node_modules first) in this checkout.
 */
function closure(names: string[]): Set<string> {
  const modules = join(root, "node_modules");
  const found = new Set<string>();
  const visit = (from: string, name: string) => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) {
        const top = relative(modules, candidate).split(sep);
        // Nested copies travel with their top-level package; only top-level ones are linked.
        const topName = top[0]?.startsWith("@") ? `${top[0]}/${top[1]}` : (top[0] as string);
        const pkg = JSON.parse(readFileSync(join(candidate, "package.json"), "utf8"));
        if (found.has(candidate)) return;
        found.add(candidate);
        if (!topName.startsWith("..")) found.add(`top:${topName}`);
        const optionalPeers = pkg.peerDependenciesMeta ?? {};
        const peers = Object.keys(pkg.peerDependencies ?? {}).filter((peer) => !optionalPeers[peer]?.optional);
        for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...peers]) visit(candidate, dep);
        return;
      }
      if (dir === root || dir === dirname(dir)) return;
    }
  };
  for (const name of names) visit(root, name);
  return new Set([...found].filter((entry) => entry.startsWith("top:")).map((entry) => entry.slice(4)));
}

describe("a Fastify app without express-session", () => {
  const installed = ["fastify", "@fastify/cookie", "@fastify/session", "redis"];

  beforeAll(() => {
    fastifyApp = mkdtempSync(join(tmpdir(), "redis-session-store-fastify-"));
    const modules = join(fastifyApp, "node_modules");
    mkdirSync(join(modules, "@fastify"), { recursive: true });
    const tarball = readdirSync(app).find((f) => f.endsWith(".tgz")) as string;
    mkdirSync(join(modules, "redis-session-store"));
    execFileSync("tar", ["xzf", join(app, tarball), "-C", join(modules, "redis-session-store"), "--strip-components=1"]);
    for (const name of closure([...installed, ...ownDependencies()])) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(root, "node_modules", name), join(modules, name));
    }
  });

  const fastifyProgram = (load: string) => `
${load}
(async () => {
  const client = createClient({ url: process.env.URL });
  await client.connect();
  const store = new RedisStore({ client, prefix: "pack-fastify-" + process.pid + ":" });
  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, { store, secret: "a secret of at least thirty-two characters", saveUninitialized: false, cookie: { secure: false } });
  app.post("/login", async (request) => { request.session.set("userId", "u1"); return { sid: request.session.sessionId }; });
  const login = await app.inject({ method: "POST", url: "/login" });
  const listed = (await store.listUserSessions("u1")).map((s) => s.id);
  let expressSession = "missing";
  try { require.resolve("express-session"); expressSession = "found"; } catch {}
  await store.clear();
  await app.close();
  client.destroy();
  console.log(JSON.stringify({ same: listed[0] === login.json().sid, count: listed.length, expressSession }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

  test("express-session is not in its node_modules (nor ioredis or iovalkey: a node-redis app), and fastify's packages are", () => {
    const modules = join(fastifyApp as string, "node_modules");
    expect(existsSync(join(modules, "express-session"))).toBe(false);
    expect(existsSync(join(modules, "ioredis"))).toBe(false);
    expect(existsSync(join(modules, "iovalkey"))).toBe(false);
    for (const name of installed) expect(existsSync(join(modules, name))).toBe(true);
  });

  test("its TypeScript compiles against the declarations without express-session's types", () => {
    const dir = fastifyApp as string;
    // Node's types only: neither express-session nor its @types package is there.
    mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
    symlinkSync(join(root, "node_modules", "@types", "node"), join(dir, "node_modules", "@types", "node"));
    writeFileSync(
      join(dir, "app.mts"),
      [
        'import fastifySession from "@fastify/session";',
        'import Fastify from "fastify";',
        'import { createClient } from "redis";',
        'import { RedisStore, type UserSession } from "redis-session-store";',
        "const store = new RedisStore({ client: createClient() });",
        'Fastify().register(fastifySession, { store, secret: "a secret of at least thirty-two characters" });',
        'const listed: Promise<UserSession[]> = store.listUserSessions("u1");',
        "// @ts-expect-error an unknown option",
        "new RedisStore({ client: createClient(), disableTtl: true });",
        "export { listed };",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
        },
        files: ["app.mts"],
      }),
    );
    execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { cwd: dir, stdio: "pipe" });
  });

  test.each([
    [
      "require (CommonJS)",
      "main.cjs",
      'const { RedisStore } = require("redis-session-store"); const Fastify = require("fastify"); const fastifyCookie = require("@fastify/cookie"); const fastifySession = require("@fastify/session"); const { createClient } = require("redis");',
    ],
    [
      "import (ESM)",
      "main.mjs",
      'import { createRequire } from "node:module"; const require = createRequire(import.meta.url); import { RedisStore } from "redis-session-store"; import Fastify from "fastify"; import fastifyCookie from "@fastify/cookie"; import fastifySession from "@fastify/session"; import { createClient } from "redis";',
    ],
  ])("RedisStore serves @fastify/session when imported by %s", (_, file, load) => {
    writeFileSync(join(fastifyApp as string, file), fastifyProgram(load));
    const out = execFileSync(process.execPath, [file], { cwd: fastifyApp, env: { ...process.env, URL: redis.url }, encoding: "utf8" });
    expect(JSON.parse(out)).toEqual({ same: true, count: 1, expressSession: "missing" });
  });
});

describe("an express app on ioredis, without node-redis", () => {
  const installed = ["express", "express-session", "ioredis"];
  let ioApp: string;

  beforeAll(() => {
    ioApp = mkdtempSync(join(tmpdir(), "redis-session-store-ioredis-"));
    const modules = join(ioApp, "node_modules");
    mkdirSync(join(modules, "redis-session-store"), { recursive: true });
    const tarball = readdirSync(app).find((f) => f.endsWith(".tgz")) as string;
    execFileSync("tar", ["xzf", join(app, tarball), "-C", join(modules, "redis-session-store"), "--strip-components=1"]);
    for (const name of closure([...installed, ...ownDependencies()])) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(root, "node_modules", name), join(modules, name));
    }
  });
  afterAll(() => rmSync(ioApp, { recursive: true, force: true }));

  test("node-redis is not in its node_modules, and ioredis is", () => {
    const modules = join(ioApp, "node_modules");
    expect(existsSync(join(modules, "redis"))).toBe(false);
    expect(existsSync(join(modules, "@redis"))).toBe(false);
    expect(existsSync(join(modules, "ioredis", "package.json"))).toBe(true);
  });

  const ioProgram = (load: string) => `
${load}
(async () => {
  const client = new Redis(process.env.URL);
  client.on("error", () => undefined);
  // The store fails fast while its client is not ready: wait for ioredis to connect, as an app does.
  if (client.status !== "ready") await new Promise((resolve) => client.once("ready", resolve));
  const store = new RedisStore({ client, prefix: "pack-io-" + process.pid + ":" });
  const session = { cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000) }, userId: "io" };
  await store.set("a", session);
  const got = await store.get("a");
  const listed = (await store.listUserSessions("io")).map((s) => s.id);
  await store.clear();
  let redisMissing = false;
  try { require.resolve("redis"); } catch { redisMissing = true; }
  client.disconnect();
  console.log(JSON.stringify({ userId: got.userId, listed, redisMissing, topology: store.topology }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

  test.each([
    ["require (CommonJS)", "io.cjs", 'const { RedisStore } = require("redis-session-store"); const { Redis } = require("ioredis");'],
    [
      "import (ESM)",
      "io.mjs",
      'import { createRequire } from "node:module"; const require = createRequire(import.meta.url); import { RedisStore } from "redis-session-store"; import { Redis } from "ioredis";',
    ],
  ])("RedisStore runs on an ioredis client when loaded by %s", (_, file, load) => {
    writeFileSync(join(ioApp, file), ioProgram(load));
    const out = execFileSync(process.execPath, [file], { cwd: ioApp, env: { ...process.env, URL: redis.url }, encoding: "utf8" });
    expect(JSON.parse(out)).toEqual({ userId: "io", listed: ["a"], redisMissing: true, topology: "standalone" });
  });
});
