// Snapshots of simulated nodes, stored as a node's SnapshotWriter stores them (the key with its TTL,
// the announcement on the snapshot channel, the node list's entry, in one transaction), or behind
// its back, for the cluster view's tests and benchmark.
import type { Redis } from 'ioredis';
import type { Family } from '../../src/metrics/aggregate.ts';
import { SERVICES, type ServiceName } from '../../src/services/names.ts';
import { NODES_KEY, SNAPSHOT_CHANNEL, SNAPSHOT_FORMAT, snapshotKey, snapshotTtlMs, type Snapshot } from '../../src/cluster/snapshot.ts';

/** How a stored snapshot is written: as a node does, or with one of its steps left out. */
export interface WriteHow {
  /** Announce it on the snapshot channel (default true). */
  readonly publish?: boolean;
  /** Record the node in the node list (default true). */
  readonly record?: boolean;
}

/** The text a writer stores: JSON with NaN and infinities as Prometheus spells them. */
export function snapshotText(s: Snapshot): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? (Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf') : v));
}

/** Stores snapshots in one transaction, as SnapshotWriter#writeOnce does unless told otherwise. */
export async function writeSnapshots(redis: Redis, snapshots: readonly Snapshot[], how: WriteHow = {}): Promise<void> {
  const tx = redis.multi();
  for (const s of snapshots) {
    const text = snapshotText(s);
    tx.set(snapshotKey(s.node, s.service), text, 'PX', snapshotTtlMs(s.interval_ms));
    if (how.publish !== false) tx.publish(SNAPSHOT_CHANNEL, text);
  }
  const last = snapshots.at(-1);
  if (last !== undefined && how.record !== false) tx.hset(NODES_KEY, last.node, JSON.stringify({ version: last.version, at: last.at }));
  await tx.exec();
}

/**
 * A node's four snapshots with families of every kind and the values and names that need care in
 * the text formats: NaN and infinities, label values with quotes, backslashes and newlines, numeric
 * label values, help text with non-ASCII, a counter that OpenMetrics renames, histogram parts.
 */
export function nodeSnapshots(node: string, at: number, seed: number, intervalMs = 2000, version = '0.1.0'): Snapshot[] {
  return SERVICES.map((service, i) => ({
    format: SNAPSHOT_FORMAT,
    node,
    version,
    service,
    at: at + i,
    interval_ms: intervalMs,
    families: familiesOf(service, seed + i),
  }));
}

function familiesOf(service: ServiceName, seed: number): Family[] {
  const buckets = [0.005, 0.1, 1, 10];
  let cumulative = 0;
  const histogram = buckets.map((le) => ({ name: `${service}_seconds_bucket`, labels: { le }, value: (cumulative += seed % 7) }));
  return [
    { name: `${service}_events_total`, help: `Events seen by ${service} — naïve “quotes”.`, type: 'counter', samples: [{ labels: {}, value: seed * 3 }] },
    { name: 'overseer_threads', help: 'Threads per service.', type: 'gauge', samples: [{ labels: { service }, value: seed % 5 }] },
    {
      name: 'odd_values',
      help: 'Values JSON cannot carry, and labels\nthat need escaping \\ here.',
      type: 'gauge',
      samples: [
        { labels: { kind: 'nan' }, value: Number.NaN },
        { labels: { kind: 'inf' }, value: Number.POSITIVE_INFINITY },
        { labels: { kind: '-inf' }, value: Number.NEGATIVE_INFINITY },
        { labels: { kind: 'say "hi"\\there\nnext' }, value: -0.5 },
        { labels: { kind: 'big', port: 8013 }, value: 1e21 + seed },
      ],
    },
    {
      name: `${service}_seconds`,
      help: 'A histogram.',
      type: 'histogram',
      samples: [
        ...histogram,
        { name: `${service}_seconds_bucket`, labels: { le: '+Inf' }, value: cumulative },
        { name: `${service}_seconds_sum`, labels: {}, value: seed / 10 },
        { name: `${service}_seconds_count`, labels: {}, value: cumulative },
      ],
    },
    { name: 'empty_family', help: 'No samples yet.', type: 'counter', samples: [] },
    // A sample's own node label: the cluster answer overwrites it with the snapshot's node.
    { name: 'overseer_cluster_snapshot_age_seconds', help: 'Age per node.', type: 'gauge', samples: [{ labels: { node: 'peer' }, value: seed / 100 }] },
  ];
}
