// What the Grafana dashboard shows, row by row: each panel's title, unit and PromQL. grafana.ts
// lays these out as Grafana's JSON. Every query names catalog metrics (a test checks each name)
// and keeps to the nodes picked in the `node` variable; `$__rate_interval` lets Grafana choose a
// window that holds at least four scrapes.

/** One query of a panel: its PromQL and the legend of each series it returns. */
export interface PanelQuery {
  readonly expr: string;
  readonly legend: string;
}

/** One graph of the dashboard. */
export interface PanelSpec {
  readonly title: string;
  /** What it shows and what to do about it, for the panel's info tooltip. */
  readonly description: string;
  /** A Grafana unit id: s, ops, opm, short, percentunit, bytes, Bps. */
  readonly unit: string;
  readonly queries: readonly PanelQuery[];
  /** For ratios: the axis runs from 0 to this. */
  readonly max?: number;
  /** Threshold steps above the base colour, drawn as lines or areas on the graph. */
  readonly thresholds?: readonly { readonly value: number; readonly color: string }[];
  /** Base colour when thresholds are set (what lies below the first step). */
  readonly baseColor?: string;
}

/** A row of panels under one heading. */
export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

/** Series of the nodes picked in the dashboard's `node` variable. */
const N = 'node=~"$node"';
const W = '[$__rate_interval]';

/** Per-second rate of a counter, summed by these labels. */
const rate = (metric: string, by = 'node', extra = '') => `sum by (${by}) (rate(${metric}{${N}${extra}}${W}))`;
/** Per-minute rate of a counter that moves rarely. */
const perMinute = (metric: string, by = 'node') => `60 * ${rate(metric, by)}`;
/** A quantile of a histogram over the rate window, by these labels. */
const quantile = (q: number, metric: string, by = 'node') =>
  `histogram_quantile(${q}, sum by (${by}, le) (rate(${metric}_bucket{${N}}${W})))`;
/** A gauge of the picked nodes, as is. */
const gauge = (metric: string) => `${metric}{${N}}`;

const callbackReceiver: RowSpec = {
  title: 'Callback receiver',
  panels: [
    {
      title: 'Events per second',
      description: 'Events taken from the Redis queue and saved to the database. When saving stays below taking, the queue grows.',
      unit: 'ops',
      queries: [
        { expr: rate('callback_receiver_events_insert_db_total'), legend: '{{node}} saved' },
        { expr: rate('callback_receiver_events_popped_redis_total'), legend: '{{node}} taken from Redis' },
        { expr: rate('callback_receiver_events_broadcast_total'), legend: '{{node}} sent to websockets' },
      ],
    },
    {
      title: 'Event lag',
      description: 'Time from an event being created to being saved (per event; AWX\'s average is over the last batch). p99 over 5 s raises CallbackReceiverLagHigh: raise services.callback_receiver.workers if CPU is idle.',
      unit: 's',
      queries: [
        { expr: quantile(0.5, 'callback_receiver_event_processing_lag_seconds'), legend: '{{node}} p50' },
        { expr: quantile(0.99, 'callback_receiver_event_processing_lag_seconds'), legend: '{{node}} p99' },
        { expr: gauge('callback_receiver_event_processing_avg_seconds'), legend: '{{node}} mean of the last batch' },
      ],
    },
    {
      title: 'Queue against saving rate',
      description: 'Events waiting in Redis, against what the current saving rate clears in 2 minutes: a queue above that line for 2 minutes raises CallbackReceiverFallingBehind.',
      unit: 'short',
      queries: [
        { expr: gauge('callback_receiver_events_queue_size_redis'), legend: '{{node}} queue' },
        { expr: `120 * ${rate('callback_receiver_events_insert_db_total')}`, legend: '{{node}} saved in 2 min at the current rate' },
        { expr: gauge('callback_receiver_events_in_memory'), legend: '{{node}} taken, not yet saved' },
      ],
    },
    {
      title: 'Batch sizes',
      description: 'Events per database transaction. Batches that stay far below batch_size mean the receivers keep up; batches at batch_size mean they are busy.',
      unit: 'short',
      queries: [
        { expr: quantile(0.5, 'callback_receiver_batch_events_insert_db'), legend: '{{node}} p50' },
        { expr: quantile(0.99, 'callback_receiver_batch_events_insert_db'), legend: '{{node}} p99' },
        {
          expr: `${rate('callback_receiver_batch_events_insert_db_sum')} / ${rate('callback_receiver_batch_events_insert_db_count')}`,
          legend: '{{node}} mean',
        },
      ],
    },
    {
      title: 'Save time per event',
      description: 'Database time per saved event. When it rises with the rate, the database is the bottleneck: PostgreSQL, or a larger batch_size.',
      unit: 's',
      queries: [
        {
          expr: `${rate('callback_receiver_events_insert_db_seconds_total')} / ${rate('callback_receiver_events_insert_db_total')}`,
          legend: '{{node}}',
        },
      ],
    },
    {
      title: 'Dead letters',
      description: 'Events moved to the <queue>:dead list instead of the database, by reason. Read the list (each entry says why) and fix the producer.',
      unit: 'opm',
      queries: [{ expr: perMinute('callback_receiver_events_dead_lettered_total', 'node, reason'), legend: '{{node}} {{reason}}' }],
    },
    {
      title: 'Duplicates and failed batches',
      description: 'Events received again and ignored (a producer retrying, or a batch given back after a crash), and batch inserts that fell back to one by one.',
      unit: 'opm',
      queries: [
        { expr: perMinute('callback_receiver_events_duplicate_total'), legend: '{{node}} duplicates' },
        { expr: perMinute('callback_receiver_batch_events_errors_total'), legend: '{{node}} failed batches' },
        { expr: perMinute('callback_receiver_job_streams_completed_total'), legend: '{{node}} job streams completed' },
      ],
    },
  ],
};

const dispatcher: RowSpec = {
  title: 'Dispatcher',
  panels: [
    {
      title: 'Threads',
      description: 'Dispatcher pool threads against its limit (max_workers), and every pooled service\'s threads.',
      unit: 'short',
      queries: [
        { expr: gauge('dispatcher_pool_workers'), legend: '{{node}} dispatcher threads' },
        { expr: gauge('dispatcher_pool_max_workers'), legend: '{{node}} dispatcher most threads since the last gather' },
        { expr: gauge('dispatcher_pool_workers_limit'), legend: '{{node}} dispatcher max_workers' },
        { expr: gauge('overseer_threads'), legend: '{{node}} {{service}} threads' },
      ],
    },
    {
      title: 'Active tasks',
      description: 'Tasks running in the pool and waiting in the node\'s task queue. Active tasks at max_workers - 1 for 5 minutes raise DispatcherSaturated.',
      unit: 'short',
      queries: [
        { expr: gauge('dispatcher_pool_active_tasks'), legend: '{{node}} running' },
        { expr: gauge('dispatcher_task_queue_length'), legend: '{{node}} queued' },
      ],
    },
    {
      title: 'Availability',
      description: 'Share of the pool\'s capacity (max threads) idle over the last gather. Near 0 for long: raise services.dispatcher.max_workers or add a node.',
      unit: 'percentunit',
      max: 1,
      baseColor: 'red',
      thresholds: [
        { value: 0.1, color: 'orange' },
        { value: 0.25, color: 'green' },
      ],
      queries: [{ expr: gauge('dispatcher_availability'), legend: '{{node}}' }],
    },
    {
      title: 'Scale-ups',
      description: 'Threads added beyond min_workers because every thread was busy. Constant scale-ups: raise services.dispatcher.min_workers.',
      unit: 'opm',
      queries: [{ expr: perMinute('dispatcher_pool_scale_up_events_total'), legend: '{{node}}' }],
    },
    {
      title: 'Task durations',
      description: 'How long each kind of task ran (p50 and p99). Jobs run for their playbook\'s length; a manager near manager_timeout_ms is slow.',
      unit: 's',
      queries: [
        { expr: quantile(0.5, 'dispatcher_task_duration_seconds', 'node, task'), legend: '{{node}} {{task}} p50' },
        { expr: quantile(0.99, 'dispatcher_task_duration_seconds', 'node, task'), legend: '{{node}} {{task}} p99' },
      ],
    },
    {
      title: 'Tasks finished and failed',
      description: 'Tasks the pool finished, and those that threw or lost their thread, by task.',
      unit: 'opm',
      queries: [
        { expr: perMinute('dispatcher_tasks_processed_total', 'node, task'), legend: '{{node}} {{task}}' },
        { expr: perMinute('dispatcher_tasks_failed_total', 'node, task'), legend: '{{node}} {{task}} failed' },
      ],
    },
    {
      title: 'Thread restarts',
      description: 'Service loops the supervisor restarted after a crash. Any raises OverseerThreadRestarts: read "service loop failed; restarting it" in the log.',
      unit: 'opm',
      queries: [{ expr: perMinute('overseer_thread_restarts_total', 'node, service'), legend: '{{node}} {{service}}' }],
    },
  ],
};

const jobs: RowSpec = {
  title: 'Jobs',
  panels: [
    {
      title: 'Jobs finished by status',
      description: 'Jobs that reached a finished state through each node, by type and status. Over 20% failed or error raises JobFailureRatioHigh.',
      unit: 'opm',
      queries: [{ expr: perMinute('dispatcher_jobs_finished_total', 'node, type, status'), legend: '{{node}} {{type}} {{status}}' }],
    },
    {
      title: 'Jobs by status',
      description: 'Jobs in the database by status, cluster-wide (each node reads the same database).',
      unit: 'short',
      queries: [{ expr: `max by (status) (${gauge('dispatcher_jobs')})`, legend: '{{status}}' }],
    },
    {
      title: 'Job durations',
      description: 'Time from a job starting to its finishing, by type.',
      unit: 's',
      queries: [
        { expr: quantile(0.5, 'dispatcher_job_duration_seconds', 'node, type'), legend: '{{node}} {{type}} p50' },
        { expr: quantile(0.9, 'dispatcher_job_duration_seconds', 'node, type'), legend: '{{node}} {{type}} p90' },
      ],
    },
    {
      title: 'Job start delay',
      description: 'Time from launch to start, and the age of the oldest pending job. p90 over 5 minutes raises JobStartDelayHigh: raise capacity or max_workers, or add a node.',
      unit: 's',
      queries: [
        { expr: quantile(0.5, 'dispatcher_job_start_delay_seconds', 'node, type'), legend: '{{node}} {{type}} p50' },
        { expr: quantile(0.9, 'dispatcher_job_start_delay_seconds', 'node, type'), legend: '{{node}} {{type}} p90' },
        { expr: gauge('dispatcher_oldest_pending_job_age_seconds'), legend: '{{node}} oldest pending job' },
      ],
    },
    {
      title: 'Capacity used',
      description: 'Capacity taken by waiting and running jobs, as a share of the node\'s capacity (services.dispatcher.capacity).',
      unit: 'percentunit',
      max: 1,
      baseColor: 'green',
      thresholds: [{ value: 0.9, color: 'red' }],
      queries: [{ expr: `${gauge('instance_consumed_capacity')} / ${gauge('instance_capacity')}`, legend: '{{node}}' }],
    },
    {
      title: 'Jobs running and pending',
      description: 'Jobs waiting or running on each node, and jobs launched and not yet started (cluster-wide).',
      unit: 'short',
      queries: [
        { expr: gauge('instance_running_jobs'), legend: '{{node}} waiting or running' },
        { expr: `max(${gauge('pending_jobs')})`, legend: 'pending (cluster)' },
      ],
    },
  ],
};

/** Each manager's name in metrics, and its words in legends. */
const MANAGER_PREFIXES = [
  ['task_manager', 'task manager'],
  ['dependency_manager', 'dependency manager'],
  ['workflow_manager', 'workflow manager'],
] as const;

const managers: RowSpec = {
  title: 'Managers',
  panels: [
    {
      title: 'Run times',
      description: 'Each manager\'s most recent run, whole. Near services.dispatcher.manager_timeout_ms: check the database\'s speed.',
      unit: 's',
      queries: MANAGER_PREFIXES.map(([m, words]) => ({ expr: gauge(`${m}__schedule_seconds`), legend: `{{node}} ${words}` })),
    },
    {
      title: 'Task manager phases',
      description: 'Where the task manager\'s most recent run spent its time.',
      unit: 's',
      queries: [
        { expr: gauge('task_manager_get_tasks_seconds'), legend: '{{node}} loading tasks' },
        { expr: gauge('task_manager_process_running_tasks_seconds'), legend: '{{node}} running tasks' },
        { expr: gauge('task_manager_process_pending_tasks_seconds'), legend: '{{node}} pending tasks' },
        { expr: gauge('task_manager_start_task_seconds'), legend: '{{node}} starting tasks' },
        { expr: gauge('task_manager_commit_seconds'), legend: '{{node}} commit' },
      ],
    },
    {
      title: 'Calls',
      description: 'Manager runs that took the cluster lock.',
      unit: 'opm',
      queries: MANAGER_PREFIXES.map(([m, words]) => ({ expr: perMinute(`${m}__schedule_calls_total`), legend: `{{node}} ${words}` })),
    },
    {
      title: 'Task manager workload',
      description: 'What the task manager\'s most recent run loaded, started and found blocked.',
      unit: 'short',
      queries: [
        { expr: gauge('task_manager_pending_processed'), legend: '{{node}} pending loaded' },
        { expr: gauge('task_manager_running_processed'), legend: '{{node}} waiting and running loaded' },
        { expr: gauge('task_manager_tasks_started'), legend: '{{node}} started' },
        { expr: gauge('task_manager_tasks_blocked'), legend: '{{node}} blocked' },
      ],
    },
    {
      title: 'Skipped',
      description: 'Manager runs that did nothing because another run held the cluster lock. Normal in a cluster; on one node, a run lasting longer than schedule_interval_ms.',
      unit: 'opm',
      queries: [{ expr: perMinute('dispatcher_manager_skipped_total', 'node, manager'), legend: '{{node}} {{manager}}' }],
    },
    {
      title: 'Timeouts',
      description: 'Manager runs that reached manager_timeout_ms: stopped early (DispatcherManagerTimeout) or abandoned after the grace period (DispatcherManagerAbandoned).',
      unit: 'opm',
      queries: [{ expr: perMinute('dispatcher_manager_timeouts_total', 'node, manager, outcome'), legend: '{{node}} {{manager}} {{outcome}}' }],
    },
  ],
};

const cluster: RowSpec = {
  title: 'Cluster',
  panels: [
    {
      title: 'Snapshot age per node',
      description: 'Age of each node\'s newest metrics snapshot, the worst any node sees, against 2 snapshot intervals: above it raises OverseerSnapshotStale.',
      unit: 's',
      queries: [
        { expr: `max by (node) (${gauge('overseer_cluster_snapshot_age_seconds')})`, legend: '{{node}}' },
        { expr: `2 * max(${gauge('overseer_cluster_snapshot_interval_seconds')})`, legend: 'stale above' },
      ],
    },
    {
      title: 'Relay connections',
      description: 'Relay mode: 1 while the websocket to a peer is open. 0: check that peer, cluster.peers and cluster.secret.',
      unit: 'short',
      max: 1,
      queries: [{ expr: gauge('overseer_relay_connected'), legend: '{{node}} → {{peer}}' }],
    },
    {
      title: 'Relay traffic',
      description: 'Bytes of snapshots sent to each peer.',
      unit: 'Bps',
      queries: [{ expr: rate('overseer_relay_bytes_total', 'node, peer'), legend: '{{node}} → {{peer}}' }],
    },
    {
      title: 'Relay problems',
      description: 'Snapshots sent, dropped while a peer was away, refused by a peer, and reconnect attempts.',
      unit: 'opm',
      queries: [
        { expr: perMinute('overseer_relay_messages_total', 'node, peer'), legend: '{{node}} → {{peer}} sent' },
        { expr: perMinute('overseer_relay_dropped_total', 'node, peer'), legend: '{{node}} → {{peer}} dropped' },
        { expr: perMinute('overseer_relay_rejected_total', 'node, peer'), legend: '{{node}} → {{peer}} refused' },
        { expr: perMinute('overseer_relay_reconnects_total', 'node, peer'), legend: '{{node}} → {{peer}} reconnects' },
      ],
    },
    {
      title: 'Snapshots',
      description: 'Snapshots written to Redis, received from peers, and left out or refused, by reason.',
      unit: 'ops',
      queries: [
        { expr: rate('overseer_cluster_snapshots_written_total'), legend: '{{node}} written' },
        { expr: rate('overseer_cluster_snapshots_received_total'), legend: '{{node}} received' },
        { expr: rate('overseer_cluster_snapshots_rejected_total', 'node, reason'), legend: '{{node}} rejected {{reason}}' },
      ],
    },
    {
      title: 'Node CPU',
      description: 'CPU time of the whole node process (all its threads): 1 is one core. Near the machine\'s cores: add a node.',
      unit: 'percentunit',
      queries: [{ expr: rate('process_cpu_seconds_total'), legend: '{{node}}' }],
    },
    {
      title: 'Node memory',
      description: 'Resident memory of the node process.',
      unit: 'bytes',
      queries: [{ expr: `max by (node) (${gauge('process_resident_memory_bytes')})`, legend: '{{node}}' }],
    },
  ],
};

/** The dashboard's rows, top to bottom. */
export const ROWS: readonly RowSpec[] = [callbackReceiver, dispatcher, jobs, managers, cluster];

/** prom-client's process metrics the panels use: served on the web port beside the catalog's. */
export const PROCESS_METRICS = ['process_cpu_seconds_total', 'process_resident_memory_bytes'] as const;
