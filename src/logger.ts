import { pino, type Logger } from 'pino';

export type { Logger };

/** The one logger factory: JSON lines on stdout; components take a child with their bindings. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}
