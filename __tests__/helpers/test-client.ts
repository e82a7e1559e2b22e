/**
 * The node-redis 5 client most single-Redis test files share: connected in beforeAll to testRedis()
 * (REDIS_URL, or a private server), closed with it in afterAll. Call it at the top of a file or
 * describe block; `use` receives the client once it is connected.
 */
import { afterAll, beforeAll } from "@jest/globals";
import { createClient } from "redis";
import { testRedis } from "./redis-server";

export type TestClient = ReturnType<typeof createClient>;

export function useTestClient(use: (client: TestClient) => void): void {
  let redis: Awaited<ReturnType<typeof testRedis>> | undefined;
  let client: TestClient | undefined;
  beforeAll(async () => {
    redis = await testRedis();
    client = createClient({ url: redis.url });
    client.on("error", () => undefined); // the tests assert on the calls; a listener keeps errors from crashing jest
    await client.connect();
    use(client);
  });
  afterAll(async () => {
    client?.destroy();
    await redis?.close();
  });
}
