// The one message that crosses the thread boundary for metrics: a thread, as it starts, hands
// the supervisor the SharedArrayBuffer it records into. Both sides import this module.
import { parentPort, threadId } from 'node:worker_threads';
import { SERVICES, type ServiceName } from '../services/names.ts';

const KIND = 'overseer:metrics-region';

/** A thread's announcement of its metrics region. */
export interface RegionMessage {
  readonly kind: typeof KIND;
  readonly service: ServiceName;
  readonly threadId: number;
  readonly buffer: SharedArrayBuffer;
}

/** Whether a message from a worker is a region announcement. */
export function isRegionMessage(message: unknown): message is RegionMessage {
  const m = message as Partial<RegionMessage> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    m.kind === KIND &&
    SERVICES.includes(m.service as ServiceName) &&
    typeof m.threadId === 'number' &&
    m.buffer instanceof SharedArrayBuffer
  );
}

/** Sent once by a worker thread at start, before it records anything that matters. */
export function announceRegion(service: ServiceName, buffer: SharedArrayBuffer): void {
  if (parentPort === null) throw new Error('announceRegion runs in a worker thread');
  const message: RegionMessage = { kind: KIND, service, threadId, buffer };
  parentPort.postMessage(message);
}
