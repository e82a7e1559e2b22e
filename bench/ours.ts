/**
 * Our package as its users run it: the working tree compiled by `npm run build` (run.ts builds it at
 * the start of every run, and so does each child a workload forks when dist/ is missing) and loaded
 * from dist/. Loading lib/*.ts through tsx would measure tsx's transform instead: it keeps function
 * names, so every closure created calls Object.defineProperty, a cost the published build never pays.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type * as Index from "../lib/index.js";
import type * as Koa from "../lib/koa.js";
import type * as ReactRouter from "../lib/react-router.js";

function entry(name: string): string {
  const url = new URL(`../dist/esm/${name}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`bench: ${fileURLToPath(url)} is missing: run "npm run build" in the repository root (npm run bench does it)`);
  }
  return url.href;
}

export const { RedisStore } = (await import(entry("index"))) as typeof Index;
export type RedisStore = Index.RedisStore;
export type RedisStoreOptions = Index.RedisStoreOptions;
export const { createKoaStore } = (await import(entry("koa"))) as typeof Koa;
export const { createRedisSessionStorage } = (await import(entry("react-router"))) as typeof ReactRouter;
