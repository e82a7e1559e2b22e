/**
 * Keeps up to `limit` calls in flight while a producer (a scan) runs, and fails with the first
 * error only after every call has settled, so no rejection is ever left unhandled.
 */
export class InFlight {
  readonly #calls = new Set<Promise<void>>();
  #error: { error: unknown } | undefined;

  constructor(readonly limit: number) {}

  /** Adds a call; waits while `limit` are in flight. */
  async add(call: Promise<unknown>): Promise<void> {
    const tracked: Promise<void> = call.then(
      () => {
        this.#calls.delete(tracked);
      },
      (error: unknown) => {
        this.#calls.delete(tracked);
        this.#error ??= { error };
      },
    );
    this.#calls.add(tracked);
    if (this.#calls.size >= this.limit) await Promise.race(this.#calls);
  }

  /** Runs the producer, then waits for every call; rethrows the producer's error, else the first call's. */
  async run(produce: () => Promise<void>): Promise<void> {
    let produced: { error: unknown } | undefined;
    await produce().catch((error: unknown) => {
      produced = { error };
    });
    await Promise.all(this.#calls);
    const failure = produced ?? this.#error;
    if (failure) throw failure.error;
  }
}
