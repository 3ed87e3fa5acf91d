// Event counts: what counting one job's events costs, and what a client polling counts costs ingest.
//   1. Count time, SQLite (a file) and PostgreSQL: one job with 10 events and one with 100,000. Ours
//      (storage.countJobEvents: the job's row in job_event_counts, what the job_events listing
//      reads) next to SELECT count(*) ... WHERE job_id = ? (what it ran before), on the same
//      connection; the median of as many calls as fit in 1.5 s (at most 5,000) each.
//   2. Ingest while a client polls: the real node (2 receiver threads, batch_size 1000, buffer_ms
//      100), the callback queue kept full of events of 20 jobs that already hold SEED_PER_JOB events
//      each; events/s from callback_receiver_events_insert_db_total over WINDOW_S windows: alone;
//      while a client asks each of the 20 jobs' counts 10 times a second, as (a) GET
//      /api/v2/jobs/N/job_events/?page_size=1 (what a job output page does; ours), (b) ours in SQL on a
//      connection of its own, (c) count(*) on a connection of its own (the query the API ran before,
//      without the HTTP part). The four phases in turn, ROUNDS times, on SQLite and PostgreSQL;
//      the median window of each, and each window. The polling client runs in a thread of its own.
// Run: npm run bench -- event-count (about 8 minutes on 2 cores). Timings on a shared machine are
// noisy: compare the windows of one run, taken in turn.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue } from '../helpers/node-process.ts';
import { startTestRedis } from '../helpers/redis-server.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { fixtureEvents, fixtureRows } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { openStorage } from '../../src/storage/open.ts';
import type { EventRow, Storage } from '../../src/storage/storage.ts';
import type { PollerData } from './workers/count-poller.ts';
import { cleanupStack } from './lib/cleanups.ts';

const SIZES = [10, 100_000] as const;
const SEED_PER_JOB = 20_000;
const POLLED_JOBS = 20;
const POLL_MS = 100;
const WINDOW_S = 8;
const ROUNDS = 3;
const QUEUE = 'callback_tasks';
const INSERTED = 'callback_receiver_events_insert_db_total';
const FIRST_JOB = 500;

const cleanups = cleanupStack('event-count');

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const time = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
const sorted = (v: readonly number[]) => [...v].sort((a, b) => a - b);
const at = (v: readonly number[], q: number) => sorted(v)[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? NaN;

/** Events shaped like the fixture's runner_on_ok (about 1 KB), counters from..from+n-1 of one job. */
function rows(jobId: number, from: number, n: number): EventRow[] {
  const sample = fixtureRows(jobId).rows.find((r) => r.event === 'runner_on_ok') as EventRow;
  return Array.from({ length: n }, (_, i) => ({ ...sample, uuid: randomUUID(), counter: from + i }));
}

async function seed(storage: Storage, jobs: readonly number[], perJob: number): Promise<void> {
  for (let from = 1; from <= perJob; from += 1000 / jobs.length) {
    const n = Math.min(1000 / jobs.length, perJob - from + 1);
    await storage.saveBatch({ events: jobs.flatMap((j) => rows(j, from, n)), hostSummaries: [], streamEnds: [] });
  }
}

/** The median time of one call, over as many as fit in budgetMs (at most max), after a warm-up. */
async function perCall(fn: () => Promise<unknown>, budgetMs = 1500, max = 5000): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  const times: number[] = [];
  const end = performance.now() + budgetMs;
  while (times.length < max && performance.now() < end) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return at(times, 0.5);
}

async function countTimes(backend: string, databaseUrl: string, dataDir: string): Promise<void> {
  const storage = openStorage(databaseUrl, dataDir);
  try {
    await storage.migrate();
    const [small, big] = [FIRST_JOB - 2, FIRST_JOB - 1];
    await seed(storage, [small], SIZES[0]);
    await seed(storage, [big], SIZES[1]);
    const times: number[] = [];
    for (const [job, size] of [[small, SIZES[0]], [big, SIZES[1]]] as const) {
      if ((await storage.countJobEvents(job)) !== size) throw new Error(`job ${job}: count ${await storage.countJobEvents(job)}, expected ${size}`);
      const ours = await perCall(() => storage.countJobEvents(job));
      const scan = await perCall(() => storage.sql.get('SELECT count(*) AS n FROM job_events WHERE job_id = ?', [job]));
      times.push(ours);
      console.log(`| ${backend} | ${fmt(size)} | ${time(ours)} | ${time(scan)} | ×${(scan / ours).toFixed(1)} |`);
    }
    console.log(`| ${backend} | ours 100,000 / 10 | ×${((times[1] as number) / (times[0] as number)).toFixed(2)} | | |`);
  } finally {
    await storage.close();
  }
}

/** One job's event count, read once through the storage. */
async function storageCount(databaseUrl: string, dataDir: string, job: number): Promise<number> {
  const storage = openStorage(databaseUrl, dataDir);
  try {
    return await storage.countJobEvents(job);
  } finally {
    await storage.close();
  }
}

/** Keeps the callback queue full of fresh events of the polled jobs until stopped. */
function feed(redis: Redis, jobs: readonly number[]): { stop(): Promise<void> } {
  const { job_id: _j, uuid: _u, counter: _c, ...base } = fixtureEvents(0).find((e) => e.event === 'runner_on_ok') ?? {};
  // Cut once around the fields that change, so that making an event is a few concatenations.
  const rest = JSON.stringify({ ...base, created: new Date().toISOString() }).slice(1);
  let running = true;
  let counter = SEED_PER_JOB;
  const loop = (async () => {
    while (running) {
      if ((await redis.llen(QUEUE)) >= 20_000) {
        await delay(50);
        continue;
      }
      for (let i = 0; i < 10; i++) {
        const events = jobs.flatMap((job) => Array.from({ length: 1000 / jobs.length }, (_, k) =>
          `{"job_id":${job},"uuid":"${randomUUID()}","counter":${counter + k},${rest}`));
        counter += 1000 / jobs.length;
        await redis.rpush(QUEUE, ...events);
      }
    }
  })();
  return { stop: async () => { running = false; await loop; } };
}

/** The polling client in a thread of its own; stop() resolves with every poll's latency (ms). */
function poller(data: PollerData): { stop(): Promise<number[]> } {
  const worker = new Worker(new URL('./workers/count-poller.ts', import.meta.url), { workerData: data });
  const done = new Promise<number[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the poller thread exited (${code}) before reporting`)));
  });
  done.catch(() => {}); // awaited in stop()
  return { stop: async () => { worker.postMessage('stop'); return done; } };
}

/** Events/s saved over WINDOW_S seconds, from the insert counter; and the shortest the queue got (0: the feed ran dry). */
async function rate(port: number, redis: Redis): Promise<{ rate: number; lowest: number }> {
  const inserted = async () => sampleValue((await scrape(port)).body, INSERTED) ?? NaN;
  const [n0, t0] = [await inserted(), performance.now()];
  let lowest = Infinity;
  while (performance.now() - t0 < WINDOW_S * 1000) {
    lowest = Math.min(lowest, await redis.llen(QUEUE));
    await delay(250);
  }
  return { rate: ((await inserted()) - n0) / ((performance.now() - t0) / 1000), lowest };
}

async function ingest(backend: 'SQLite' | 'PostgreSQL', pgServer: TestPostgres, redisUrl: string): Promise<void> {
  const dir = tempDir('overseer-event-count-bench-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const databaseUrl = backend === 'SQLite' ? '' : await pgServer.createDatabase();
  const config = await writeTestConfig(dir, {
    redis_url: redisUrl,
    database_url: databaseUrl,
    log_level: 'info',
    services: { callback_receiver: { workers: 2, batch_size: 1000, buffer_ms: 100 } },
  });
  const jobs = Array.from({ length: POLLED_JOBS }, (_, i) => FIRST_JOB + i);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const storage = openStorage(databaseUrl, config.dataDir);
  await storage.migrate();
  await seed(storage, jobs, SEED_PER_JOB);
  await storage.close();

  const node = startNode(['--config', config.file]);
  cleanups.push(() => node.stop('SIGKILL'));
  await node.waitForLog('ready', 60_000);
  const redis = new Redis(redisUrl);
  cleanups.push(() => redis.disconnect());
  await redis.del(QUEUE);
  const phases: { name: string; how?: PollerData['how'] }[] = [
    { name: 'alone' },
    { name: 'API: GET job_events/?page_size=1 (ours)', how: 'api' },
    { name: 'SQL: the count row (ours)', how: 'count-row' },
    { name: 'SQL: count(*) (before)', how: 'count-star' },
  ];
  const results = new Map<string, { rates: number[]; latencies: number[]; lowest: number }>(phases.map((p) => [p.name, { rates: [], latencies: [], lowest: Infinity }]));
  const producer = feed(redis, jobs);
  cleanups.push(() => producer.stop());
  const port = config.ports.callback_receiver;
  const inserted = async () => sampleValue((await scrape(port)).body, INSERTED) ?? 0;
  await waitFor('ingest to warm up', async () => (await inserted()) >= 20_000, 60_000);
  for (let round = 0; round < ROUNDS; round++) {
    for (const phase of phases) {
      const client = phase.how === undefined ? undefined : poller({
        how: phase.how, jobs, pollMs: POLL_MS, webPort: config.ports.web, sqliteFile: join(config.dataDir, 'overseer.db'), databaseUrl,
      });
      const r = await rate(port, redis);
      const entry = results.get(phase.name) as { rates: number[]; latencies: number[]; lowest: number };
      entry.rates.push(r.rate);
      entry.lowest = Math.min(entry.lowest, r.lowest);
      entry.latencies.push(...((await client?.stop()) ?? []));
    }
  }
  await producer.stop();
  const final = await storageCount(databaseUrl, config.dataDir, FIRST_JOB);
  await node.stop();
  const median = (v: readonly number[]) => sorted(v)[Math.floor((v.length - 1) / 2)] as number;
  const alone = median(results.get('alone')?.rates ?? []);
  for (const [name, { rates, latencies, lowest }] of results) {
    const polls = latencies.length / (ROUNDS * WINDOW_S);
    const lat = latencies.length === 0 ? '' : `${fmt(polls)}/s, p50 ${time(at(latencies, 0.5))}, p99 ${time(at(latencies, 0.99))}`;
    const dry = lowest === 0 ? ' (THE FEED RAN DRY: this rate is the feed\'s)' : '';
    console.log(`| ${backend} | ${name} | ${fmt(median(rates))} (${rates.map(fmt).join(', ')})${dry} | ×${(median(rates) / alone).toFixed(2)} | ${lat} |`);
  }
  console.log(`(job ${FIRST_JOB} held ${fmt(final)} events at the end: the polled jobs grew from ${fmt(SEED_PER_JOB)} during the run)`);
}

async function main(): Promise<void> {
  const pgServer = await startTestPostgres();
  cleanups.push(() => pgServer.stop());
  const dir = tempDir('overseer-event-count-bench-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  console.log('Counting one job\'s events: median time of one call');
  console.log('');
  console.log('| backend | events in the job | ours (count row) | count(*) | count(*) / ours |');
  console.log('|---|---|---|---|---|');
  await countTimes('SQLite', '', dir);
  await countTimes('PostgreSQL', await pgServer.createDatabase(), dir);

  const redisServer = await startTestRedis();
  cleanups.push(() => redisServer.stop());
  console.log('');
  console.log(`Ingest (2 receiver threads) while a client polls ${POLLED_JOBS} jobs' counts ${1000 / POLL_MS} times a second; ${ROUNDS} windows of ${WINDOW_S} s each`);
  console.log('');
  console.log('| backend | client | events/s, median (windows) | / alone | polls |');
  console.log('|---|---|---|---|---|');
  await ingest('SQLite', pgServer, redisServer.url);
  await ingest('PostgreSQL', pgServer, redisServer.url);
}

try {
  await main();
} finally {
  await cleanups.runAll();
}
