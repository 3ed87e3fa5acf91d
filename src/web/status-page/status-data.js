// What the page shows, worked out from /api/v2/metrics/?format=json and /api/v2/instances/:
// one reading per node per refresh, and rates and lag from two readings of the same node.

/** The services of a node, in the order the page lists them. */
export const SERVICES = ['web', 'callback_receiver', 'dispatcher', 'websockets'];

/** The sum of a family's samples for one node that carry every given label (and, for a histogram, the given sample name). */
function sum(families, name, node, labels = {}, sample = name) {
  const family = families.get(name);
  if (family === undefined) return null;
  let total = null;
  for (const s of family.samples) {
    if (s.labels.node !== node || (s.name ?? family.name) !== sample) continue;
    if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
    total = (total ?? 0) + s.value;
  }
  return total;
}

/** A histogram's cumulative buckets for one node, as [upper bound, count], by increasing bound. */
function buckets(families, name, node) {
  const family = families.get(name);
  if (family === undefined) return [];
  return family.samples
    .filter((s) => s.labels.node === node && s.name === `${name}_bucket`)
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

/** One node's numbers at one refresh; `at` is when its snapshots were taken, per service (ms). */
function readingOf(families, node, snapshots) {
  const at = {};
  for (const s of snapshots) if (s.node === node) at[s.service] = Date.parse(s.at);
  const n = (name, labels) => sum(families, name, node, labels);
  const threads = {};
  for (const service of SERVICES.slice(1)) threads[service] = n('overseer_threads', { service });
  return {
    at,
    services: SERVICES.filter((s) => at[s] !== undefined),
    threads,
    inserted: n('callback_receiver_events_insert_db_total'),
    popped: n('callback_receiver_events_popped_redis_total'),
    queue: n('callback_receiver_events_queue_size_redis'),
    inMemory: n('callback_receiver_events_in_memory'),
    avgLag: n('callback_receiver_event_processing_avg_seconds'),
    lagBuckets: buckets(families, 'callback_receiver_event_processing_lag_seconds', node),
    jobs: n('instance_running_jobs'),
    capacity: n('instance_capacity'),
    consumed: n('instance_consumed_capacity'),
    remaining: n('instance_remaining_capacity'),
    poolWorkers: n('dispatcher_pool_workers'),
    activeTasks: n('dispatcher_pool_active_tasks'),
    workersLimit: n('dispatcher_pool_workers_limit'),
    restarts: n('overseer_thread_restarts_total'),
    byStatus: Object.fromEntries(['pending', 'waiting', 'running'].map((status) => [status, n('dispatcher_jobs', { status })])),
  };
}

/** The q-quantile of the events counted between two cumulative bucket lists, by linear interpolation inside its bucket; null if none. */
export function quantile(before, after, q) {
  const deltas = after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)]);
  const total = deltas.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of deltas) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + ((le - lower) * (rank - below)) / Math.max(count - below, 1e-9);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** Every node's reading from one answer of /api/v2/metrics/?format=json, by node name. */
export function readings(answer) {
  const families = new Map(answer.families.map((f) => [f.name, f]));
  const names = new Set(answer.nodes.map((s) => s.node));
  return new Map([...names].map((node) => [node, readingOf(families, node, answer.nodes)]));
}

/**
 * What changed between two readings of a node: events saved per second and lag quantiles over the
 * receiver's last snapshot interval. Null where the receiver's snapshot did not move on.
 */
export function change(previous, current) {
  const t0 = previous?.at.callback_receiver;
  const t1 = current.at.callback_receiver;
  if (t0 === undefined || t1 === undefined || t1 <= t0) return null;
  const seconds = (t1 - t0) / 1000;
  const inserted = current.inserted - previous.inserted;
  return {
    eventsPerSecond: inserted >= 0 ? inserted / seconds : null,
    lagP50: quantile(previous.lagBuckets, current.lagBuckets, 0.5),
    lagP99: quantile(previous.lagBuckets, current.lagBuckets, 0.99),
  };
}
