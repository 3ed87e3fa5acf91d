// The dispatcher's metrics: its pool (AWX's DispatcherMetrics), tasks, capacity, jobs and the
// retention cleanup. Part of the catalog (catalog.ts), in its order.
import { TASK_NAMES, MANAGERS } from '../dispatch/task-names.ts';
import { FINISHED_STATUSES, JOB_STATUSES, JOB_TYPES } from '../control/model.ts';
import { counter, gauge, histogram, type MetricSpec } from './metric-spec.ts';

const task = { name: 'task', values: TASK_NAMES } as const;
const manager = { name: 'manager', values: MANAGERS } as const;
const jobType = { name: 'type', values: JOB_TYPES } as const;

export const DISPATCHER_METRICS = [
  // --- dispatcher pool (AWX DispatcherMetrics) ---
  gauge({
    key: 'workerCount',
    service: 'dispatcher',
    name: 'dispatcher_pool_workers',
    awx: 'dispatcher_pool_worker_count',
    help: 'Threads in the dispatcher pool.',
    combine: 'sum',
  }),
  gauge({
    key: 'maxWorkerCount',
    service: 'dispatcher',
    name: 'dispatcher_pool_max_workers',
    awx: 'dispatcher_pool_max_worker_count',
    help: 'Highest number of threads in the dispatcher pool since the previous gather.',
    combine: 'max',
  }),
  gauge({
    key: 'activeTaskCount',
    service: 'dispatcher',
    name: 'dispatcher_pool_active_tasks',
    awx: 'dispatcher_pool_active_task_count',
    help: 'Tasks running in the dispatcher pool, measured at the most recent gather.',
    combine: 'sum',
  }),
  counter({
    key: 'scaleUpEvents',
    service: 'dispatcher',
    name: 'dispatcher_pool_scale_up_events_total',
    awx: 'dispatcher_pool_scale_up_events',
    help: 'Threads added to the dispatcher pool beyond its minimum because every thread was busy.',
  }),
  gauge({
    key: 'availability',
    service: 'dispatcher',
    name: 'dispatcher_availability',
    awx: 'dispatcher_availability',
    help: 'Fraction of dispatcher pool capacity (max threads) that was idle over the last gather interval, 0 to 1.',
    combine: 'last',
  }),
  gauge({
    key: 'workersLimit',
    service: 'dispatcher',
    name: 'dispatcher_pool_workers_limit',
    help: 'The most threads the dispatcher pool may have (max_workers); running jobs take none.',
    combine: 'last',
  }),

  counter({ key: 'tasksProcessed', service: 'dispatcher', name: 'dispatcher_tasks_processed_total', help: 'Tasks the dispatcher pool finished, by task.', labels: [task] }),
  counter({ key: 'tasksFailed', service: 'dispatcher', name: 'dispatcher_tasks_failed_total', help: 'Tasks that threw, or whose thread ended while they ran, by task (a job that could not run to its end, say because the database was unreachable, counts here).', labels: [task] }),
  histogram({ key: 'taskSeconds', service: 'dispatcher', name: 'dispatcher_task_duration_seconds', help: 'Time each task ran, by task.', labels: [task], buckets: [0.001, 0.01, 0.1, 1, 10, 60, 600] }),
  gauge({ key: 'taskQueueLength', service: 'dispatcher', name: 'dispatcher_task_queue_length', help: "Tasks waiting in this node's durable task queue, at the most recent gather.", combine: 'last' }),
  counter({ key: 'managerSkipped', service: 'dispatcher', name: 'dispatcher_manager_skipped_total', help: 'Manager runs that did nothing because a run on this or another node held the cluster lock.', labels: [manager] }),
  counter({
    key: 'managerTimeouts',
    service: 'dispatcher',
    name: 'dispatcher_manager_timeouts_total',
    help: 'Manager runs that reached manager_timeout_ms: stopped_early (committed what they had done) or abandoned (the dispatcher stopped their thread after the grace period).',
    labels: [manager, { name: 'outcome', values: ['stopped_early', 'abandoned'] }],
  }),
  gauge({ key: 'instanceCapacity', service: 'dispatcher', name: 'instance_capacity', awx: 'awx_instance_capacity', awxCompat: { labels: { hostname: 'node' } }, help: 'Capacity of this node (forks it may run at once), at the most recent gather.', combine: 'last' }),
  gauge({ key: 'instanceConsumed', service: 'dispatcher', name: 'instance_consumed_capacity', awx: 'awx_instance_consumed_capacity', awxCompat: { labels: { hostname: 'node' } }, help: "Capacity taken by this node's waiting and running jobs, at the most recent gather.", combine: 'last' }),
  gauge({ key: 'instanceRemaining', service: 'dispatcher', name: 'instance_remaining_capacity', awx: 'awx_instance_remaining_capacity', awxCompat: { labels: { hostname: 'node' } }, help: 'Capacity left on this node, at the most recent gather.', combine: 'last' }),
  gauge({ key: 'runningJobs', service: 'dispatcher', name: 'instance_running_jobs', awx: 'awx_running_jobs_total', awxCompat: { cluster: 'sum' }, help: 'Jobs waiting or running on this node, at the most recent gather.', combine: 'last' }),
  gauge({ key: 'pendingJobs', service: 'dispatcher', name: 'pending_jobs', awx: 'awx_pending_jobs_total', awxCompat: { cluster: 'max' }, help: 'Jobs launched and not yet started, cluster-wide, at the most recent gather.', combine: 'last' }),

  // --- jobs: how they end, how long they run and wait (recorded by whoever's guarded UPDATE moved them) ---
  counter({
    key: 'jobsFinished',
    service: 'dispatcher',
    name: 'dispatcher_jobs_finished_total',
    help: 'Jobs that reached a finished state through this node (run here, canceled or failed by a manager or the API here, failed at restart), by type and status.',
    labels: [jobType, { name: 'status', values: FINISHED_STATUSES }],
  }),
  histogram({
    key: 'jobDuration',
    service: 'dispatcher',
    name: 'dispatcher_job_duration_seconds',
    help: 'Time from a job starting to run to its finishing, for jobs that finished through this node after they started.',
    labels: [jobType],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400],
  }),
  histogram({
    key: 'jobStartDelay',
    service: 'dispatcher',
    name: 'dispatcher_job_start_delay_seconds',
    help: 'Time from a job being launched to its starting to run, for jobs that started on this node (workflow jobs: where the task manager started them).',
    labels: [jobType],
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
  }),
  gauge({
    key: 'jobs',
    service: 'dispatcher',
    name: 'dispatcher_jobs',
    awx: 'awx_status_total',
    awxCompat: { cluster: 'max' },
    help: 'Jobs in the database by status, cluster-wide, at the most recent gather (with many jobs, the finished states are recounted less often: at most 1% of the time goes to it).',
    labels: [{ name: 'status', values: JOB_STATUSES }],
    combine: 'last',
  }),
  gauge({
    key: 'oldestPendingAge',
    service: 'dispatcher',
    name: 'dispatcher_oldest_pending_job_age_seconds',
    help: 'Age of the oldest job launched and not yet started, cluster-wide, at the most recent gather; 0 when none is pending.',
    combine: 'last',
  }),

  // --- retention: the daily cleanup_jobs task (src/control/retention.ts) ---
  counter({
    key: 'cleanupDeleted',
    service: 'dispatcher',
    name: 'dispatcher_cleanup_deleted_total',
    help: 'What the cleanup deleted (finished jobs older than retention.days), by kind, counted batch by batch as it goes.',
    labels: [{ name: 'kind', values: ['jobs', 'events', 'host_summaries', 'private_dirs'] }],
  }),
  gauge({ key: 'cleanupSeconds', service: 'dispatcher', name: 'dispatcher_cleanup_duration_seconds', help: 'Time the most recent cleanup run took, pauses between its batches included.', combine: 'last' }),
  gauge({ key: 'cleanupTimestamp', service: 'dispatcher', name: 'dispatcher_cleanup_last_run_timestamp_seconds', help: 'Unix time the most recent cleanup run on this node ended (0: none since start).', combine: 'max' }),
] as const satisfies readonly MetricSpec[];
