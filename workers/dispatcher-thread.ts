// A dispatcher pool thread: runs the tasks the dispatcher hands it (piscina task name = task
// name): jobs and project updates, and the task, dependency and workflow managers, each of which
// runs under a cluster-wide lock.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { threadId, workerData } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { threadMetrics } from './thread-metrics.ts';
import { runPlaybook, type RunOutcome } from './jobs/run-playbook.ts';
import { updateProject } from './jobs/update-project.ts';
import { CANCEL, type TaskLimits, type TaskMessage } from '../src/task-messages.ts';
import type { DispatcherSettings } from '../src/services/dispatcher.ts';
import type { ManagerName } from '../src/dispatch/task-names.ts';
import { createRedis } from '../src/redis/connect.ts';
import { openStorage } from '../src/storage/open.ts';
import { openWriteLock } from '../src/storage/write-lock.ts';
import { ControlStore } from '../src/control/store.ts';
import { TaskQueue } from '../src/dispatch/task-queue.ts';
import { withClusterLock } from '../src/dispatch/cluster-lock.ts';
import { jobMetrics } from '../src/dispatch/job-metrics.ts';
import { cancelJob } from '../src/control/cancel.ts';
import type { ManagerEnv } from '../src/control/manager-env.ts';
import { runTaskManager } from '../src/control/task-manager.ts';
import { runDependencyManager } from '../src/control/dependency-manager.ts';
import { runWorkflowManager } from '../src/control/workflow-manager.ts';
import { cleanupJobs, removeOrphanDirs, type CleanupCounts } from '../src/control/retention.ts';
import type { Job, JobStatus } from '../src/control/model.ts';
import { stopLeftovers } from '../src/system/leftovers.ts';
import { insideProjectRoots, outsideRootsMessage } from '../src/control/project-roots.ts';
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
    // Jobs this thread runs, and those its managers and cancels finish, are counted in its metrics.
    return { redis, store: new ControlStore(storage.sql, jobMetrics(metrics)), queue: new TaskQueue(redis, settings.nodeName) };
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
    maxJobs: limits.maxJobs,
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

export function run_job(msg: TaskMessage) {
  return runUnifiedJob(msg, async (ctx, job, signal) => {
    const project = job.project_id === null ? undefined : await ctx.store.project(job.project_id);
    const inventory = job.inventory_id === null ? undefined : await ctx.store.inventory(job.inventory_id);
    if (project === undefined || inventory === undefined) {
      return failure('error', `the job's ${project === undefined ? 'project' : 'inventory'} no longer exists`);
    }
    const projectDir = project.scm_type === 'git' ? checkoutDir(project.id) : project.local_path;
    if (!existsSync(projectDir)) {
      const why = project.scm_type === 'git' ? `no checkout of project ${project.id} on ${settings.nodeName} (checkouts are per node; its updates ran elsewhere or failed)` : `the project directory ${projectDir} does not exist on ${settings.nodeName}`;
      return failure('failed', why);
    }
    // Checked again at launch: the roots may have changed since, or a symlink on the way.
    if (project.scm_type !== 'git' && !insideProjectRoots(projectDir, settings.projectRoots)) {
      return failure('failed', `the project directory ${outsideRootsMessage(projectDir, settings.projectRoots)}`);
    }
    let extraVars: Record<string, unknown> = {};
    try {
      extraVars = JSON.parse(job.extra_vars) as Record<string, unknown>;
    } catch {
      return failure('error', 'the job has extra_vars that are not JSON');
    }
    return runPlaybook({
      jobId: job.id,
      privateDataDir: privateDataDir(job.id),
      projectDir,
      playbook: job.playbook,
      inventory: { format: inventory.format, content: inventory.content },
      extraVars,
      forks: job.forks,
      runner: settings.ansibleRunner,
      bwrap: settings.bwrap,
      redis: ctx.redis,
      queue: settings.callbackQueue,
      signal,
    });
  });
}

export function run_project_update(msg: TaskMessage) {
  return runUnifiedJob(msg, async (ctx, job, signal) => {
    const project = job.project_id === null ? undefined : await ctx.store.project(job.project_id);
    if (project === undefined) return failure('error', 'the project no longer exists');
    return updateProject({
      jobId: job.id,
      url: project.scm_url,
      branch: project.scm_branch,
      dir: checkoutDir(project.id),
      git: settings.git,
      bwrap: settings.bwrap,
      privateDir: privateDataDir(job.id),
      redis: ctx.redis,
      queue: settings.callbackQueue,
      signal,
    });
  });
}

const privateDataDir = (jobId: number) => join(settings.dataDir, 'jobs', String(jobId));

/** Where a git project's checkout lives on this node. */
const checkoutDir = (projectId: number) => join(settings.dataDir, 'projects', String(projectId));

const failure = (status: JobStatus & RunOutcome['status'], explanation: string): RunOutcome => ({ status, rc: null, events: 0, explanation });

/**
 * Takes the job from waiting to running (only the task the task manager chose may), runs it until
 * it ends, is canceled or the node stops, records how it ended, and wakes the managers.
 */
async function runUnifiedJob(
  msg: TaskMessage,
  execute: (ctx: Context, job: Job, signal: AbortSignal) => Promise<RunOutcome & { revision?: string }>,
): Promise<string> {
  const { task } = msg;
  const jobId = task.args.job_id ?? 0;
  const ctx = await connect();
  const stop = new AbortController();
  let why = '';
  msg.control?.on('message', (m) => {
    why = m === CANCEL ? 'canceled' : 'stopped';
    stop.abort();
  });
  try {
    const job = await ctx.store.job(jobId);
    const started = new Date().toISOString();
    if (job === undefined || !(await ctx.store.changeJob(jobId, ['waiting'], { status: 'running', started }, task.id))) {
      log.info({ job: jobId, task: task.id }, 'job no longer waits for this task; nothing to run');
      return 'skipped';
    }
    log.info({ job: jobId, type: job.type, name: job.name }, 'job running');
    // A cancel that came before this thread listened: the flag is already set.
    if ((await ctx.store.job(jobId))?.cancel_flag) {
      why = 'canceled';
      stop.abort();
    }
    let outcome: RunOutcome & { revision?: string };
    try {
      outcome = await execute(ctx, job, stop.signal);
    } catch (err) {
      outcome = failure('error', `the job could not run to its end: ${(err as Error).message}`);
    }
    // ansible-playbook runs in a session of its own: a runner stopped early can leave it behind.
    stopLeftovers(privateDataDir(jobId));
    // What the API serves of a job is in the database (stdout is made from the stored events):
    // the private dir, with the inventory and extra vars, goes.
    try {
      rmSync(privateDataDir(jobId), { recursive: true, force: true });
    } catch (err) {
      log.warn({ job: jobId, err }, 'could not remove the private data dir');
    }
    if (why === 'stopped') {
      outcome = { ...outcome, status: 'failed', explanation: `Node ${settings.nodeName} stopped while the job was running.` };
    } else if (why === 'canceled') {
      outcome = { ...outcome, status: 'canceled', explanation: outcome.explanation || 'Canceled.' };
    }
    const finished = new Date().toISOString();
    await ctx.store.changeJob(jobId, ['running'], {
      status: outcome.status,
      finished,
      elapsed: (Date.parse(finished) - Date.parse(started)) / 1000,
      job_explanation: outcome.explanation,
      ...(outcome.revision ? { scm_revision: outcome.revision } : {}),
    });
    log.info({ job: jobId, status: outcome.status, events: outcome.events, explanation: outcome.explanation || undefined }, 'job finished');
    // A job that ends frees capacity and unblocks others: start what can start now (AWX waits for the next 20 s run).
    await ctx.queue.submit('task_manager', {}, { once: true });
    if (job.workflow_job_id !== null) await ctx.queue.submit('workflow_manager', {}, { once: true });
    return outcome.status;
  } finally {
    msg.control?.close();
  }
}

