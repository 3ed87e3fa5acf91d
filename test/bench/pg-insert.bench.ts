// Benchmark: PostgresStorage.saveBatch (COPY into a temp table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING) against the same
// transaction done with one INSERT ... SELECT * FROM unnest(typed arrays) ON CONFLICT DO NOTHING. 1000-event batches built
// from the ansible-runner fixture (fresh uuids), the methods interleaved in one run against one local PostgreSQL 15.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { startTestPostgres } from '../helpers/postgres.ts';
import { fixtureEvents } from '../helpers/events.ts';
import { PostgresStorage } from '../../src/storage/postgres.ts';
import type { EventRow } from '../../src/storage/storage.ts';

const BATCH = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 60);
const fixture = fixtureEvents(0) as any[];
let job = 0;
function batch(): EventRow[] {
  const jobId = ++job;
  const now = new Date().toISOString();
  return Array.from({ length: BATCH }, (_, i) => {
    const e = fixture[i % fixture.length];
    const d = e.event_data;
    return {
      job_id: jobId, uuid: randomUUID(), counter: i + 1, event: e.event, event_data: JSON.stringify(d), stdout: e.stdout,
      start_line: e.start_line, end_line: e.end_line, created: new Date(`${e.created}Z`).toISOString(), modified: now,
      host_name: d.host ?? '', task: d.task ?? '', play: d.play ?? '', role: d.role ?? '', changed: d.res?.changed === true,
      failed: e.event === 'runner_on_failed', parent_uuid: e.parent_uuid ?? null,
    };
  });
}
const bytes = batch().reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0) / BATCH;

const COLS = 'job_id, uuid, counter, event, event_data, stdout, start_line, end_line, created, modified, host_name, task, play, role, changed, failed, parent_uuid';
const UNNEST = `INSERT INTO job_events (${COLS})
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::json[], $6::text[], $7::integer[],
    $8::integer[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::text[], $13::text[], $14::text[],
    $15::boolean[], $16::boolean[], $17::text[])
  ON CONFLICT (job_id, uuid) DO NOTHING`;
async function unnestBatch(client: pg.Client, events: EventRow[]): Promise<number> {
  const values = (COLS.split(', ') as (keyof EventRow)[]).map((k) => events.map((e) => e[k]));
  await client.query('BEGIN');
  const r = await client.query({ name: 'unnest', text: UNNEST, values });
  await client.query('COMMIT');
  return r.rowCount ?? 0;
}

const server = await startTestPostgres();
try {
  const url = await server.createDatabase('bench');
  const storage = new PostgresStorage(url, { max: 1 });
  await storage.migrate();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const methods = {
    copy: async (events: EventRow[]) => (await storage.saveBatch({ events, hostSummaries: [], streamEnds: [] })).inserted,
    unnest: (events: EventRow[]) => unnestBatch(client, events),
  };
  for (const durable of [false, true]) {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    for (const s of ['fsync', 'synchronous_commit', 'full_page_writes']) await admin.query(`ALTER SYSTEM SET ${s} = ${durable ? 'on' : 'off'}`);
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    const ms = { copy: [] as number[], unnest: [] as number[] };
    for (let i = 0; i < 3; i++) for (const f of Object.values(methods)) await f(batch());
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which goes first, so that neither always follows the other's checkpoint or autovacuum.
      for (const m of r % 2 === 0 ? (['copy', 'unnest'] as const) : (['unnest', 'copy'] as const)) {
        const events = batch();
        const t = performance.now();
        const n = await methods[m](events);
        ms[m].push(performance.now() - t);
        if (n !== BATCH) throw new Error(`${m} inserted ${n}`);
      }
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    console.log(`fsync/synchronous_commit/full_page_writes ${durable ? 'on' : 'off'}: ${ROUNDS} batches of ${BATCH} events (~${Math.round(bytes)} B each) per method`);
    for (const m of ['copy', 'unnest'] as const) {
      console.log(`  ${m.padEnd(6)} ${Math.round((ROUNDS * BATCH) / (sum(ms[m]) / 1000)).toString().padStart(6)} events/s  median ${med(ms[m]).toFixed(1)} ms/batch`);
    }
    console.log(`  copy time / unnest time: ${(sum(ms.copy) / sum(ms.unnest)).toFixed(2)}`);
  }
  await client.end();
  await storage.close();
} finally {
  await server.stop();
}
