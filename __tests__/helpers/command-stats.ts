/**
 * Commands a private server ran, from INFO commandstats: what a request costs Redis. Commands that
 * scripts run count too, so only where `evalsha` is 0 are the counts the commands the store sent.
 * Meaningful only on a server the test started, with nothing else running against it meanwhile.
 */
import type { createClient } from "redis";

type Client = Pick<ReturnType<typeof createClient>, "info">;

/** Calls per command on the whole server. */
export async function commandCalls(client: Client): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const line of (await client.info("commandstats")).split("\n")) {
    const found = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (found) calls[found[1] as string] = Number(found[2]);
  }
  return calls;
}

/** The calls of each of `commands` that `act` made. */
export async function countCalls(
  client: Client,
  act: () => Promise<unknown>,
  commands = ["get", "set", "evalsha", "pttl"],
): Promise<Record<string, number>> {
  const before = await commandCalls(client);
  await act();
  const after = await commandCalls(client);
  return Object.fromEntries(commands.map((command) => [command, (after[command] ?? 0) - (before[command] ?? 0)]));
}
