/**
 * commandTimeout for every call at the cost of one object per call and one timer per driver.
 * A client's own per-command timeout arms a timer per command (node-redis's AbortSignal), which
 * costs more than the command on the hot path. Deadlines are checked at most every 50 ms, so a
 * call fails between `ms` and `ms + 50` after it was sent. The timer runs only while calls are
 * pending and never holds the process open.
 */
import { timedOut, translate } from "./errors.js";

/** A call's deadline; `reject` is dropped once the call is answered, so a queued entry never keeps its reply alive. */
interface Deadline {
  readonly at: number;
  reject: ((error: unknown) => void) | undefined;
}

export class Deadlines {
  readonly #queue: Deadline[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  track<T, R = T>(sent: Promise<T>, map?: (reply: T) => R | Promise<R>): Promise<T | R> {
    return new Promise<T | R>((resolve, reject) => {
      const deadline: Deadline = { at: Date.now() + this.ms, reject };
      // Most calls finish in send order: drop answered ones from the head as we go.
      while (this.#head < this.#queue.length && !(this.#queue[this.#head] as Deadline).reject) this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#queue.push(deadline);
      if (!this.#timer) this.#arm();
      sent.then(
        (value) => {
          deadline.reject = undefined;
          if (!map) return resolve(value);
          try {
            resolve(map(value));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          deadline.reject = undefined;
          reject(translate(error));
        },
      );
    });
  }

  #arm(): void {
    const first = this.#queue[this.#head];
    if (!first) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(first.at - Date.now(), 50));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    const queue = this.#queue;
    // Deadlines are in send order and all share one timeout, so the expired ones are at the head.
    while (this.#head < queue.length) {
      const deadline = queue[this.#head] as Deadline;
      const reject = deadline.reject;
      if (reject && deadline.at > now) break;
      if (reject) {
        deadline.reject = undefined;
        reject(timedOut(this.ms));
      }
      this.#head++;
    }
    if (this.#head === queue.length) {
      queue.length = 0;
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
