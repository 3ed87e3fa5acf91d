// Benchmark, two parts in one run.
// 1. Dispatcher task throughput: no-op tasks through our durable queue (BLMOVE into a processing
//    list, LREM when done) and the real TaskRunner, against the BullMQ-style baseline of plain
//    LPUSH/BRPOP (a task is gone from Redis once popped), both feeding the same piscina pool with
//    the same number of tasks in flight.
// 2. Manager cost: one task manager run (task_manager__schedule_seconds) over 1,000 and 10,000
//    pending jobs, in SQLite and in PostgreSQL: once when every job fits (each one started: a
//    guarded UPDATE and a queued task), once when none fits (a run that only decides).
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { ServiceMetrics } from '../../src/metrics/service-metrics.ts';
import { ServicePool } from '../../src/service-pool.ts';
import { WORKER_FILES } from '../../src/supervisor.ts';
import { TaskRunner } from '../../src/dispatch/task-runner.ts';
import { TaskQueue, queueKeys } from '../../src/dispatch/task-queue.ts';
import { MANAGERS } from '../../src/dispatch/task-names.ts';
import { openStorage } from '../../src/storage/open.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { createLockBuffer } from '../../src/storage/write-lock.ts';
import { createLevelBuffer } from '../../src/logger.ts';
import { ControlStore } from '../../src/control/store.ts';
import { runTaskManager } from '../../src/control/task-manager.ts';
import type { ManagerEnv } from '../../src/control/manager-env.ts';
import type { DispatcherSettings } from '../../src/services/dispatcher.ts';
import { startTestRedis } from '../helpers/redis-server.ts';
import { startTestPostgres } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/node-process.ts';
import { waitFor } from './lib/measure.ts';

const TASKS = 20_000;
const THREADS = [2, 4];
const log = pino({ level: 'warn' });

const redis = await startTestRedis();
const postgres = await startTestPostgres();
const client = new Redis(redis.url);

function settings(dataDir: string, databaseUrl = ''): DispatcherSettings {
  return {
    nodeName: 'bench',
    logLevel: createLevelBuffer('warn'),
    redisUrl: redis.url,
    databaseUrl,
    dataDir,
    sqliteLock: createLockBuffer(),
  };
}

function pool(threads: number, dataDir: string): ServicePool {
  const spec = { service: 'dispatcher' as const, filename: WORKER_FILES.dispatcher, minThreads: threads, maxThreads: threads, loops: 0, idleTimeoutMs: Infinity, workerData: settings(dataDir) };
  return new ServicePool(spec, new ServiceMetrics('dispatcher'), new ServiceMetrics('web').localRecorder('bench').metrics, log);
}

const noopTask = (i: number) => JSON.stringify({ id: `t${i}`, name: 'noop', args: {}, queued_at: Date.now() });

async function fill(key: string, push: 'rpush' | 'lpush'): Promise<void> {
  for (let i = 0; i < TASKS; i += 1000) {
    await client[push](key, ...Array.from({ length: Math.min(1000, TASKS - i) }, (_, j) => noopTask(i + j)));
  }
}

/** Ours: the real TaskRunner drains a queue of TASKS no-op tasks; tasks per second. */
async function ours(threads: number): Promise<number> {
  const dataDir = tempDir('overseer-bench-');
  const storage = openStorage('', dataDir);
  await storage.migrate();
  const p = pool(threads, dataDir);
  await p.start();
  const keys = queueKeys('bench');
  await client.del(keys.queue, keys.processing);
  // The managers the dispatcher queues at start would run among the no-ops: mark them queued already.
  for (const m of MANAGERS) await client.set(keys.once(m), '1', 'PX', 600_000);
  await fill(keys.queue, 'rpush');
  const metrics = new ServiceMetrics('dispatcher').localRecorder('bench').metrics;
  const dispatcher = new TaskRunner({
    node: 'bench', redisUrl: redis.url, dataDir, pool: p, store: new ControlStore(storage.sql), metrics, log,
    settings: { capacity: 1, scheduleMs: 3_600_000, gatherMs: 3_600_000, managerTimeoutMs: 300_000, managerGraceMs: 60_000, retentionDays: 0 },
    jobs: { nodeName: 'bench', dataDir, callbackQueue: 'callback_tasks', ansibleRunner: 'ansible-runner', git: 'git', bwrap: 'bwrap', projectRoots: { roots: [], dataDir } },
  });
  const t0 = performance.now();
  await dispatcher.start();
  await waitFor('the queue to drain', async () => (await client.llen(keys.queue)) + (await client.llen(keys.processing)) === 0, 300_000);
  const seconds = (performance.now() - t0) / 1000;
  await dispatcher.close(10_000);
  await p.close(10_000);
  await storage.close();
  for (const m of MANAGERS) await client.del(keys.once(m));
  return TASKS / seconds;
}

/** The baseline: BRPOP, run in the same pool with as many in flight; tasks per second. */
async function baseline(threads: number): Promise<number> {
  const p = pool(threads, tempDir('overseer-bench-'));
  await p.start();
  const key = 'bench:plain';
  await client.del(key);
  await fill(key, 'lpush');
  const taker = new Redis(redis.url);
  let done = 0;
  let inFlight = 0;
  let freed: (() => void) | undefined;
  const t0 = performance.now();
  while (done + inFlight < TASKS) {
    if (inFlight >= threads) {
      await new Promise<void>((r) => (freed = r));
      continue;
    }
    const popped = await taker.brpop(key, 1);
    if (popped === null) continue;
    inFlight++;
    void p.run({ task: JSON.parse(popped[1]) as unknown, control: undefined }, 'noop').finally(() => {
      inFlight--;
      done++;
      freed?.();
    });
  }
  await waitFor('the last tasks', () => done === TASKS, 60_000);
  const seconds = (performance.now() - t0) / 1000;
  taker.disconnect();
  await p.close(10_000);
  return TASKS / seconds;
}

console.log(`dispatcher task throughput: ${TASKS} no-op tasks queued, then drained (tasks/s)`);
console.log('threads  durable queue (ours)  LPUSH/BRPOP  ours/baseline');
for (const threads of THREADS) {
  const b = await baseline(threads);
  const o = await ours(threads);
  console.log(`${String(threads).padStart(7)}  ${o.toFixed(0).padStart(20)}  ${b.toFixed(0).padStart(11)}  ×${(o / b).toFixed(2)}`);
}

/** Creates n pending jobs (each its own template's, so none blocks another) and runs the task manager once. */
async function managerRun(storage: Storage, n: number, capacity: number): Promise<{ first: number; second: number; started: number }> {
  const store = new ControlStore(storage.sql);
  const project = await store.createProject({ name: `p${n}-${capacity}`, description: '', scm_type: '', scm_url: '', scm_branch: '', local_path: '/tmp', scm_update_on_launch: false, scm_update_cache_timeout: 0 });
  const inventory = await store.createInventory({ name: `i${n}-${capacity}`, description: '', format: 'ini', content: 'localhost', host_count: 1 });
  for (let i = 0; i < n; i++) {
    await store.createJob({ type: 'job', name: `j${i}`, launch_type: 'manual', job_template_id: i + 1, project_id: project.id, inventory_id: inventory.id, playbook: 'noop.yml', dependencies_processed: true, task_impact: 2 });
  }
  const queue = new TaskQueue(client, `bench-tm-${n}-${capacity}`);
  const env: ManagerEnv = {
    store,
    node: `bench-tm-${n}-${capacity}`,
    capacity,
    submit: (name, args, options) => queue.submit(name, args, options),
    cancel: async () => undefined,
    deadline: Date.now() + 600_000,
  };
  const first = await runTaskManager(env);
  const second = await runTaskManager(env);
  // Leave no pending jobs for the next size.
  await storage.sql.run("UPDATE jobs SET status = 'canceled' WHERE status IN ('pending', 'waiting')");
  return { first: first.scheduleSeconds, second: second.scheduleSeconds, started: first.tasksStarted };
}

console.log('\ntask manager: task_manager__schedule_seconds of one run over N pending jobs');
console.log('backend      N  all fit: run 1 (starts all)  none fit: run 1 / run 2');
for (const backend of ['sqlite', 'postgres'] as const) {
  const storage = openStorage(backend === 'postgres' ? await postgres.createDatabase() : '', tempDir('overseer-bench-'));
  await storage.migrate();
  const rows: Record<number, { fit: number; none1: number; none2: number }> = {};
  for (const n of [1_000, 10_000]) {
    const fit = await managerRun(storage, n, 1_000_000);
    if (fit.started !== n) throw new Error(`expected ${n} started, got ${fit.started}`);
    const none = await managerRun(storage, n, 0);
    rows[n] = { fit: fit.first, none1: none.first, none2: none.second };
    console.log(`${backend.padEnd(8)} ${String(n).padStart(6)}  ${fit.first.toFixed(3).padStart(24)} s  ${none.first.toFixed(3)} s / ${none.second.toFixed(3)} s`);
  }
  const r1 = rows[1_000] as { fit: number; none2: number };
  const r10 = rows[10_000] as { fit: number; none2: number };
  console.log(`${backend.padEnd(8)} 10k/1k: ×${(r10.fit / r1.fit).toFixed(1)} (starting), ×${(r10.none2 / r1.none2).toFixed(1)} (deciding only); linear is ×10`);
  await storage.close();
}

client.disconnect();
await redis.stop();
await postgres.stop();
