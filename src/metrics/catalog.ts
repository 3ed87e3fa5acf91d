// Every metric overseer exposes, declared once. Recording handles, the slot layout in thread
// memory, aggregation, exposition and the README table all derive from this list.
// Names follow AWX's subsystem metrics (counters gain `_total`, times are in seconds). The words
// its labels take (services, tasks, reasons) belong to their domains and are imported from there.
import { POOLED_SERVICES, SERVICES, type ServiceName } from '../services/names.ts';
import { MANAGERS, TASK_NAMES } from '../dispatch/task-names.ts';
import { DEAD_REASONS } from '../redis/event-queue.ts';
import { REJECT_REASONS } from '../cluster/reject-reasons.ts';
import { CONNECTION_REFUSALS } from '../web/connection-limits.ts';
import { RELOAD_RESULTS } from '../config/reload.ts';
import { FINISHED_STATUSES, JOB_STATUSES, JOB_TYPES } from '../control/model.ts';
import { counter, gauge, histogram, type MetricSpec } from './metric-spec.ts';


const pooledService = { name: 'service', values: POOLED_SERVICES } as const;


const peer = { name: 'peer', values: 'peers' } as const;


const task = { name: 'task', values: TASK_NAMES } as const;
const manager = { name: 'manager', values: MANAGERS } as const;
const jobType = { name: 'type', values: JOB_TYPES } as const;

/** Timing gauges of one manager run, AWX's `<manager>_*_seconds` (the most recent run wins). */
const lastRun = 'last' as const;

export const CATALOG = [
  // --- web: the supervisor itself (process metrics from prom-client are added beside these) ---
  gauge({
    key: 'threads',
    service: 'web',
    name: 'overseer_threads',
    help: 'Worker threads alive in the service pool.',
    labels: [pooledService],
    combine: 'sum',
  }),
  counter({
    key: 'threadRestarts',
    service: 'web',
    name: 'overseer_thread_restarts_total',
    help: 'Service loops restarted by the supervisor after a thread crashed or its loop failed.',
    labels: [pooledService],
  }),

  counter({
    key: 'configReloads',
    service: 'web',
    name: 'overseer_config_reloads_total',
    help: 'Config reloads (SIGHUP or POST /api/v2/config/reload/), by result: applied, partial (some keys need a restart), invalid (nothing changed).',
    labels: [{ name: 'result', values: RELOAD_RESULTS }],
  }),
  gauge({
    key: 'configReloadedAt',
    service: 'web',
    name: 'overseer_config_last_reload_timestamp_seconds',
    help: 'When the config was last reloaded with at least part of it applied (Unix time; 0: never since start).',
    combine: 'last',
  }),
  counter({
    key: 'snapshotsWritten',
    service: 'web',
    name: 'overseer_cluster_snapshots_written_total',
    help: 'Service snapshots this node wrote to Redis.',
  }),
  counter({
    key: 'snapshotWriteSeconds',
    service: 'web',
    name: 'overseer_cluster_snapshot_write_seconds_total',
    help: 'Time spent taking and writing snapshots.',
  }),
  counter({
    key: 'snapshotsReceived',
    service: 'web',
    name: 'overseer_cluster_snapshots_received_total',
    help: 'Snapshots received from peers over the relay and stored in this node\'s Redis.',
  }),
  counter({
    key: 'snapshotsRejected',
    service: 'web',
    name: 'overseer_cluster_snapshots_rejected_total',
    help: 'Snapshots left out of /api/v2/metrics or refused by the relay endpoint, by reason.',
    labels: [{ name: 'reason', values: REJECT_REASONS }],
  }),
  counter({
    key: 'connectionsRefused',
    service: 'web',
    name: 'overseer_connections_refused_total',
    help: 'Connections a port of this node refused or closed, by port and reason: over its connection cap, headers or body too slow (timeout), malformed HTTP, a body still coming after a refusal, relay websockets over the per-address or total cap.',
    labels: [{ name: 'service', values: SERVICES }, { name: 'reason', values: CONNECTION_REFUSALS }],
  }),
  gauge({
    key: 'snapshotInterval',
    service: 'web',
    name: 'overseer_cluster_snapshot_interval_seconds',
    help: 'How often this node writes its snapshots (snapshot_interval_ms); a healthy snapshot is at most 2 intervals old.',
    combine: 'last',
  }),
  gauge({
    key: 'info',
    service: 'web',
    name: 'overseer_info',
    awx: 'awx_system_info',
    awxCompat: { labels: { tower_version: 'version' } },
    help: 'Always 1: this node\'s overseer version and node name, in its labels.',
    labels: [
      { name: 'version', values: [], about: "this node's version" },
      { name: 'node', values: [], about: "this node's node_name" },
    ],
    combine: 'last',
    computed: true,
  }),
  gauge({
    key: 'snapshotAge',
    service: 'web',
    name: 'overseer_cluster_snapshot_age_seconds',
    help: 'Age of the newest snapshot of each node in Redis, this node included.',
    labels: [{ name: 'node', values: [] }],
    combine: 'last',
    computed: true,
  }),

  // --- callback_receiver (AWX CallbackReceiverMetrics) ---
  counter({
    key: 'eventsPopped',
    service: 'callback_receiver',
    name: 'callback_receiver_events_popped_redis_total',
    awx: 'callback_receiver_events_popped_redis',
    help: 'Events taken from the Redis queue.',
  }),
  gauge({
    key: 'eventsInMemory',
    service: 'callback_receiver',
    name: 'callback_receiver_events_in_memory',
    awx: 'callback_receiver_events_in_memory',
    help: 'Events taken from Redis and not yet saved or discarded; 0 when the queue is drained.',
    combine: 'sum',
  }),
  gauge({
    key: 'queueSize',
    service: 'callback_receiver',
    name: 'callback_receiver_events_queue_size_redis',
    awx: 'callback_receiver_events_queue_size_redis',
    help: 'Length of the Redis event queue, sampled by the supervisor every snapshot interval.',
    combine: 'last',
  }),
  counter({
    key: 'eventsInserted',
    service: 'callback_receiver',
    name: 'callback_receiver_events_insert_db_total',
    awx: 'callback_receiver_events_insert_db',
    help: 'Events saved to the database.',
  }),
  counter({
    key: 'insertSeconds',
    service: 'callback_receiver',
    name: 'callback_receiver_events_insert_db_seconds_total',
    awx: 'callback_receiver_events_insert_db_seconds',
    help: 'Time spent saving events to the database, all event kinds.',
  }),
  counter({
    key: 'batchErrors',
    service: 'callback_receiver',
    name: 'callback_receiver_batch_events_errors_total',
    awx: 'callback_receiver_batch_events_errors',
    help: 'Batch inserts that failed and fell back to saving events one by one.',
  }),
  histogram({
    key: 'batchSize',
    service: 'callback_receiver',
    name: 'callback_receiver_batch_events_insert_db',
    awx: 'callback_receiver_batch_events_insert_db',
    help: 'Events per batch insert.',
    buckets: [10, 50, 150, 350, 650, 2000],
  }),
  counter({
    key: 'eventsBroadcast',
    service: 'callback_receiver',
    name: 'callback_receiver_events_broadcast_total',
    awx: 'callback_receiver_events_broadcast',
    help: 'Saved events sent on to websocket subscribers.',
  }),
  gauge({
    key: 'processingAvgSeconds',
    service: 'callback_receiver',
    name: 'callback_receiver_event_processing_avg_seconds',
    awx: 'callback_receiver_event_processing_avg_seconds',
    help: 'Mean time from an event being created to being saved, over the most recent batch.',
    combine: 'last',
  }),

  counter({
    key: 'duplicates',
    service: 'callback_receiver',
    name: 'callback_receiver_events_duplicate_total',
    help: 'Events received again (same job and uuid) and ignored, as already saved.',
  }),
  counter({
    key: 'deadLettered',
    service: 'callback_receiver',
    name: 'callback_receiver_events_dead_lettered_total',
    help: 'Events moved to the dead-letter list instead of the database, by reason (oversized: by the take in Redis, before reaching a thread).',
    labels: [{ name: 'reason', values: DEAD_REASONS }],
  }),
  counter({
    key: 'deadLettersDropped',
    service: 'callback_receiver',
    name: 'callback_receiver_dead_letters_dropped_total',
    help: 'Dead letters trimmed from the dead-letter list, oldest first, to keep it at dead_letter_max: the list holds dead-lettered minus dropped.',
  }),
  histogram({
    key: 'batchBytes',
    service: 'callback_receiver',
    name: 'callback_receiver_batch_bytes',
    help: 'Bytes of events per batch, as taken from the queue (at most batch_bytes, or one larger event).',
    buckets: [65536, 262144, 1048576, 4194304, 8388608, 16777216, 67108864],
  }),
  counter({
    key: 'streamsCompleted',
    service: 'callback_receiver',
    name: 'callback_receiver_job_streams_completed_total',
    help: 'Jobs whose event stream is complete: their EOF and every event up to its final_counter are saved.',
  }),
  histogram({
    key: 'processingLag',
    service: 'callback_receiver',
    name: 'callback_receiver_event_processing_lag_seconds',
    help: 'Time from an event being created to being saved, per event.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  }),

  // --- websockets: the relay to peer nodes ---
  counter({ key: 'relayMessages', service: 'websockets', name: 'overseer_relay_messages_total', help: 'Snapshots sent to each peer.', labels: [peer] }),
  counter({ key: 'relayBytes', service: 'websockets', name: 'overseer_relay_bytes_total', help: 'Bytes sent to each peer.', labels: [peer] }),
  gauge({ key: 'relayConnected', service: 'websockets', name: 'overseer_relay_connected', help: '1 while the websocket to the peer is open, else 0.', labels: [peer], combine: 'last' }),
  counter({ key: 'relayReconnects', service: 'websockets', name: 'overseer_relay_reconnects_total', help: 'Attempts to connect to each peer again after a connection was lost or failed.', labels: [peer] }),
  counter({ key: 'relayDropped', service: 'websockets', name: 'overseer_relay_dropped_total', help: 'Snapshots not sent because the peer was not connected (the next one replaces them).', labels: [peer] }),
  counter({ key: 'relayRejected', service: 'websockets', name: 'overseer_relay_rejected_total', help: 'Snapshots a peer refused (wrong secret, malformed).', labels: [peer] }),

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
    help: 'The most threads the dispatcher pool may have (max_workers); jobs may take all but one.',
    combine: 'last',
  }),

  counter({ key: 'tasksProcessed', service: 'dispatcher', name: 'dispatcher_tasks_processed_total', help: 'Tasks the dispatcher pool finished, by task.', labels: [task] }),
  counter({ key: 'tasksFailed', service: 'dispatcher', name: 'dispatcher_tasks_failed_total', help: 'Tasks that threw or whose thread ended while they ran, by task.', labels: [task] }),
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

  // --- task manager ---
  gauge({ key: 'tmGetTasksSeconds', service: 'dispatcher', name: 'task_manager_get_tasks_seconds', awx: 'task_manager_get_tasks_seconds', help: 'Task manager: time loading tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmStartTaskSeconds', service: 'dispatcher', name: 'task_manager_start_task_seconds', awx: 'task_manager_start_task_seconds', help: 'Task manager: time starting tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmProcessRunningSeconds', service: 'dispatcher', name: 'task_manager_process_running_tasks_seconds', awx: 'task_manager_process_running_tasks_seconds', help: 'Task manager: time accounting for running tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmProcessPendingSeconds', service: 'dispatcher', name: 'task_manager_process_pending_tasks_seconds', awx: 'task_manager_process_pending_tasks_seconds', help: 'Task manager: time deciding pending tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmScheduleSeconds', service: 'dispatcher', name: 'task_manager__schedule_seconds', awx: 'task_manager__schedule_seconds', help: 'Task manager: time of the whole run, most recent run.', combine: lastRun }),
  gauge({ key: 'tmCommitSeconds', service: 'dispatcher', name: 'task_manager_commit_seconds', awx: 'task_manager_commit_seconds', help: 'Task manager: time committing the run, most recent run.', combine: lastRun }),
  gauge({ key: 'tmTasksStarted', service: 'dispatcher', name: 'task_manager_tasks_started', awx: 'task_manager_tasks_started', help: 'Task manager: tasks started, most recent run.', combine: lastRun }),
  gauge({ key: 'tmTasksBlocked', service: 'dispatcher', name: 'task_manager_tasks_blocked', awx: 'task_manager_tasks_blocked', help: 'Task manager: pending tasks found blocked, most recent run.', combine: lastRun }),
  gauge({ key: 'tmRunningProcessed', service: 'dispatcher', name: 'task_manager_running_processed', awx: 'task_manager_running_processed', help: 'Task manager: waiting and running tasks loaded, most recent run.', combine: lastRun }),
  gauge({ key: 'tmPendingProcessed', service: 'dispatcher', name: 'task_manager_pending_processed', awx: 'task_manager_pending_processed', help: 'Task manager: pending tasks loaded, most recent run.', combine: lastRun }),
  gauge({ key: 'tmRecordedTimestamp', service: 'dispatcher', name: 'task_manager_recorded_timestamp_seconds', awx: 'task_manager_recorded_timestamp', help: 'Task manager: Unix time the most recent run was recorded.', combine: 'max' }),
  counter({ key: 'tmScheduleCalls', service: 'dispatcher', name: 'task_manager__schedule_calls_total', awx: 'task_manager__schedule_calls', help: 'Task manager: runs that took the lock.' }),

  // --- dependency manager ---
  gauge({ key: 'dmGetTasksSeconds', service: 'dispatcher', name: 'dependency_manager_get_tasks_seconds', awx: 'dependency_manager_get_tasks_seconds', help: 'Dependency manager: time loading tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'dmGenerateDependenciesSeconds', service: 'dispatcher', name: 'dependency_manager_generate_dependencies_seconds', awx: 'dependency_manager_generate_dependencies_seconds', help: 'Dependency manager: time creating dependencies, most recent run.', combine: lastRun }),
  gauge({ key: 'dmScheduleSeconds', service: 'dispatcher', name: 'dependency_manager__schedule_seconds', awx: 'dependency_manager__schedule_seconds', help: 'Dependency manager: time of the whole run, most recent run.', combine: lastRun }),
  gauge({ key: 'dmPendingProcessed', service: 'dispatcher', name: 'dependency_manager_pending_processed', awx: 'dependency_manager_pending_processed', help: 'Dependency manager: tasks and created dependencies processed, most recent run.', combine: lastRun }),
  gauge({ key: 'dmRecordedTimestamp', service: 'dispatcher', name: 'dependency_manager_recorded_timestamp_seconds', awx: 'dependency_manager_recorded_timestamp', help: 'Dependency manager: Unix time the most recent run was recorded.', combine: 'max' }),
  counter({ key: 'dmScheduleCalls', service: 'dispatcher', name: 'dependency_manager__schedule_calls_total', awx: 'dependency_manager__schedule_calls', help: 'Dependency manager: runs that took the lock.' }),

  // --- workflow manager ---
  gauge({ key: 'wmGetTasksSeconds', service: 'dispatcher', name: 'workflow_manager_get_tasks_seconds', awx: 'workflow_manager_get_tasks_seconds', help: 'Workflow manager: time loading workflows, most recent run.', combine: lastRun }),
  gauge({ key: 'wmSpawnSeconds', service: 'dispatcher', name: 'workflow_manager_spawn_workflow_graph_jobs_seconds', awx: 'workflow_manager_spawn_workflow_graph_jobs_seconds', help: 'Workflow manager: time spawning workflow nodes, most recent run.', combine: lastRun }),
  gauge({ key: 'wmScheduleSeconds', service: 'dispatcher', name: 'workflow_manager__schedule_seconds', awx: 'workflow_manager__schedule_seconds', help: 'Workflow manager: time of the whole run, most recent run.', combine: lastRun }),
  gauge({ key: 'wmRecordedTimestamp', service: 'dispatcher', name: 'workflow_manager_recorded_timestamp_seconds', awx: 'workflow_manager_recorded_timestamp', help: 'Workflow manager: Unix time the most recent run was recorded.', combine: 'max' }),
  counter({ key: 'wmScheduleCalls', service: 'dispatcher', name: 'workflow_manager__schedule_calls_total', awx: 'workflow_manager__schedule_calls', help: 'Workflow manager: runs that took the lock.' }),
] as const satisfies readonly MetricSpec[];

export type CatalogEntry = (typeof CATALOG)[number];

/** The catalog entries of one service, in declaration order. */
export function specsOf(service: ServiceName): readonly MetricSpec[] {
  return CATALOG.filter((m) => m.service === service);
}
