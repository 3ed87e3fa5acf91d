import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { format } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import type { Logger } from 'pino';

export type { Logger };

// pino is loaded only where it runs: the main thread. A worker thread writes the same JSON lines
// through threadLogger below, without pino's streams, transports and workers: pino costs each
// thread about 1.5 MB (npm run bench -- module-cost). Its error serializer (pino-std-serializers)
// and circular-safe stringify are pino's own, loaded from where pino finds them.
const load = createRequire(import.meta.url);
const fromPino = createRequire(load.resolve('pino'));

/** The one logger factory: JSON lines on stdout; components take a child with their bindings. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  const base = { pid: process.pid, ...bindings };
  if (!isMainThread) return threadLogger(level, base);
  const { pino } = load('pino') as typeof import('pino');
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime });
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LEVEL_VALUES: Readonly<Record<string, number>> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10, silent: Infinity };

type Stringify = (value: unknown) => string | undefined;
let serializers: { readonly err: (e: unknown) => unknown; readonly safe: Stringify } | undefined;

/** A value as pino writes it (tools.js asJson): non-finite numbers as null, functions left out, circular structures survived. */
function jsonOf(value: unknown): string | undefined {
  switch (typeof value) {
    case 'undefined':
    case 'function':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return String(value);
    case 'string':
      return JSON.stringify(value);
    default:
      try {
        return JSON.stringify(value);
      } catch {
        serializers ??= loadSerializers();
        return serializers.safe(value);
      }
  }
}

function loadSerializers(): NonNullable<typeof serializers> {
  const { configure } = fromPino('safe-stable-stringify') as { configure: (o: object) => Stringify };
  return { err: (fromPino('pino-std-serializers') as { err: (e: unknown) => unknown }).err, safe: configure({ maximumDepth: 5, maximumBreadth: 100 }) };
}

/** The `,"key":value` pairs of an object, in pino's order and with its `err` serializer. */
function pairsOf(obj: Record<string, unknown>): string {
  let out = '';
  for (const key of Object.keys(obj)) {
    let value = obj[key];
    if (value === undefined) continue;
    if (key === 'err') value = (serializers ??= loadSerializers()).err(value);
    const json = jsonOf(value);
    if (json !== undefined) out += `,${JSON.stringify(key)}:${json}`;
  }
  return out;
}

/** Writes a whole line to stdout from a worker thread, waiting out a full pipe. */
function writeLine(line: string): void {
  let buffer = Buffer.from(line);
  for (let tries = 0; buffer.length > 0 && tries < 1000; ) {
    try {
      buffer = buffer.subarray(writeSync(1, buffer));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // stdout is gone: nothing to tell
      tries += 1;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/**
 * A worker thread's logger: pino's lines (level, time, bindings, the object's fields, msg), pino's
 * call forms (`(obj, msg)`, `(msg)`, `(err, msg)`), levels and children. A child follows its
 * parent's level until it is given one of its own.
 */
function threadLogger(level: string, base: Record<string, unknown>): Logger {
  const make = (chindings: string, parent: { readonly level: string } | undefined): Record<string, unknown> => {
    let own: string | undefined = parent === undefined ? level : undefined;
    const self: Record<string, unknown> = {
      get level() {
        return own ?? parent?.level ?? 'info';
      },
      set level(l: string) {
        own = l;
      },
      get levelVal() {
        return LEVEL_VALUES[self.level as string] ?? 30;
      },
      isLevelEnabled: (l: string) => (LEVEL_VALUES[l] ?? 0) >= (self.levelVal as number),
      child: (bindings: Record<string, unknown>) => make(chindings + pairsOf(bindings), self as { level: string }),
      flush: () => {},
    };
    for (const name of LEVELS) {
      if (name === 'silent') {
        self.silent = () => {};
        continue;
      }
      const value = LEVEL_VALUES[name] as number;
      self[name] = (first?: unknown, ...rest: unknown[]) => {
        if (value < (self.levelVal as number)) return;
        let obj: Record<string, unknown> = {};
        let msg: unknown;
        if (typeof first === 'object' && first !== null) {
          obj = first instanceof Error ? { err: first } : (first as Record<string, unknown>);
          msg = rest.shift();
          if (msg === undefined && first instanceof Error) msg = first.message;
          else if (msg === undefined && obj.msg === undefined && (obj.err as Error | undefined)?.message !== undefined) msg = (obj.err as Error).message;
        } else msg = first === undefined ? rest.shift() : first;
        if (typeof msg === 'string' && rest.length > 0) msg = format(msg, ...rest);
        const msgJson = msg === undefined ? undefined : jsonOf(msg);
        writeLine(`{"level":${value},"time":"${new Date().toISOString()}"${chindings}${pairsOf(obj)}${msgJson === undefined ? '' : `,"msg":${msgJson}`}}\n`);
      };
    }
    return self;
  };
  return make(pairsOf(base), undefined) as unknown as Logger;
}

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
