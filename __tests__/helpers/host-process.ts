/**
 * The real process of the jest worker (see ./host-process-environment.ts), with recorders for
 * unhandled rejections and uncaught exceptions that do not depend on jest's own handlers.
 */

/** The worker's real process; throws when the test file did not opt in to the environment. */
export function hostProcess(): NodeJS.Process {
  const found = (globalThis as { hostProcess?: NodeJS.Process }).hostProcess;
  if (!found) throw new Error("add /** @jest-environment ./__tests__/helpers/host-process-environment.ts */ at the top of the test file");
  return found;
}

/** Records every unhandled rejection of the real process until stop(); jest's own handler stays in place. */
export function recordUnhandledRejections(): { readonly reasons: unknown[]; stop(): void } {
  const host = hostProcess();
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => {
    reasons.push(reason);
  };
  host.on("unhandledRejection", listener);
  return {
    reasons,
    stop: () => {
      host.off("unhandledRejection", listener);
    },
  };
}

/**
 * Runs `body` with the real process's uncaughtException listeners (jest's) replaced by a recorder,
 * and unhandled rejections recorded too, then puts jest's listeners back. The process does not
 * die meanwhile: an uncaughtException listener is installed throughout.
 */
export async function captureUncaught<T>(
  body: (seen: { readonly uncaught: unknown[]; readonly rejections: unknown[] }) => Promise<T>,
): Promise<{ result: T; uncaught: unknown[]; rejections: unknown[] }> {
  const host = hostProcess();
  const saved = host.rawListeners("uncaughtException") as ((...args: unknown[]) => void)[];
  const uncaught: unknown[] = [];
  const rejections: unknown[] = [];
  const onUncaught = (error: unknown) => {
    uncaught.push(error);
  };
  const onRejection = (reason: unknown) => {
    rejections.push(reason);
  };
  host.removeAllListeners("uncaughtException");
  host.on("uncaughtException", onUncaught);
  host.on("unhandledRejection", onRejection);
  try {
    const result = await body({ uncaught, rejections });
    return { result, uncaught, rejections };
  } finally {
    host.off("uncaughtException", onUncaught);
    host.off("unhandledRejection", onRejection);
    for (const listener of saved) host.on("uncaughtException", listener);
  }
}
