// The polling client of event-count.bench.ts, in a thread of its own so that its waits (a
// synchronous SQLite count(*) blocks its thread) never slow the bench's feeder: asks each job's
// event count every POLL_MS, all jobs at once (as that many open job output pages), until told to
// stop; then posts every poll's latency in ms.
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

export interface PollerData {
  readonly how: 'api' | 'count-row' | 'count-star';
  readonly jobs: readonly number[];
  readonly pollMs: number;
  /** api: the node's web port. */
  readonly webPort: number;
  /** The SQL clients' own connection: the SQLite file, or a postgres:// URL. */
  readonly sqliteFile: string;
  readonly databaseUrl: string;
}

const SQL = {
  'count-row': 'SELECT events FROM job_event_counts WHERE job_id = ?',
  'count-star': 'SELECT count(*) AS n FROM job_events WHERE job_id = ?',
} as const;

const data = workerData as PollerData;
const port = parentPort;
if (port === null) throw new Error('count-poller runs as a worker thread');
let running = true;
port.once('message', () => (running = false));

const sqlite = data.how !== 'api' && data.databaseUrl === '' ? new DatabaseSync(data.sqliteFile, { readOnly: true, timeout: 10_000 }) : undefined;
const pool = data.how !== 'api' && data.databaseUrl !== '' ? new pg.Pool({ connectionString: data.databaseUrl, max: 4 }) : undefined;

async function poll(job: number): Promise<void> {
  if (data.how === 'api') {
    const res = await fetch(`http://127.0.0.1:${data.webPort}/api/v2/jobs/${job}/job_events/?page_size=1`);
    if (res.status !== 200) throw new Error(`GET job_events of job ${job}: ${res.status}`);
    await res.json();
  } else if (sqlite !== undefined) sqlite.prepare(SQL[data.how]).get(job);
  else await pool?.query(SQL[data.how].replace('?', '$1'), [job]);
}

const latencies: number[] = [];
for (let tick = performance.now(); running; ) {
  await Promise.all(data.jobs.map(async (job) => {
    const t = performance.now();
    await poll(job);
    latencies.push(performance.now() - t);
  }));
  tick += data.pollMs;
  const now = performance.now();
  if (tick < now) tick = now; // late: the next round at once, not a burst to catch up
  else await delay(tick - now);
}
sqlite?.close();
await pool?.end();
port.postMessage(latencies);
port.close();
