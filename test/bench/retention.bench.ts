// Retention: does ingest keep flowing while the daily cleanup deletes a million events? One run,
// one SQLite database, the real node (`node src/main.ts`, 2 receiver threads, batch_size 1000):
//   1. Setup: 1,000 jobs that finished 200 days ago with 1,000 events each (~1 KB, shaped like the
//      fixture's) and 3 host summaries each, written straight into the database before the start.
//   2. Alone: the receivers ingest from a callback queue kept full (refilled whenever it holds
//      fewer than 20,000 events) for ALONE_S seconds; the rate from
//      callback_receiver_events_insert_db_total, polled every 100 ms.
//   3. During the cleanup: the same ingest while the dispatcher runs cleanup_jobs (queued in its
//      task queue as the daily schedule queues it) over those million events, from the task's
//      start to its 'cleanup finished' log line. Printed side by side with (2), with the ratio,
//      the longest time the insert counter did not move in each phase, and the cleanup's own rate.
//   4. Space: how much the database grew (page_count × page_size, read by another connection) per
//      event ingested alone, against how much it grew during the cleanup: what it did not grow went
//      into the pages the cleanup freed (SQLite's freelist), and the free pages left at the end.
// Run: npm run bench -- retention (about 2 minutes on 2 cores); RETENTION_BENCH_EVENTS=… sets the
// number of events to delete (1,000,000 by default).
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { startTestRedis } from '../helpers/redis-server.ts';
import { fixtureEvents, fixtureRows } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import { TaskQueue } from '../../src/dispatch/task-queue.ts';
import { EVENT_COLUMNS } from '../../src/storage/sql.ts';
import { cleanupStack } from './lib/cleanups.ts';

const EVENTS = Number(process.env.RETENTION_BENCH_EVENTS ?? 1_000_000);
const PER_JOB = 1000;
const JOBS = Math.ceil(EVENTS / PER_JOB);
const ALONE_S = 12;
const CLEANUP_TIMEOUT_MS = 150_000;
const POLL_MS = 100;
const QUEUE = 'callback_tasks';
const LOW_WATER = 20_000;
const REFILL = 10_000;
const NODE = 'retention-bench';
const INSERTED = 'callback_receiver_events_insert_db_total';
/** Events saved before the first measurement window opens. */
const WARMUP_EVENTS = 20_000;
const NEW_JOB = JOBS + 1_000;

// --- what it started, stopped on exit, error and signals -------------------------------------------
const cleanups = cleanupStack('retention');

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

/** Old finished jobs with their events, host summaries and private dirs, written in one go. */
async function seed(dataDir: string): Promise<{ seconds: number; bytes: number }> {
  const began = performance.now();
  const file = join(dataDir, 'overseer.db');
  // node:sqlite binds every number as a REAL: the integer arithmetic below uses constants in the SQL.
  const storage = new SqliteStorage(file);
  // Migrations through the storage, then one connection of our own for the bulk rows.
  await storage.migrate();
  await storage.close();
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF');
  const sample = fixtureRows(1).rows.find((r) => r.event === 'runner_on_ok') ?? fixtureRows(1).rows[0];
  if (sample === undefined) throw new Error('no fixture event');
  const old = new Date(Date.now() - 200 * 86_400_000).toISOString();
  db.exec('BEGIN');
  db.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO jobs (id, type, name, status, launch_type, playbook, extra_vars, forks, workflow_nodes, controller_node, task_impact,
       job_explanation, scm_revision, task_id, created, modified, started, finished, elapsed)
     SELECT i, 'job', 'old', 'successful', 'manual', 'site.yml', '{}', 0, '[]', ?, 1, '', '', '', ?, ?, ?, ?, 1 FROM n`,
  ).run(JOBS, NODE, old, old, old, old);
  db.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
     INSERT INTO job_events (${EVENT_COLUMNS})
     SELECT 1 + i / ${PER_JOB}, lower(hex(randomblob(16))), 1 + i % ${PER_JOB}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL FROM n`,
  ).run(EVENTS, sample.event, sample.event_data, sample.stdout, sample.start_line, sample.end_line, old, old, sample.host_name, sample.task, sample.play, sample.role, 1, 0);
  db.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? * 3 - 1)
     INSERT INTO job_host_summaries (job_id, host_name, ok, changed, failures, dark, skipped, rescued, ignored, processed, failed)
     SELECT 1 + i / 3, 'h' || (i % 3), 19, 5, 0, 0, 1, 0, 1, 1, 0 FROM n`,
  ).run(JOBS);
  db.exec('COMMIT');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  for (let id = 1; id <= JOBS; id++) {
    mkdirSync(join(dataDir, 'jobs', String(id), 'artifacts'), { recursive: true });
    writeFileSync(join(dataDir, 'jobs', String(id), 'artifacts', 'stdout'), 'PLAY RECAP');
  }
  return { seconds: (performance.now() - began) / 1000, bytes: statSync(file).size };
}

/** The database's size and free pages, read as another process would while the node runs. */
function space(dataDir: string): { bytes: number; freePages: number; pageSize: number } {
  const db = new DatabaseSync(join(dataDir, 'overseer.db'), { readOnly: true, timeout: 10_000 });
  try {
    const freePages = (db.prepare('PRAGMA freelist_count').get() as { freelist_count: number }).freelist_count;
    const pageSize = (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    return { bytes: pages * pageSize, freePages, pageSize };
  } finally {
    db.close();
  }
}

/** Keeps the callback queue full of fresh events until stopped. */
function feed(redis: Redis): { stop(): Promise<void> } {
  const base = fixtureEvents(NEW_JOB).find((e) => e.event === 'runner_on_ok') ?? {};
  const template = JSON.stringify({ ...base, uuid: '@UUID@', counter: 1, created: new Date().toISOString() });
  let running = true;
  const loop = (async () => {
    while (running) {
      if ((await redis.llen(QUEUE)) < LOW_WATER) {
        for (let i = 0; i < REFILL; i += 1000) {
          await redis.rpush(QUEUE, ...Array.from({ length: 1000 }, () => template.replace('@UUID@', randomUUID())));
        }
      } else await delay(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Samples the insert counter every POLL_MS until stopped: rate and the longest time it stood still. */
function watch(port: number): { stop(): Promise<{ events: number; seconds: number; rate: number; longestStallMs: number }> } {
  let running = true;
  let first: { t: number; n: number } | undefined;
  let last: { t: number; n: number } | undefined;
  let movedAt = performance.now();
  let longestStallMs = 0;
  const loop = (async () => {
    while (running) {
      const n = sampleValue((await scrape(port)).body, INSERTED) ?? NaN;
      const t = performance.now();
      first ??= { t, n };
      if (last !== undefined && n > last.n) movedAt = t;
      longestStallMs = Math.max(longestStallMs, t - movedAt);
      last = { t, n };
      await delay(POLL_MS);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      const events = (last?.n ?? 0) - (first?.n ?? 0);
      const seconds = ((last?.t ?? 0) - (first?.t ?? 0)) / 1000;
      return { events, seconds, rate: events / seconds, longestStallMs };
    },
  };
}

async function main(): Promise<void> {
  const dir = tempDir('overseer-retention-bench-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const redisServer = await startTestRedis();
  cleanups.push(() => redisServer.stop());
  const redis = new Redis(redisServer.url);
  cleanups.push(() => redis.disconnect());

  const config = await writeTestConfig(dir, {
    node_name: NODE,
    redis_url: redisServer.url,
    log_level: 'info',
    services: { callback_receiver: { workers: 2, batch_size: 1000, buffer_ms: 100 }, dispatcher: { min_workers: 1, max_workers: 2 } },
  });
  mkdirSync(config.dataDir, { recursive: true });
  console.log(`setup: ${fmt(JOBS)} jobs finished 200 days ago, ${fmt(EVENTS)} events, ${fmt(JOBS * 3)} host summaries …`);
  const seeded = await seed(config.dataDir);
  console.log(`setup: written in ${seeded.seconds.toFixed(1)} s; database ${mb(seeded.bytes)}`);

  const node: NodeUnderTest = startNode(['--config', config.file]);
  cleanups.push(() => node.stop('SIGKILL'));
  await node.waitForLog('ready', 60_000);
  const port = config.ports.callback_receiver;
  const producer = feed(redis);
  cleanups.push(() => producer.stop());
  // Warm-up: the queue fills and the threads reach their pace (WARMUP_EVENTS saved).
  const inserted = async () => sampleValue((await scrape(port)).body, INSERTED) ?? 0;
  const base = await inserted();
  await waitFor('ingest to warm up', async () => (await inserted()) - base >= WARMUP_EVENTS, 60_000);

  const aloneSpace = space(config.dataDir);
  const alone = watch(port);
  await delay(ALONE_S * 1000);
  const a = await alone.stop();
  const cleanupSpace = space(config.dataDir);

  const during = watch(port);
  await new TaskQueue(redis, NODE).submit('cleanup_jobs', {}, { once: true });
  const done = await node.waitForLog('cleanup finished', CLEANUP_TIMEOUT_MS);
  const d = await during.stop();
  const endSpace = space(config.dataDir);
  await producer.stop();
  const code = await node.stop();

  const cleanupS = Number(done.seconds);
  console.log('');
  console.log(`| ingest (2 receiver threads, SQLite) | events/s | longest stall | events |`);
  console.log(`|---|---|---|---|`);
  console.log(`| alone, ${a.seconds.toFixed(1)} s | ${fmt(a.rate)} | ${fmt(a.longestStallMs)} ms | ${fmt(a.events)} |`);
  console.log(`| during the cleanup, ${d.seconds.toFixed(1)} s | ${fmt(d.rate)} | ${fmt(d.longestStallMs)} ms | ${fmt(d.events)} |`);
  console.log('');
  console.log(`ingest during the cleanup / alone: ×${(d.rate / a.rate).toFixed(2)}`);
  console.log(
    `cleanup: ${fmt(Number(done.events))} events, ${fmt(Number(done.jobs))} jobs, ${fmt(Number(done.host_summaries))} host summaries, ` +
      `${fmt(Number(done.private_dirs))} dirs in ${cleanupS.toFixed(1)} s (${fmt(Number(done.events) / cleanupS)} events/s deleted, ${fmt(Number(done.batches))} batches)`,
  );
  const perEvent = (cleanupSpace.bytes - aloneSpace.bytes) / a.events;
  const grew = endSpace.bytes - cleanupSpace.bytes;
  const wouldGrow = d.events * perEvent;
  console.log(
    `space: ingest alone grew the database ${mb(cleanupSpace.bytes - aloneSpace.bytes)} for ${fmt(a.events)} events (${fmt(perEvent)} bytes each); ` +
      `during the cleanup ${fmt(d.events)} events grew it ${mb(grew)} instead of ~${mb(wouldGrow)}: ${mb(wouldGrow - grew)} went into pages the cleanup freed; ` +
      `${fmt(endSpace.freePages)} free pages (${mb(endSpace.freePages * endSpace.pageSize)}) left at the end, for the next events (database ${mb(endSpace.bytes)})`,
  );
  console.log(`node exit code ${code}`);
  if (Number(done.events) !== EVENTS) throw new Error(`the cleanup deleted ${done.events} events, expected ${EVENTS}`);
}

try {
  await main();
} finally {
  await cleanups.runAll();
}
