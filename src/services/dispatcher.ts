// The dispatcher: the task runner in the supervisor's main thread takes this node's durable task
// queue; it runs jobs and project updates itself (child processes, as many as capacity allows) and
// the three managers and the cleanup in a pool of min_workers to max_workers threads.
import type { ThreadSettings } from '../task-messages.ts';
import type { Config } from '../config/schema.ts';
import type { PoolSize } from '../service-pool.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import { ControlStore } from '../control/store.ts';
import { nodeCapacity } from '../control/capacity.ts';
import { TaskRunner, type RunnerSettings } from '../dispatch/task-runner.ts';
import { jobObservers } from '../dispatch/job-metrics.ts';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrograms, findProgram } from '../system/programs.ts';
import { projectRoots } from '../control/project-roots.ts';
import type { JobSettings } from '../dispatch/job-runner.ts';
import type { Service } from './service.ts';

/** What a dispatcher thread needs to know (piscina workerData of its pool); what a reload may change comes with each task (TaskLimits). */
export interface DispatcherSettings extends ThreadSettings {
  readonly databaseUrl: string;
  /** The cleanup removes private dirs of jobs under it. */
  readonly dataDir: string;
  /** The process-wide SQLite write lock (see src/storage/write-lock.ts). */
  readonly sqliteLock: SharedArrayBuffer;
}

/** The pool's size from the config. */
const poolSize = (d: Config['services']['dispatcher']): PoolSize => ({ minThreads: d.min_workers, maxThreads: d.max_workers, loops: 0, idleTimeoutMs: d.idle_timeout_ms });

/** What the task runner reads of the config, live. */
const runnerSettings = (c: Config): RunnerSettings => {
  const d = c.services.dispatcher;
  return {
    capacity: nodeCapacity(d.capacity),
    scheduleMs: d.schedule_interval_ms,
    gatherMs: c.snapshot_interval_ms,
    managerTimeoutMs: d.manager_timeout_ms,
    managerGraceMs: d.manager_grace_ms,
    retentionDays: c.retention.days,
  };
};

const RESIZE_KEYS = ['min_workers', 'max_workers', 'idle_timeout_ms'].map((k) => `services.dispatcher.${k}`);

export const dispatcher: Service = {
  name: 'dispatcher',
  async start(node) {
    const { config: c, log } = node;
    const d = c.services.dispatcher;
    for (const problem of ensurePrograms(['ansible-runner', 'git', 'bwrap'], (line) => log.info(line))) {
      log.warn({ problem }, 'jobs will fail until this is installed');
    }
    const settings: DispatcherSettings = {
      nodeName: c.node_name,
      logLevel: node.logLevel,
      redisUrl: node.redisUrl,
      databaseUrl: c.database_url,
      dataDir: c.data_dir,
      sqliteLock: node.sqliteLock,
    };
    const jobs: JobSettings = {
      nodeName: c.node_name,
      dataDir: c.data_dir,
      callbackQueue: c.services.callback_receiver.queue,
      ansibleRunner: d.ansible_runner,
      git: d.git,
      bwrap: findProgram('bwrap') ?? 'bwrap',
      projectRoots: projectRoots(c.data_dir, d.project_roots),
    };
    // Private data dirs and checkouts are the node's alone.
    for (const dir of [join(c.data_dir, 'jobs'), join(c.data_dir, 'projects')]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    }
    const pool = await node.startPool({ service: 'dispatcher', ...poolSize(d), workerData: settings });
    node.checkpoint();
    const metrics = (node.metrics.dispatcher as ServiceMetrics<'dispatcher'>).localRecorder('supervisor').metrics;
    const runner = new TaskRunner({
      node: c.node_name,
      redisUrl: node.redisUrl,
      dataDir: c.data_dir,
      pool,
      // Jobs run here, and those failed at restart, are counted here.
      store: new ControlStore(node.storage.sql, jobObservers(metrics, node.redis)),
      metrics,
      log,
      settings: runnerSettings(c),
      jobs,
    });
    node.defer('task runner', (timeoutMs) => runner.close(timeoutMs));
    await runner.start();
    node.onReload((changed) => {
      const next = node.config;
      if (RESIZE_KEYS.some((k) => changed.has(k))) pool.resize(poolSize(next.services.dispatcher));
      runner.configure(runnerSettings(next));
    });
    log.info({ capacity: runnerSettings(c).capacity, threads: `${d.min_workers}-${d.max_workers}` }, 'dispatcher started');
  },
};
