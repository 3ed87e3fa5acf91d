import { setTimeout as delay } from 'node:timers/promises';

/** Thrown by a check to stop waiting at once (the thing waited for can no longer happen). */
export class StopWaiting extends Error {}

/** Polls until check returns a value other than undefined/false, or fails after the deadline naming what it waited for. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  /** The longest pause between checks; short for a state that lasts only briefly. */
  maxPauseMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let pause = Math.min(10, maxPauseMs); ; pause = Math.min(pause * 2, maxPauseMs)) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await delay(pause);
  }
}
