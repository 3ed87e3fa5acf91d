// A dispatcher pool thread: runs the tasks the dispatcher hands it (piscina task name = task
// name): the task, dependency and workflow managers, each under a cluster-wide lock, and the daily
// cleanup. Jobs do not run here: the dispatcher's main side supervises them (src/dispatch/job-runner.ts).
import { threadId, workerData } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { threadMetrics } from './thread-metrics.ts';
import { type TaskLimits, type TaskMessage } from '../src/task-messages.ts';
import type { DispatcherSettings } from '../src/services/dispatcher.ts';
import type { ManagerName } from '../src/dispatch/task-names.ts';
import { createRedis } from '../src/redis/connect.ts';
import { openStorage } from '../src/storage/open.ts';
import { openWriteLock } from '../src/storage/write-lock.ts';
import { ControlStore } from '../src/control/store.ts';
import { TaskQueue } from '../src/dispatch/task-queue.ts';
import { withClusterLock } from '../src/dispatch/cluster-lock.ts';
import { jobObservers } from '../src/dispatch/job-metrics.ts';
import { cancelJob } from '../src/control/cancel.ts';
import type { ManagerEnv } from '../src/control/manager-env.ts';
import { runTaskManager } from '../src/control/task-manager.ts';
import { runDependencyManager } from '../src/control/dependency-manager.ts';
import { runWorkflowManager } from '../src/control/workflow-manager.ts';
import { cleanupJobs, removeOrphanDirs, type CleanupCounts } from '../src/control/retention.ts';
import type { Job } from '../src/control/model.ts';
import { createLogger, followLevel } from '../src/logger.ts';

export const metrics = threadMetrics('dispatcher');
const settings = workerData as DispatcherSettings;
const log = createLogger('info', { node: settings.nodeName, service: 'dispatcher', thread: threadId });
/** An idle pool thread runs no timers: each task looks at the shared log level first. */
const followLogLevel = followLevel(log, settings.logLevel);

interface Context {
  readonly redis: Redis;
  readonly store: ControlStore;
  readonly queue: TaskQueue;
}

let context: Promise<Context> | undefined;

/** This thread's connections, opened by its first task and kept while the thread lives. */
function connect(): Promise<Context> {
  followLogLevel();
  context ??= (async () => {
    const redis = createRedis(settings.redisUrl, `overseer:dispatcher:${threadId}`, { maxRetriesPerRequest: 1 });
    redis.on('error', (err: Error) => log.warn({ err }, 'redis connection error'));
    await redis.connect();
    const storage = openStorage(settings.databaseUrl, settings.dataDir, { writeLock: openWriteLock(settings.sqliteLock) });
    // Jobs its managers and cancels start or finish are counted in its metrics, and their status changes published to live followers.
    return { redis, store: new ControlStore(storage.sql, jobObservers(metrics, redis)), queue: new TaskQueue(redis, settings.nodeName) };
  })();
  context.catch(() => (context = undefined)); // the next task tries again
  return context;
}

function managerEnv(ctx: Context, limits: TaskLimits): ManagerEnv {
  const submit: ManagerEnv['submit'] = (name, args, options) => ctx.queue.submit(name, args, options);
  return {
    store: ctx.store,
    node: settings.nodeName,
    capacity: limits.capacity,
    submit,
    cancel: (job: Job) => cancelJob({ store: ctx.store, submit, publish: (c, m) => ctx.redis.publish(c, m) }, job),
    deadline: Date.now() + limits.managerTimeoutMs,
  };
}

/** Runs a manager under its cluster lock, and records its run; 'skipped' when another run holds the lock. */
async function manage<R extends { timedOut: boolean }>(name: ManagerName, limits: TaskLimits, run: (env: ManagerEnv) => Promise<R>, record: (r: R) => void): Promise<R | 'skipped'> {
  const ctx = await connect();
  const ttl = limits.managerTimeoutMs + limits.managerGraceMs;
  const outcome = await withClusterLock(ctx.redis, name, settings.nodeName, ttl, () => run(managerEnv(ctx, limits)));
  if (!outcome.ran) {
    metrics.managerSkipped.labels(name).inc();
    return 'skipped';
  }
  record(outcome.value);
  // A run asked for while this one held the lock: queue it rather than wait for the schedule.
  if (outcome.askedAgain) await ctx.queue.submit(name, {}, { once: true });
  if (outcome.value.timedOut) {
    metrics.managerTimeouts.labels(name, 'stopped_early').inc();
    log.warn({ manager: name, timeout_ms: limits.managerTimeoutMs }, 'manager run reached its timeout; the next run goes on from here');
  }
  return outcome.value;
}

export function task_manager(msg: TaskMessage) {
  return manage('task_manager', msg.limits, runTaskManager, (r) => {
    const m = metrics;
    m.tmGetTasksSeconds.set(r.getTasksSeconds);
    m.tmProcessRunningSeconds.set(r.processRunningSeconds);
    m.tmProcessPendingSeconds.set(r.processPendingSeconds);
    m.tmStartTaskSeconds.set(r.startTaskSeconds);
    m.tmCommitSeconds.set(r.commitSeconds);
    m.tmScheduleSeconds.set(r.scheduleSeconds);
    m.tmTasksStarted.set(r.tasksStarted);
    m.tmTasksBlocked.set(r.tasksBlocked);
    m.tmRunningProcessed.set(r.runningProcessed);
    m.tmPendingProcessed.set(r.pendingProcessed);
    m.tmRecordedTimestamp.set(Date.now() / 1000);
    m.tmScheduleCalls.inc();
  });
}

export function dependency_manager(msg: TaskMessage) {
  return manage('dependency_manager', msg.limits, runDependencyManager, (r) => {
    metrics.dmGetTasksSeconds.set(r.getTasksSeconds);
    metrics.dmGenerateDependenciesSeconds.set(r.generateDependenciesSeconds);
    metrics.dmScheduleSeconds.set(r.scheduleSeconds);
    metrics.dmPendingProcessed.set(r.pendingProcessed);
    metrics.dmRecordedTimestamp.set(Date.now() / 1000);
    metrics.dmScheduleCalls.inc();
  });
}

export function workflow_manager(msg: TaskMessage) {
  return manage('workflow_manager', msg.limits, runWorkflowManager, (r) => {
    metrics.wmGetTasksSeconds.set(r.getTasksSeconds);
    metrics.wmSpawnSeconds.set(r.spawnSeconds);
    metrics.wmScheduleSeconds.set(r.scheduleSeconds);
    metrics.wmRecordedTimestamp.set(Date.now() / 1000);
    metrics.wmScheduleCalls.inc();
  });
}

/** How long the cleanup's cluster lock lives should its node die holding it. */
const CLEANUP_LOCK_MS = 3_600_000;

/** Counts a cleanup batch as it goes, so that a long run shows on the metrics port. */
function recordCleanup(batch: CleanupCounts): void {
  const kinds = { jobs: batch.jobs, events: batch.events, host_summaries: batch.hostSummaries, private_dirs: batch.dirs } as const;
  for (const [kind, n] of Object.entries(kinds)) if (n > 0) metrics.cleanupDeleted.labels(kind as keyof typeof kinds).inc(n);
}

/**
 * Retention: deletes finished jobs older than retention.days, one node at a time on a shared
 * Redis (another node's run skips this one), then this node's dirs of jobs that are gone. Stops
 * between batches when the node stops; the next run goes on from there.
 */
export async function cleanup_jobs(msg: TaskMessage): Promise<string> {
  const stop = new AbortController();
  msg.control?.on('message', () => stop.abort());
  try {
    const days = msg.limits.retentionDays;
    if (days === 0) return 'off';
    const ctx = await connect();
    // A connection of its own, for this run only: the cleanup is daily.
    const storage = openStorage(settings.databaseUrl, settings.dataDir, { writeLock: openWriteLock(settings.sqliteLock) });
    try {
      const outcome = await withClusterLock(ctx.redis, 'cleanup_jobs', settings.nodeName, CLEANUP_LOCK_MS, () =>
        cleanupJobs(storage, { days, dataDir: settings.dataDir, signal: stop.signal, onProgress: ({ batch }) => recordCleanup(batch) }),
      );
      const orphans = stop.signal.aborted ? 0 : await removeOrphanDirs(storage, settings.dataDir);
      recordCleanup({ jobs: 0, events: 0, hostSummaries: 0, dirs: orphans });
      if (!outcome.ran) {
        log.info({ private_dirs: orphans }, 'cleanup skipped: another node is running it');
        return 'skipped';
      }
      const r = outcome.value;
      metrics.cleanupSeconds.set(r.seconds);
      metrics.cleanupTimestamp.set(Date.now() / 1000);
      const deleted = { jobs: r.jobs, events: r.events, host_summaries: r.hostSummaries, private_dirs: r.dirs + orphans };
      log.info({ ...deleted, cutoff: r.cutoff, batches: r.batches, kept: r.kept, seconds: r.seconds }, r.stopped ? 'cleanup stopped with the node' : 'cleanup finished');
      for (const problem of r.problems) log.warn({ problem }, 'cleanup kept a job');
      return r.stopped ? 'stopped' : 'done';
    } finally {
      await storage.close();
    }
  } finally {
    msg.control?.close();
  }
}

/** Does nothing: what the task throughput benchmark runs. */
export function noop(_msg: TaskMessage): string {
  return 'ok';
}
