// What a bench started, stopped in reverse order: at its end, after an error, or on SIGINT/SIGTERM
// (then the bench exits 1).

export interface CleanupStack {
  push(fn: () => unknown): void;
  /** Runs every cleanup pushed so far, newest first; a failing one is reported and the rest still run. */
  runAll(): Promise<void>;
}

export function cleanupStack(bench: string): CleanupStack {
  const stack: (() => unknown)[] = [];
  const runAll = async () => {
    for (let fn = stack.pop(); fn !== undefined; fn = stack.pop()) {
      try {
        await fn();
      } catch (err) {
        console.error(`${bench} bench: cleanup failed: ${(err as Error).message}`);
      }
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${bench} bench: ${signal}; stopping what it started`);
      void runAll().finally(() => process.exit(1));
    });
  }
  return { push: (fn) => void stack.push(fn), runAll };
}
