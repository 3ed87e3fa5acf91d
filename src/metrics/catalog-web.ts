// The web service's metrics: the supervisor itself, its config reloads, the cluster snapshots and
// the connections its ports refuse. Part of the catalog (catalog.ts), in its order.
import { POOLED_SERVICES, SERVICES } from '../services/names.ts';
import { REJECT_REASONS } from '../cluster/reject-reasons.ts';
import { CONNECTION_REFUSALS } from '../web/connection-limits.ts';
import { RELOAD_RESULTS } from '../config/reload.ts';
import { counter, gauge, type MetricSpec } from './metric-spec.ts';

const pooledService = { name: 'service', values: POOLED_SERVICES } as const;

export const WEB_METRICS = [
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
    help: 'Snapshots left out of /api/v2/metrics or refused by the relay endpoint (and live output frames it refused), by reason.',
    labels: [{ name: 'reason', values: REJECT_REASONS }],
  }),
  counter({
    key: 'connectionsRefused',
    service: 'web',
    name: 'overseer_connections_refused_total',
    help: 'Connections a port of this node refused or closed, by port and reason: over its connection cap, headers or body too slow (timeout), malformed HTTP, a body still coming after a refusal, relay websockets and live output websockets (/websocket/) over their per-address or total caps.',
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
] as const satisfies readonly MetricSpec[];
