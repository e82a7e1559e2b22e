/**
 * Without express-session installed, RedisStore extends a stand-in for express-session's Store:
 * an EventEmitter with the same regenerate, load and createSession. express-session is made
 * unresolvable for this file's module registry only.
 */
import { EventEmitter } from "node:events";
import { describe, expect, jest, test } from "@jest/globals";
import type { RedisStore as RedisStoreClass } from "../lib/index";
import { type TestClient, useTestClient } from "./helpers/test-client";

let client: TestClient;
useTestClient((connected) => {
  client = connected;
});

function storeWithoutExpressSession(): typeof RedisStoreClass {
  let loaded: typeof RedisStoreClass | undefined;
  jest.isolateModules(() => {
    jest.doMock("express-session", () => {
      throw Object.assign(new Error("Cannot find module 'express-session' from 'lib/frameworks/store-base.ts'"), {
        code: "MODULE_NOT_FOUND",
      });
    });
    loaded = (require("../lib/index") as { RedisStore: typeof RedisStoreClass }).RedisStore;
  });
  jest.dontMock("express-session");
  return loaded as typeof RedisStoreClass;
}

describe("RedisStore without express-session", () => {
  test("is an EventEmitter, not express-session's Store, with regenerate, load and createSession", async () => {
    const RedisStore = storeWithoutExpressSession();
    const { Store } = require("express-session") as typeof import("express-session");
    const store = new RedisStore({ client, prefix: `store-base-${process.pid}:` });
    expect(store).toBeInstanceOf(EventEmitter);
    expect(store).not.toBeInstanceOf(Store);

    const expires = new Date(Date.now() + 60_000);
    await store.set("a", { cookie: { originalMaxAge: 60_000, expires }, userId: "u" } as never);
    // load() gives the session through createSession, its expiry a Date again.
    const loaded = await new Promise<any>((resolve, reject) =>
      store.load("a", (error, session) => (error ? reject(error) : resolve(session))),
    );
    expect(loaded).toEqual({ cookie: { originalMaxAge: 60_000, expires }, userId: "u" });
    const none = await new Promise((resolve) => store.load("missing", (...args) => resolve(args)));
    expect(none).toEqual([]);

    // regenerate() destroys the request's session and calls the store's generate.
    const req = { sessionID: "a" } as any;
    const generated: unknown[] = [];
    (store as any).generate = (r: unknown) => generated.push(r);
    await new Promise<void>((resolve, reject) => store.regenerate(req, (error) => (error ? reject(error) : resolve())));
    expect(generated).toEqual([req]);
    expect(await store.get("a")).toBeNull();
    expect(await store.listUserSessions("u")).toEqual([]);
  });

  test("another error while loading express-session is not hidden", () => {
    let thrown: unknown;
    jest.isolateModules(() => {
      jest.doMock("express-session", () => {
        throw new SyntaxError("broken express-session");
      });
      try {
        require("../lib/index");
      } catch (error) {
        thrown = error;
      }
    });
    jest.dontMock("express-session");
    expect(String(thrown)).toContain("broken express-session");
  });
});
