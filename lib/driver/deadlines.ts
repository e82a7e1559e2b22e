/**
 * commandTimeout for every call at the cost of two array slots per call and one timer per driver.
 * A client's own per-command timeout arms a timer per command (node-redis's AbortSignal), which
 * costs more than the command on the hot path. Deadlines are checked at most every 50 ms, so a
 * call fails between `ms` and `ms + 50` after it was sent. The timer runs only while calls are
 * pending and never holds the process open.
 */
import { timedOut, translate } from "./errors.js";

export class Deadlines {
  /**
   * The calls in send order, as two parallel arrays (no object per call): when each expires, and
   * how to fail it, cleared as soon as it is answered. Entries before #head are all answered or
   * failed; the arrays are cut from the front as #head moves on. A queue of one object per call,
   * kept until the calls before it were answered, made each object outlive a young-generation
   * collection: the collector copied and promoted one per command, more CPU than the bookkeeping.
   */
  readonly #at: number[] = [];
  readonly #reject: (((error: unknown) => void) | undefined)[] = [];
  #head = 0;
  /** The sequence number of the entry at index 0: calls are numbered from 0 in send order. */
  #base = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  track<T, R = T>(sent: Promise<T>, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    return new Promise<T | R>((resolve, reject) => {
      // Most calls finish in send order: move past answered ones from the head as we go.
      while (this.#head < this.#reject.length && this.#reject[this.#head] === undefined) this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#reject.length) {
        this.#at.splice(0, this.#head);
        this.#reject.splice(0, this.#head);
        this.#base += this.#head;
        this.#head = 0;
      }
      const seq = this.#base + this.#reject.length;
      this.#at.push(Date.now() + this.ms);
      this.#reject.push(reject);
      if (!this.#timer) this.#arm();
      sent.then(
        (value) => {
          this.#answered(seq);
          if (!map) return resolve(value);
          try {
            resolve(map(value));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          this.#answered(seq);
          reject(translate(error));
        },
      );
    });
  }

  /** Forgets a call's reject function: an answered call's entry keeps nothing alive. */
  #answered(seq: number): void {
    const at = seq - this.#base;
    if (at >= 0) this.#reject[at] = undefined;
  }

  #arm(): void {
    if (this.#head >= this.#at.length) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max((this.#at[this.#head] as number) - Date.now(), 50));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    // Deadlines are in send order and all share one timeout, so the expired ones are at the head.
    while (this.#head < this.#reject.length) {
      const reject = this.#reject[this.#head];
      if (reject && (this.#at[this.#head] as number) > now) break;
      if (reject) {
        this.#reject[this.#head] = undefined;
        reject(timedOut(this.ms));
      }
      this.#head++;
    }
    if (this.#head === this.#reject.length) {
      this.#base += this.#head;
      this.#at.length = 0;
      this.#reject.length = 0;
      this.#head = 0;
    }
    this.#arm();
  }
}

/** Fails a wait that is not a command (connecting, rediscovering) after `ms`; 0 waits forever. */
export function bounded<T>(wait: Promise<T>, ms: number): Promise<T> {
  if (!ms) return wait;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(ms)), ms);
    timer.unref();
  });
  wait.catch(() => undefined);
  return Promise.race([wait, timeout]).finally(() => clearTimeout(timer));
}
