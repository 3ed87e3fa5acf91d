// The dispatcher: a pool between min_workers and max_workers threads that runs jobs, project
// updates and the three managers, fed by the task runner in the supervisor's main thread from
// this node's durable task queue.
import type { ThreadSettings } from '../task-messages.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import { ControlStore } from '../control/store.ts';
import { nodeCapacity } from '../control/capacity.ts';
import { TaskRunner } from '../dispatch/task-runner.ts';
import { jobMetrics } from '../dispatch/job-metrics.ts';
import { ensurePrograms } from '../system/programs.ts';
import type { Service } from './service.ts';

/** What a dispatcher thread needs to know (piscina workerData of its pool). */
export interface DispatcherSettings extends ThreadSettings {
  readonly databaseUrl: string;
  readonly dataDir: string;
  /** The process-wide SQLite write lock (see src/storage/write-lock.ts). */
  readonly sqliteLock: SharedArrayBuffer;
  /** Where jobs push their events (the callback receiver's queue). */
  readonly callbackQueue: string;
  /** This node's capacity in forks. */
  readonly capacity: number;
  /** Jobs this node runs at once at most (max_workers less one thread kept for the managers). */
  readonly maxJobs: number;
  readonly managerTimeoutMs: number;
  readonly managerGraceMs: number;
  /** The ansible-runner and git programs. */
  readonly ansibleRunner: string;
  readonly git: string;
  /** retention.days: the cleanup_jobs task deletes finished jobs older than this; 0 keeps them. */
  readonly retentionDays: number;
}

export const dispatcher: Service = {
  name: 'dispatcher',
  async start(node) {
    const { config: c, log } = node;
    const d = c.services.dispatcher;
    const capacity = nodeCapacity(d.capacity);
    const settings: DispatcherSettings = {
      nodeName: c.node_name,
      logLevel: c.log_level,
      redisUrl: node.redisUrl,
      databaseUrl: c.database_url,
      dataDir: c.data_dir,
      sqliteLock: node.sqliteLock,
      callbackQueue: c.services.callback_receiver.queue,
      capacity,
      maxJobs: Math.max(1, d.max_workers - 1),
      managerTimeoutMs: d.manager_timeout_ms,
      managerGraceMs: d.manager_grace_ms,
      ansibleRunner: d.ansible_runner,
      git: d.git,
      retentionDays: c.retention.days,
    };
    for (const problem of ensurePrograms(['ansible-runner', 'git'], (line) => log.info(line))) {
      log.warn({ problem }, 'jobs will fail until this is installed');
    }
    const pool = await node.startPool({ service: 'dispatcher', minThreads: d.min_workers, maxThreads: d.max_workers, loops: 0, idleTimeoutMs: d.idle_timeout_ms, workerData: settings });
    node.checkpoint();
    const metrics = (node.metrics.dispatcher as ServiceMetrics<'dispatcher'>).localRecorder('supervisor').metrics;
    const runner = new TaskRunner({
      node: c.node_name,
      redisUrl: node.redisUrl,
      dataDir: c.data_dir,
      pool,
      // Jobs failed at restart, or errored when their thread ended, are counted here.
      store: new ControlStore(node.storage.sql, jobMetrics(metrics)),
      metrics,
      log,
      capacity,
      scheduleMs: d.schedule_interval_ms,
      gatherMs: c.snapshot_interval_ms,
      managerTimeoutMs: d.manager_timeout_ms,
      managerGraceMs: d.manager_grace_ms,
      cleanupDaily: c.retention.days > 0,
    });
    node.defer('task runner', (timeoutMs) => runner.close(timeoutMs));
    await runner.start();
    log.info({ capacity, max_jobs: settings.maxJobs }, 'dispatcher started');
  },
};
