// What `npm run status` computes from two readings of /api/v2/metrics/?format=json and one of
// /api/v2/instances/: the figures of each node, rates over the time between the two readings.
// Pure functions: the command fetches, these compute, the advice rules read the result.

/** One sample of a family as /api/v2/metrics/?format=json gives it (a `node` label on each). */
export interface JsonSample {
  readonly name?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** The JSON answer of /api/v2/metrics/?format=json, and when it was read. */
export interface Reading {
  readonly families: readonly { readonly name: string; readonly type: string; readonly samples: readonly JsonSample[] }[];
  readonly nodes: readonly { readonly node: string; readonly service: string; readonly at: string }[];
}

/** A node as /api/v2/instances/ lists it. */
export interface InstanceJson {
  readonly name: string;
  readonly version: string;
  readonly status: 'healthy' | 'stale' | 'lost';
  readonly age_seconds: number | null;
  readonly capacity?: number;
  readonly consumed_capacity?: number;
  readonly jobs_running?: number;
}

/** Everything the table and the advice say about one node; null where a figure is unknown. */
export interface NodeStatus {
  readonly name: string;
  readonly version: string;
  readonly status: 'healthy' | 'stale' | 'lost';
  readonly ageSeconds: number | null;
  /** Threads per pooled service (overseer_threads). */
  readonly threads: Readonly<Record<string, number>>;
  /** Seconds between the two readings of this node, null with one reading. */
  readonly windowSeconds: number | null;
  readonly inserted: number | null;
  readonly insertedPerSecond: number | null;
  readonly queue: number | null;
  /** How fast the queue grew (negative: it drained), events a second. */
  readonly queueGrowthPerSecond: number | null;
  readonly lagAvgSeconds: number | null;
  readonly lagP99Seconds: number | null;
  /** Whether the lag figures are over the window (true) or since the node started (false: no event in the window). */
  readonly lagInWindow: boolean;
  /** CPU cores the node's process kept busy over the window (process_cpu_seconds_total rate). */
  readonly cpuCores: number | null;
  readonly dispatcherThreads: number | null;
  readonly dispatcherMaxThreads: number | null;
  /** dispatcher_availability at each reading (the lower one). */
  readonly dispatcherAvailability: number | null;
  readonly jobsRunning: number | null;
  readonly jobsPending: number | null;
  readonly capacity: number | null;
  readonly consumedCapacity: number | null;
}

const LAG = 'callback_receiver_event_processing_lag_seconds';

function samplesOf(r: Reading | undefined, name: string, node: string): JsonSample[] {
  return r?.families.find((f) => f.name === name)?.samples.filter((s) => s.labels.node === node) ?? [];
}

/** The sum of a series' samples for a node (labels other than node summed over; a histogram's `_sum`, `_count` too), null when absent. */
export function valueOf(r: Reading | undefined, name: string, node: string, labels: Record<string, string> = {}): number | null {
  const family = r?.families.some((f) => f.name === name) === true ? name : name.replace(/_(sum|count)$/, '');
  const found = samplesOf(r, family, node).filter((s) => (s.name === undefined || s.name === name) && Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v));
  return found.length === 0 ? null : found.reduce((a, s) => a + s.value, 0);
}

/** Cumulative buckets (le → count) of a histogram for a node. */
function buckets(r: Reading | undefined, name: string, node: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samplesOf(r, name, node)) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/** The q quantile of cumulative buckets, interpolated within its bucket as Prometheus' histogram_quantile does. */
export function bucketQuantile(q: number, cumulative: ReadonlyMap<number, number>): number | null {
  const sorted = [...cumulative].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, n] of sorted) {
    if (n >= rank) {
      if (le === Infinity) return prevLe; // beyond the highest bucket: its bound is what we know
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(n - prevCount, 1e-9));
    }
    prevLe = le;
    prevCount = n;
  }
  return prevLe;
}

/** When a node's snapshots were taken in a reading (the newest of its services), Unix ms. */
export function snapshotTime(r: Reading | undefined, node: string): number | null {
  const times = (r?.nodes ?? []).filter((n) => n.node === node).map((n) => Date.parse(n.at));
  return times.length === 0 ? null : Math.max(...times);
}

/** Each node's figures, from a reading before and one after (same reading twice: no rates), and the instance list. */
export function nodeStatuses(before: Reading, after: Reading, instances: readonly InstanceJson[]): NodeStatus[] {
  return instances.map((inst) => {
    const node = inst.name;
    const t0 = snapshotTime(before, node);
    const t1 = snapshotTime(after, node);
    const window = t0 !== null && t1 !== null && t1 > t0 ? (t1 - t0) / 1000 : null;
    const rate = (name: string): number | null => {
      const a = valueOf(before, name, node);
      const b = valueOf(after, name, node);
      return window === null || a === null || b === null ? null : Math.max(0, b - a) / window;
    };
    const q0 = valueOf(before, 'callback_receiver_events_queue_size_redis', node);
    const q1 = valueOf(after, 'callback_receiver_events_queue_size_redis', node);
    // Lag over the window when events were saved in it, else since the node started.
    const c0 = valueOf(before, `${LAG}_count`, node) ?? 0;
    const c1 = valueOf(after, `${LAG}_count`, node) ?? 0;
    const lagInWindow = window !== null && c1 > c0;
    const b1 = buckets(after, LAG, node);
    const b0 = lagInWindow ? buckets(before, LAG, node) : new Map<number, number>();
    const diff = new Map([...b1].map(([le, n]) => [le, n - (b0.get(le) ?? 0)]));
    const sum = (valueOf(after, `${LAG}_sum`, node) ?? 0) - (lagInWindow ? (valueOf(before, `${LAG}_sum`, node) ?? 0) : 0);
    const n = c1 - (lagInWindow ? c0 : 0);
    const threads: Record<string, number> = {};
    for (const s of samplesOf(after, 'overseer_threads', node)) threads[String(s.labels.service)] = s.value;
    const avail = [valueOf(before, 'dispatcher_availability', node), valueOf(after, 'dispatcher_availability', node)].filter((v) => v !== null);
    return {
      name: node,
      version: inst.version,
      status: inst.status,
      ageSeconds: inst.age_seconds,
      threads,
      windowSeconds: window,
      inserted: valueOf(after, 'callback_receiver_events_insert_db_total', node),
      insertedPerSecond: rate('callback_receiver_events_insert_db_total'),
      queue: q1,
      queueGrowthPerSecond: window === null || q0 === null || q1 === null ? null : (q1 - q0) / window,
      lagAvgSeconds: n > 0 ? sum / n : null,
      lagP99Seconds: bucketQuantile(0.99, diff),
      lagInWindow,
      cpuCores: rate('process_cpu_seconds_total'),
      dispatcherThreads: valueOf(after, 'dispatcher_pool_workers', node),
      dispatcherMaxThreads: valueOf(after, 'dispatcher_pool_max_workers', node),
      dispatcherAvailability: avail.length === 0 ? null : Math.min(...avail),
      jobsRunning: valueOf(after, 'instance_running_jobs', node) ?? inst.jobs_running ?? null,
      jobsPending: valueOf(after, 'dispatcher_jobs', node, { status: 'pending' }) ?? valueOf(after, 'pending_jobs', node),
      capacity: valueOf(after, 'instance_capacity', node) ?? inst.capacity ?? null,
      consumedCapacity: valueOf(after, 'instance_consumed_capacity', node) ?? inst.consumed_capacity ?? null,
    };
  });
}
