import { pino, type Logger } from 'pino';

export type { Logger };

/** The one logger factory: JSON lines on stdout; components take a child with their bindings. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The node's log level in shared memory: the supervisor changes it on a config reload, threads follow. */
export function createLevelBuffer(level: string): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(4);
  setSharedLevel(buffer, level);
  return buffer;
}

export function setSharedLevel(buffer: SharedArrayBuffer, level: string): void {
  Atomics.store(new Int32Array(buffer), 0, Math.max(0, LEVELS.indexOf(level as (typeof LEVELS)[number])));
}

/** How often a thread looks at the shared level (an idle pool thread looks again at its next task). */
const FOLLOW_MS = 500;

/**
 * Keeps a thread's logger (and its children) at the shared level; returns the check, for a thread
 * to call at the start of each task as well.
 */
export function followLevel(log: Logger, buffer: SharedArrayBuffer): () => void {
  const shared = new Int32Array(buffer);
  const sync = () => {
    const level = LEVELS[Atomics.load(shared, 0)] ?? 'info';
    if (log.level !== level) log.level = level;
  };
  sync();
  setInterval(sync, FOLLOW_MS).unref();
  return sync;
}

/** How often a throttled warning may be logged again for the same reason. */
export const WARN_EVERY_MS = 10_000;

/**
 * A warning logged at most once per reason every WARN_EVERY_MS (a flood of refusals must not flood
 * the log); each line says how many of that reason went unlogged since the last one.
 */
export function throttledWarn(log: Logger, msg: string): (reason: string, fields: Record<string, unknown>) => void {
  const last = new Map<string, { at: number; since: number }>();
  return (reason, fields) => {
    const now = Date.now();
    const seen = last.get(reason);
    if (seen !== undefined && now - seen.at < WARN_EVERY_MS) {
      seen.since += 1;
      return;
    }
    last.set(reason, { at: now, since: 0 });
    log.warn({ reason, ...fields, refused_since_last_log: seen?.since ?? 0 }, msg);
  };
}
