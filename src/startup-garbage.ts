// Giving back what starting up left behind. Loading modules leaves garbage (ioredis alone builds
// about 500 command methods, fastify compiles its schemas) that an ordinary GC frees, but V8 keeps
// the emptied pages and a grown young generation for reuse: a thread that loaded ioredis, pino and
// our modules holds about 7 MB more than it needs once idle, and the supervisor's main thread about
// 35 MB (npm run bench -- module-cost, rss). One last-resort GC gives them back to the system.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** Tries to make a context that has `gc`: another thread may clear the flag in between. */
const TRIES = 20;

/**
 * Runs one last-resort GC in the calling thread (tens of milliseconds), as best it can: skipped if
 * V8 will not say how. V8 offers it only through the `gc` function of --expose-gc, which worker
 * threads cannot be started with: the flag is set just long enough to make a context that has it.
 * The flag is process-wide, so threads starting together may clear it under each other: the
 * context is made again until it has `gc`.
 */
export function releaseStartupGarbage(): void {
  let gc = (globalThis as { gc?: Gc }).gc; // a process started with --expose-gc
  for (let i = 0; gc === undefined && i < TRIES; i++) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('typeof gc === "function" ? gc : undefined') as Gc | undefined;
  }
  if ((globalThis as { gc?: Gc }).gc === undefined) setFlagsFromString('--no-expose-gc');
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
