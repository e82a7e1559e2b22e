/**
 * Readiness listeners, one set per client. A client gets one listener per event however many
 * stores use it; each store is held weakly, so an app that builds a store per request and drops it
 * leaves nothing behind: collected stores are pruned whenever the set doubles, and by a
 * FinalizationRegistry in between.
 */
import type { ReadinessListener } from "./driver.js";

interface Events {
  up: readonly string[];
  down: readonly string[];
}

interface ClientWatch {
  listeners: Set<WeakRef<ReadinessListener>>;
  /** The set's size after the last prune: the next prune runs when it has doubled. */
  pruned: number;
}

type Emitter = { on?: (event: string, listener: (...args: unknown[]) => void) => unknown };

export class Watchers {
  readonly #byClient = new WeakMap<object, ClientWatch>();
  readonly #collected = new FinalizationRegistry<{ watch: ClientWatch; ref: WeakRef<ReadinessListener> }>(({ watch, ref }) =>
    watch.listeners.delete(ref),
  );

  add(client: unknown, events: Events, listener: ReadinessListener): void {
    const emitter = client as Emitter;
    if (typeof emitter?.on !== "function") return;
    let watch = this.#byClient.get(client as object);
    if (!watch) {
      const created: ClientWatch = { listeners: new Set(), pruned: 0 };
      watch = created;
      this.#byClient.set(client as object, created);
      const notify = (up: boolean) => {
        for (const ref of created.listeners) {
          const target = ref.deref();
          if (!target) created.listeners.delete(ref);
          else if (up) target.ready();
          else target.down();
        }
      };
      for (const event of events.up) emitter.on.call(client, event, () => notify(true));
      for (const event of events.down) emitter.on.call(client, event, () => notify(false));
    }
    const ref = new WeakRef(listener);
    watch.listeners.add(ref);
    this.#collected.register(listener, { watch, ref });
    if (watch.listeners.size > 2 * Math.max(watch.pruned, 64)) {
      for (const held of watch.listeners) if (!held.deref()) watch.listeners.delete(held);
      watch.pruned = watch.listeners.size;
    }
  }
}
