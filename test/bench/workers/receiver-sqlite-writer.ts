// One writer thread of the SQLite writers benchmark (receiver.bench.ts, part 3): builds its
// batches first, says ready, waits for the shared start gate, then saves every batch into the one
// SQLite file through SqliteStorage, with the shared futex write lock or with SQLite's busy
// retries only (busy_timeout), and reports its times.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStorage } from '../../../src/storage/sqlite.ts';
import { openWriteLock } from '../../../src/storage/write-lock.ts';
import type { EventRow } from '../../../src/storage/storage.ts';
import { parseEvent } from '../../../workers/receiver/parse.ts';
import { syntheticEvents } from '../../helpers/events.ts';

export interface WriterData {
  readonly file: string;
  /** The shared write lock's buffer, or null to rely on SQLite's busy_timeout. */
  readonly lock: SharedArrayBuffer | null;
  /** Int32 cell: 0 until the main thread opens the gate (1). */
  readonly gate: SharedArrayBuffer;
  readonly jobId: number;
  readonly batches: number;
  readonly batchSize: number;
}

export type WriterMessage =
  | { readonly kind: 'ready' }
  | {
      readonly kind: 'done';
      readonly inserted: number;
      readonly errors: number;
      readonly firstError: string;
      /** Wall time of each saveBatch call, ms. */
      readonly batchMs: number[];
      /** From the gate opening (as seen by this thread) to its last commit, ms. */
      readonly busyMs: number;
    };

const data = workerData as WriterData;
const port = parentPort;
if (port === null) throw new Error('receiver-sqlite-writer runs as a worker thread');

// Built before the gate: the timed part is only the saving.
const now = new Date().toISOString();
const payloads = syntheticEvents(data.jobId, data.batches * data.batchSize);
const batches: EventRow[][] = [];
for (let b = 0; b < data.batches; b++) {
  const rows: EventRow[] = [];
  for (const p of payloads.slice(b * data.batchSize, (b + 1) * data.batchSize)) {
    const parsed = parseEvent(p, 1 << 20, now);
    if (parsed.kind !== 'event') throw new Error(`synthetic event did not parse: ${parsed.kind}`);
    rows.push(parsed.row);
  }
  batches.push(rows);
}

const storage = new SqliteStorage(data.file, data.lock === null ? {} : { writeLock: openWriteLock(data.lock) });
try {
  port.postMessage({ kind: 'ready' } satisfies WriterMessage);
  const gate = new Int32Array(data.gate);
  // Bounded: the main thread opens the gate or terminates this thread; 60 s is a safety net.
  Atomics.wait(gate, 0, 0, 60_000);
  const began = performance.now();
  let inserted = 0;
  let errors = 0;
  let firstError = '';
  const batchMs: number[] = [];
  for (const rows of batches) {
    const t = performance.now();
    try {
      inserted += (await storage.saveBatch({ events: rows, hostSummaries: [], streamEnds: [] })).inserted;
    } catch (err) {
      errors++;
      if (firstError === '') firstError = (err as Error).message;
    }
    batchMs.push(performance.now() - t);
  }
  port.postMessage({ kind: 'done', inserted, errors, firstError, batchMs, busyMs: performance.now() - began } satisfies WriterMessage);
} finally {
  await storage.close();
}
