// The dispatcher's main side, in the supervisor: takes tasks from this node's durable queue, runs
// jobs and project updates itself (child processes, any number: see job-runner.ts) and the other
// tasks in the dispatcher pool as its threads are free, queues the managers on a schedule, tells
// running jobs to stop when they are canceled, abandons a manager that overruns its timeout, and
// gathers the pool's metrics. At start it settles what a stopped run left behind.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import { MANAGERS, type ManagerName, type TaskName } from './task-names.ts';
import type { Handles } from '../metrics/recorder.ts';
import type { ServicePool } from '../service-pool.ts';
import { STOP, type TaskLimits, type TaskMessage } from '../task-messages.ts';
import { createRedis } from '../redis/connect.ts';
import type { ControlStore } from '../control/store.ts';
import { CANCEL_CHANNEL } from '../control/cancel.ts';
import { JOB_STATUSES, type FinishedStatus } from '../control/model.ts';
import { TaskQueue, parseTask, type Task } from './task-queue.ts';
import { JOB_TASKS, JobRunner, type JobSettings } from './job-runner.ts';
import { releaseLocksOf } from './cluster-lock.ts';
import { stopLeftovers } from '../system/leftovers.ts';
import type { Logger } from '../logger.ts';

export interface TaskRunnerOptions {
  readonly node: string;
  readonly redisUrl: string;
  /** Jobs run in <dataDir>/jobs/<id>. */
  readonly dataDir: string;
  readonly pool: ServicePool;
  readonly store: ControlStore;
  /** The supervisor's own dispatcher metrics (pool gauges, task counts). */
  readonly metrics: Handles<'dispatcher'>;
  readonly log: Logger;
  readonly settings: RunnerSettings;
  /** How jobs run (their programs, dirs and queue). */
  readonly jobs: JobSettings;
}

/** What the runner reads of the config; configure() changes it while the node runs. */
export interface RunnerSettings {
  /** This node's capacity in forks. */
  readonly capacity: number;
  /** How often each manager is queued. */
  readonly scheduleMs: number;
  /** How often the pool's metrics are gathered. */
  readonly gatherMs: number;
  readonly managerTimeoutMs: number;
  readonly managerGraceMs: number;
  /** retention.days: the daily cleanup deletes finished jobs older than this (0: it does nothing). */
  readonly retentionDays: number;
}

interface Running {
  readonly task: Task;
  /** Whether it holds a pool thread (a job does not). */
  readonly inPool: boolean;
  /** Jobs only: the user canceled it. */
  cancel?(): void;
  /** Jobs and the cleanup (which can take minutes): the node stops. */
  stop?(): void;
}

/** How long one wait for a task blocks (and so how long close() may wait for the taker). */
const TAKE_WAIT_MS = 1000;
const RETRY_MS = 1000;
const CLEANUP_EVERY_MS = 86_400_000;
/** The first cleanup waits until the node has settled after a start. */
const CLEANUP_FIRST_MS = 600_000;
/**
 * Counting finished jobs scans every job (about 0.1 s per million on SQLite, blocking this
 * thread): it waits this many times its last duration before it runs again, so that it takes at
 * most 1% of the time. The active jobs are few and counted at every gather.
 */
const FINISHED_COUNT_SPACING = 100;

export class TaskRunner {
  readonly #o: TaskRunnerOptions;
  readonly #m: Handles<'dispatcher'>;
  readonly #log: Logger;
  #s: RunnerSettings;
  /** The manager and gather timers, set anew when their intervals change; the daily cleanup's stay. */
  #armed: NodeJS.Timeout[] = [];
  readonly #running = new Map<string, Running>();
  readonly #timers: NodeJS.Timeout[] = [];
  #commands: Redis | undefined;
  #blocking: Redis | undefined;
  #subscriber: Redis | undefined;
  #queue: TaskQueue | undefined;
  #jobs: JobRunner | undefined;
  /** Tasks running in the pool, one a thread. */
  #inPool = 0;
  #closing = false;
  /** Resolves when close() begins: a take blocked on a Redis that is gone must not hold up stopping. */
  readonly #stopping: Promise<string[]>;
  #stop: () => void = () => {};
  #loop: Promise<void> | undefined;
  #slotFreed: (() => void) | undefined;
  #drained: (() => void) | undefined;
  // Pool gauges between gathers.
  #threads = 0;
  #maxThreads = 0;
  #busyMs = 0;
  #busySince = performance.now();
  #gatheredAt = performance.now();
  #finished: Partial<Record<FinishedStatus, number>> = {};
  #finishedCountDue = -Infinity;

  constructor(options: TaskRunnerOptions) {
    this.#o = options;
    this.#m = options.metrics;
    this.#log = options.log.child({ service: 'dispatcher' });
    this.#s = options.settings;
    this.#stopping = new Promise((resolve) => (this.#stop = () => resolve([])));
    options.pool.onThreads((n) => this.#onThreads(n));
  }

  /** The queue producers on this node submit to (API launches). */
  get queue(): TaskQueue {
    return this.#queue as TaskQueue;
  }

  async start(): Promise<void> {
    const { redisUrl, node } = this.#o;
    this.#commands = createRedis(redisUrl, 'overseer:dispatcher', { maxRetriesPerRequest: 1 });
    this.#blocking = createRedis(redisUrl, 'overseer:dispatcher:take', { maxRetriesPerRequest: null });
    this.#subscriber = createRedis(redisUrl, 'overseer:dispatcher:cancel', { maxRetriesPerRequest: null });
    for (const r of [this.#commands, this.#blocking, this.#subscriber]) r.on('error', (err: Error) => this.#log.warn({ err }, 'redis connection error'));
    await Promise.all([this.#commands.connect(), this.#blocking.connect(), this.#subscriber.connect()]);
    this.#queue = new TaskQueue(this.#commands, node);
    this.#jobs = new JobRunner({ settings: this.#o.jobs, store: this.#o.store, redis: this.#commands, queue: this.#queue, log: this.#log });
    await this.#recover();

    await this.#subscriber.subscribe(CANCEL_CHANNEL);
    this.#subscriber.on('message', (_channel: string, message: string) => this.#cancel(Number(message)));

    this.#loop = this.#takeLoop(new TaskQueue(this.#blocking, node));
    this.#arm();
    // The cleanup runs whatever retention.days says now; with 0 it does nothing.
    this.#timers.push(setTimeout(() => {
      this.#schedule('cleanup_jobs');
      this.#timers.push(setInterval(() => this.#schedule('cleanup_jobs'), CLEANUP_EVERY_MS));
    }, CLEANUP_FIRST_MS));
    void this.#gather();
  }

  /** Pool tasks that run at once: one a thread, as many as the pool may have. */
  get #slots(): number {
    return this.#o.pool.spec.maxThreads;
  }

  /** The managers on their schedule, spread over the interval as AWX spreads it, and the gathering. */
  #arm(): void {
    for (const t of this.#armed) clearTimeout(t);
    const timers: NodeJS.Timeout[] = [];
    const { scheduleMs, gatherMs } = this.#s;
    MANAGERS.forEach((name, i) => {
      timers.push(setTimeout(() => {
        this.#schedule(name);
        timers.push(setInterval(() => this.#schedule(name), scheduleMs));
      }, (i * scheduleMs) / MANAGERS.length));
    });
    timers.push(setInterval(() => void this.#gather(), gatherMs));
    this.#armed = timers;
  }

  /** New settings from a config reload: tasks taken from now on get the new limits, and the pool's new size is used at once. */
  configure(settings: RunnerSettings): void {
    const was = this.#s;
    this.#s = settings;
    if (settings.scheduleMs !== was.scheduleMs || settings.gatherMs !== was.gatherMs) this.#arm();
    this.#slotFreed?.(); // a take waiting for a free thread looks again: the pool may be larger
    void this.#gather();
  }

  /** What a task reads of the config, as it stands when the task is handed over. */
  #limits(): TaskLimits {
    const s = this.#s;
    return { capacity: s.capacity, managerTimeoutMs: s.managerTimeoutMs, managerGraceMs: s.managerGraceMs, retentionDays: s.retentionDays };
  }

  /**
   * What a stopped run of this node left: its running jobs lost their process and are failed
   * (their leftover process group is stopped); its waiting jobs go back to pending (their task
   * ids no longer match, so a given-back task cannot run them twice); its tasks in flight go back
   * to the queue.
   */
  async #recover(): Promise<void> {
    const { store, node } = this.#o;
    const now = new Date().toISOString();
    for (const job of await store.jobsIn(['running'], "controller_node = ? AND type <> 'workflow_job'", [node])) {
      const privateDir = join(this.#o.dataDir, 'jobs', String(job.id));
      const killed = stopLeftovers(privateDir);
      if (killed > 0) this.#log.warn({ job: job.id, process_groups: killed }, 'stopped processes the job left running');
      rmSync(privateDir, { recursive: true, force: true }); // as a job that ends removes its own
      const explanation = `Node ${node} stopped while this job was running; the job's process did not survive the restart.`;
      if (await store.changeJob(job.id, ['running'], { status: 'failed', finished: now, job_explanation: explanation })) {
        this.#log.warn({ job: job.id, name: job.name }, 'job was running when this node stopped; marked failed');
      }
    }
    for (const job of await store.jobsIn(['waiting'], 'controller_node = ?', [node])) {
      await store.changeJob(job.id, ['waiting'], { status: 'pending', controller_node: '', task_id: '' });
      this.#log.info({ job: job.id }, 'job was waiting to start when this node stopped; pending again');
    }
    const given = await this.queue.giveBack();
    if (given > 0) this.#log.warn({ tasks: given }, 'tasks a stopped run was running are back in the queue');
    // A manager run killed with the node kept its cluster lock: free it, or nothing is scheduled until its TTL ends.
    const freed = await releaseLocksOf(this.#commands as Redis, node, [...MANAGERS, 'cleanup_jobs']);
    if (freed.length > 0) this.#log.warn({ locks: freed }, 'freed the cluster locks a stopped run held');
    for (const name of MANAGERS) this.#schedule(name);
  }

  #schedule(name: TaskName): void {
    this.#queue?.submit(name, {}, { once: true }).catch((err: unknown) => this.#log.warn({ err, task: name }, 'cannot queue a manager run'));
  }

  async #takeLoop(taker: TaskQueue): Promise<void> {
    while (!this.#closing) {
      // Jobs take no thread; the other tasks wait for one here rather than in piscina's queue,
      // so that what is not yet running stays in Redis and goes back to the queue on a crash.
      if (this.#inPool >= this.#slots) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
        continue;
      }
      let taken: string[];
      try {
        taken = await Promise.race([taker.take(this.#slots - this.#inPool, TAKE_WAIT_MS), this.#stopping]);
        if (this.#closing) return; // what it took (if anything) is given back at the next start
      } catch (err) {
        if (this.#closing) return;
        this.#log.warn({ err }, 'cannot take a task from the queue; retrying');
        await Promise.race([new Promise((resolve) => setTimeout(resolve, RETRY_MS)), this.#stopping]);
        continue;
      }
      for (const raw of taken) this.#run(raw);
    }
  }

  #run(raw: string): void {
    const task = parseTask(raw);
    if (task === undefined) {
      this.#log.error({ raw: raw.slice(0, 200) }, 'not a task; dropped from the queue');
      void this.queue.done(raw);
      return;
    }
    const began = performance.now();
    const { running, ended } = JOB_TASKS.includes(task.name) ? this.#runJob(task) : this.#runInPool(task);
    this.#account();
    this.#running.set(task.id, running);
    if (running.inPool) this.#inPool++;
    void ended
      .then(
        () => this.#m.tasksProcessed.labels(task.name).inc(),
        (err: unknown) => this.#failed(task, err),
      )
      .finally(async () => {
        this.#m.taskSeconds.labels(task.name).observe((performance.now() - began) / 1000);
        await this.queue.done(raw).catch((err: unknown) => this.#log.warn({ err, task: task.id }, 'cannot clear a finished task'));
        this.#account();
        this.#running.delete(task.id);
        if (running.inPool) this.#inPool--;
        this.#slotFreed?.();
        if (this.#running.size === 0) this.#drained?.();
      });
  }

  /** A job or project update: run here, as a child process, holding no thread. */
  #runJob(task: Task): { running: Running; ended: Promise<unknown> } {
    const job = (this.#jobs as JobRunner).run(task);
    return { running: { task, inPool: false, cancel: job.cancel, stop: job.stop }, ended: job.done };
  }

  /** A manager, the cleanup or a noop: run in a pool thread; a manager overrunning its timeout and grace has its thread stopped. */
  #runInPool(task: Task): { running: Running; ended: Promise<unknown> } {
    // Only the cleanup can be told to stop; the other tasks are spared making a channel.
    const channel = task.name === 'cleanup_jobs' ? new MessageChannel() : undefined;
    const message: TaskMessage = { task, control: channel?.port2, limits: this.#limits() };
    const isManager = (MANAGERS as readonly string[]).includes(task.name);
    const abandon = new AbortController();
    const watchdog = isManager
      ? setTimeout(() => {
          this.#m.managerTimeouts.labels(task.name as ManagerName, 'abandoned').inc();
          this.#log.error({ task: task.name, timeout_ms: message.limits.managerTimeoutMs, grace_ms: message.limits.managerGraceMs }, 'manager overran its timeout and grace period; its thread is stopped');
          abandon.abort();
        }, message.limits.managerTimeoutMs + message.limits.managerGraceMs)
      : undefined;
    const ended = this.#o.pool
      .run(message, task.name, { ...(channel ? { transferList: [channel.port2] } : {}), ...(isManager ? { signal: abandon.signal } : {}) })
      .finally(() => {
        clearTimeout(watchdog);
        channel?.port1.close();
      });
    const port = channel?.port1;
    return { running: { task, inPool: true, ...(port ? { stop: () => port.postMessage(STOP) } : {}) }, ended };
  }

  async #failed(task: Task, err: unknown): Promise<void> {
    this.#m.tasksFailed.labels(task.name).inc();
    this.#log.error({ err, task: task.name, id: task.id, job: task.args.job_id }, 'task failed');
    const jobId = task.args.job_id;
    if (jobId === undefined) return;
    // Its run broke off (the database unreachable, say): the job must not stay running for ever.
    const explanation = `The dispatcher could not run this job to its end: ${(err as Error)?.message ?? String(err)}`;
    await this.#o.store
      .changeJob(jobId, ['waiting', 'running'], { status: 'error', finished: new Date().toISOString(), job_explanation: explanation }, task.id)
      .catch((e: unknown) => this.#log.error({ err: e, job: jobId }, 'cannot mark the job errored'));
  }

  /** A job to cancel (from any node): stop it, if it runs here. */
  #cancel(jobId: number): void {
    for (const r of this.#running.values()) {
      if (r.task.args.job_id === jobId && r.cancel) {
        this.#log.info({ job: jobId }, 'canceling job');
        r.cancel();
      }
    }
  }

  /** Adds the thread time spent busy since the last call; call it before the number of running tasks changes. */
  #account(): void {
    const now = performance.now();
    this.#busyMs += (now - this.#busySince) * this.#inPool;
    this.#busySince = now;
  }

  #onThreads(n: number): void {
    const min = this.#o.pool.spec.minThreads;
    if (n > this.#threads && n > min) this.#m.scaleUpEvents.inc(n - Math.max(this.#threads, min));
    this.#threads = n;
    this.#maxThreads = Math.max(this.#maxThreads, n);
    this.#m.workerCount.set(n);
  }

  /** AWX's metrics_gather, every gather interval, plus this node's capacity. */
  async #gather(): Promise<void> {
    const m = this.#m;
    this.#account();
    const now = performance.now();
    const window = now - this.#gatheredAt;
    if (window > 0) m.availability.set(Math.max(0, 1 - this.#busyMs / (this.#slots * window)));
    this.#busyMs = 0;
    this.#gatheredAt = now;
    m.maxWorkerCount.set(this.#maxThreads);
    this.#maxThreads = this.#threads;
    m.activeTaskCount.set(this.#running.size);
    m.workersLimit.set(this.#slots);
    try {
      const { store } = this.#o;
      const [length, used, active] = await Promise.all([this.queue.length(), store.consumedOn(this.#o.node), store.activeJobCounts()]);
      const began = performance.now();
      if (began >= this.#finishedCountDue) {
        this.#finished = await store.finishedJobCounts();
        const took = performance.now() - began;
        this.#finishedCountDue = began + took + FINISHED_COUNT_SPACING * took;
      }
      m.taskQueueLength.set(length);
      m.instanceCapacity.set(this.#s.capacity);
      m.instanceConsumed.set(used.consumed);
      m.instanceRemaining.set(Math.max(0, this.#s.capacity - used.consumed));
      m.runningJobs.set(used.jobs);
      m.pendingJobs.set(active.byStatus.pending ?? 0);
      const counts: Partial<Record<string, number>> = { ...active.byStatus, ...this.#finished };
      for (const status of JOB_STATUSES) m.jobs.labels(status).set(counts[status] ?? 0);
      m.oldestPendingAge.set(active.oldestPending === null ? 0 : Math.max(0, (Date.now() - Date.parse(active.oldestPending)) / 1000));
    } catch (err) {
      this.#log.warn({ err }, 'cannot gather dispatcher metrics');
    }
  }

  /**
   * Stops taking tasks and tells running jobs to stop (each records that the node stopped); waits
   * up to timeoutMs for tasks in flight. Resolves true when they all finished.
   */
  async close(timeoutMs: number): Promise<boolean> {
    if (this.#closing) return true;
    this.#closing = true;
    this.#stop();
    for (const t of [...this.#timers, ...this.#armed]) clearTimeout(t);
    this.#slotFreed?.();
    for (const r of this.#running.values()) r.stop?.();
    let timer: NodeJS.Timeout | undefined;
    const drained =
      this.#running.size === 0 ||
      (await Promise.race([
        new Promise<boolean>((resolve) => (this.#drained = () => resolve(true))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]));
    clearTimeout(timer);
    this.#blocking?.disconnect();
    await this.#loop;
    this.#subscriber?.disconnect();
    this.#commands?.disconnect();
    return drained;
  }
}
