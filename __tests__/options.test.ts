/** Options: connect-redis 10's names, fields and defaults; 0 is a value; bad input names the option. */

import { describe, expect, test } from "@jest/globals";
import { RedisStore as ConnectRedisStore } from "connect-redis";
import { RedisStore } from "../lib/index";
import { type TestClient, useTestClient } from "./helpers/test-client";

let client: TestClient;
useTestClient((connected) => {
  client = connected;
});

describe("defaults and public fields", () => {
  test("match connect-redis 10 field by field", () => {
    const ours = new RedisStore({ client });
    const theirs = new ConnectRedisStore({ client });
    for (const field of ["prefix", "scanCount", "serializer", "ttl", "disableTTL", "disableTouch", "client"] as const) {
      expect(ours[field]).toBe(theirs[field]);
    }
    expect(ours.serializer).toBe(JSON);
    expect(ours.topology).toBe("standalone");
  });

  test("resolved options are frozen and carry our own defaults", () => {
    const store = new RedisStore({ client });
    expect(Object.isFrozen(store.options)).toBe(true);
    expect(store.options).toMatchObject({
      prefix: "sess:",
      indexPrefix: "sess-index:",
      maxSessionsPerUser: 0,
      touchAfter: "auto",
      tombstoneTtl: 600,
      commandTimeout: 2000,
      maxSessionSize: 1048576,
    });
    expect(typeof store.options.userId).toBe("function");
  });

  test("0 is a real value, not 'use the default'", () => {
    const store = new RedisStore({ client, ttl: 0, tombstoneTtl: 0, commandTimeout: 0, touchAfter: 0 });
    expect(store.ttl).toBe(0);
    expect(store.options.tombstoneTtl).toBe(0);
    expect(new RedisStore({ client, userId: false }).options.tombstoneTtl).toBe(0);
    expect(new RedisStore({ client, userId: false, tombstoneTtl: 5 }).options.tombstoneTtl).toBe(5);
    // Without the index the store sends connect-redis's commands: every touch is written.
    expect(new RedisStore({ client, userId: false }).options.touchAfter).toBe(0);
    expect(store.options.touchAfter).toBe(0);
    expect(store.options.commandTimeout).toBe(0);
  });

  test("ttl: 0 deletes sessions without cookie.expires, as documented", async () => {
    const store = new RedisStore({ client, ttl: 0, prefix: "ttl0:" });
    await store.set("a", { cookie: { originalMaxAge: null } } as never);
    expect(await client.exists("ttl0:a")).toBe(0);
  });

  test("indexPrefix defaults never share a start with the prefix", () => {
    expect(new RedisStore({ client, prefix: "sess" }).options.indexPrefix).toBe("~sess~index:");
    expect(new RedisStore({ client, prefix: "app:sess:" }).options.indexPrefix).toBe("app:sess-index:");
    expect(new RedisStore({ client, prefix: "~" }).options.indexPrefix).toBe("!~~index:");
    // Braces would add a second hash tag to meta keys: they are escaped, one-to-one.
    expect(new RedisStore({ client, prefix: "app{1}:" }).options.indexPrefix).toBe("app%7B1%7D-index:");
    expect(new RedisStore({ client, prefix: "app%7B1%7D:" }).options.indexPrefix).toBe("app%257B1%257D-index:");
    // Two prefixes never share an index: the colon form and the other form end differently.
    expect(new RedisStore({ client, prefix: "~x:" }).options.indexPrefix).not.toBe(
      new RedisStore({ client, prefix: "x" }).options.indexPrefix,
    );
  });

  test("userId: false turns the index off: only session keys are written", async () => {
    const store = new RedisStore({ client, prefix: "noidx:", userId: false, tombstoneTtl: 0 });
    await store.set("s1", { cookie: { originalMaxAge: null }, userId: "u" } as never);
    expect(await client.keys("noidx*")).toEqual(["noidx:s1"]);
    const index = store.options.indexPrefix;
    expect(await client.keys(`${index}*`)).toEqual([]);
  });
});

describe("invalid options throw a TypeError naming the option", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["missing client", {}, /option "client" must be a connected node-redis 5\/6 client .*, got undefined/],
    [
      "an object that is no client we know",
      { client: { sendCommand() {}, status: "ready" } },
      /option "client" must be .*createClient\(\)/,
    ],
    ["client without sendCommand", { client: {} }, /option "client"/],
    ["negative ttl", { ttl: -1 }, /option "ttl" must be a non-negative integer .* got -1/],
    ["fractional ttl", { ttl: 1.5 }, /option "ttl" .* got 1\.5/],
    ["string ttl", { ttl: "60" }, /option "ttl" .* got "60"/],
    ["empty prefix", { prefix: "" }, /option "prefix" must be a non-empty string, got ""/],
    ["scanCount 0", { scanCount: 0 }, /option "scanCount" must be an integer >= 1, got 0/],
    ["serializer without parse", { serializer: { stringify: JSON.stringify } }, /option "serializer"/],
    ["disableTTL not boolean", { disableTTL: "yes" }, /option "disableTTL" must be a boolean/],
    ["userId not a function", { userId: "id" }, /option "userId"/],
    ["indexPrefix under prefix", { indexPrefix: "sess:index:" }, /option "indexPrefix"/],
    ["indexPrefix a start of prefix", { indexPrefix: "se" }, /option "indexPrefix"/],
    ["indexPrefix with a hash tag", { indexPrefix: "{idx}:" }, /option "indexPrefix" must be a non-empty string without \{ or \}/],
    ["negative maxSessionsPerUser", { maxSessionsPerUser: -2 }, /option "maxSessionsPerUser"/],
    ["maxSessionSize 0", { maxSessionSize: 0 }, /option "maxSessionSize"/],
    ["unknown option", { logErrors: true }, /unknown option "logErrors" \(known: client, prefix/],
    ["a misspelt option", { disableTtl: true }, /unknown option "disableTtl"; did you mean "disableTTL"\?/],
    ["a typo in an option", { touchAftr: 5 }, /unknown option "touchAftr"; did you mean "touchAfter"\?/],
    [
      "touchAfter not a number",
      { touchAfter: "soon" },
      /option "touchAfter" must be a non-negative number of seconds or "auto", got "soon"/,
    ],
  ];
  test.each(cases)("%s", (_, options, message) => {
    const withClient = "client" in options || _ === "missing client" ? options : { client, ...options };
    expect(() => new RedisStore(withClient as never)).toThrow(TypeError);
    expect(() => new RedisStore(withClient as never)).toThrow(message);
  });
});
