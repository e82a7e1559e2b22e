/**
 * Why session fields: express-session loads a session whole and saves it whole, so two requests of
 * one user that change it at once lose one change. Fields are changed one by one in Redis, so none
 * is lost. Real express apps, a private (or REDIS_URL) Redis.
 */
import { describe, expect, test } from "@jest/globals";
import express from "express";
import session from "express-session";
import { createClient } from "redis";
import request from "supertest";
import { RedisStore } from "../lib/index";
import { type TestClient, useTestClient } from "./helpers/test-client";

let client: TestClient;
useTestClient((connected) => {
  client = connected;
});

type Cart = { items?: string[] };

/** An app whose /add-whole adds to the session's cart (express-session's way) once `gate` opens. */
function cartApp(store: RedisStore, gate: Promise<void>, loaded: () => void) {
  const app = express();
  app.use(session({ store, secret: "fields", resave: false, saveUninitialized: false }));
  app.post("/start", (req, res) => {
    (req.session as unknown as Cart).items = [];
    res.json({ id: req.sessionID });
  });
  app.post("/add-whole/:item", async (req, res) => {
    loaded();
    await gate; // both requests have loaded the session before either saves it
    (req.session as unknown as Cart).items?.push(req.params.item);
    res.json({ ok: true });
  });
  app.post("/add-field/:item", async (req, res) => {
    loaded();
    await gate;
    await store.fields(req.sessionID).increment(`item:${req.params.item}`);
    res.json({ ok: true });
  });
  return app;
}

describe("two tabs add to one cart at once", () => {
  test.each([
    ["with express-session alone, one of the two items is lost", "add-whole", 1],
    ["with fields, both are kept", "add-field", 2],
  ])("%s", async (_name, route, kept) => {
    const store = new RedisStore({ client, prefix: `cart-${route}-${process.pid}:` });
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let arrived = 0;
    const app = cartApp(store, gate, () => {
      if (++arrived === 2) open();
    });
    const start = await request(app).post("/start").expect(200);
    const cookie = String(start.headers["set-cookie"]?.[0]).split(";")[0] as string;
    await Promise.all(["apple", "pear"].map((item) => request(app).post(`/${route}/${item}`).set("Cookie", cookie).expect(200)));
    const id = start.body.id as string;
    const count =
      route === "add-whole" ? ((await store.get(id)) as unknown as Cart).items?.length : Object.keys(await store.fields(id).all()).length;
    expect(count).toBe(kept);
  });
});

test("1,000 concurrent increments and sets from 4 stores on 4 connections lose none", async () => {
  const url = (client.options as { url: string }).url;
  const clients = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const c = createClient({ url });
      await c.connect();
      return c;
    }),
  );
  try {
    const prefix = `fields-many-${process.pid}:`;
    const stores = clients.map((c) => new RedisStore({ client: c, prefix, maxFields: 1000 }));
    await stores[0]?.set("busy", {
      cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000) },
      userId: "busy",
    } as never);
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => {
        const fields = (stores[i % 4] as RedisStore).fields("busy");
        return i % 2 ? fields.increment("counter") : fields.set(`slot-${i}`, i);
      }),
    );
    const all = await (stores[3] as RedisStore).fields("busy").all();
    expect(all.counter).toBe(500);
    expect(Object.keys(all).filter((name) => name.startsWith("slot-"))).toHaveLength(500);
  } finally {
    for (const c of clients) c.destroy();
  }
});
