// What every node's snapshots in Redis say, for /api/v2/metrics/ and /api/v2/instances/: the view
// (kept in memory by LiveClusterView), how families merge across nodes, and the instances list.
// A snapshot that is malformed, of another format or expired is left out and reported; it never
// makes the whole answer fail.
import type { Redis } from 'ioredis';
import type { Family, Sample } from '../metrics/aggregate.ts';
import type { RejectReason } from './reject-reasons.ts';
import type { ServiceName } from '../services/names.ts';
import type { AnswerFormat } from './snapshot-pieces.ts';
import type { ClusterAnswer } from './cluster-answer.ts';
import { NODES_KEY, type Snapshot, type SnapshotHead } from './snapshot.ts';

/** A snapshot left out, and why. */
export interface Rejected {
  readonly key: string;
  readonly reason: RejectReason;
  readonly detail: string;
  /** Tells one stored snapshot from the next, so each is counted once. */
  readonly fingerprint: string;
}

/** Every snapshot in Redis at one moment, the usable and the rejected, in key order. */
export interface ClusterView {
  readonly snapshots: readonly SnapshotHead[];
  readonly rejected: readonly Rejected[];
  /** Equal for two views of the same stored snapshots: answers made from one can be reused for the other. */
  readonly signature: string;
  /**
   * The /api/v2/metrics/ answer over the usable snapshots the filter chooses (see renderView: a
   * stand-in view without it has no families to answer with).
   */
  render?(filter: Filter, format: AnswerFormat): ClusterAnswer;
}

/** Which snapshots and families an answer holds. Empty sets mean all. */
export interface Filter {
  readonly nodes: ReadonlySet<string>;
  readonly metrics: ReadonlySet<string>;
  readonly service: ServiceName | undefined;
}

/**
 * One family per metric name across the chosen snapshots, each sample with a `node` label. A node
 * whose family disagrees in type with the first node's (another version) is left out of that family.
 */
export function mergeFamilies(snapshots: readonly Snapshot[], filter: Filter): Family[] {
  const merged = new Map<string, { name: string; help: string; type: Family['type']; samples: Sample[] }>();
  const chosen = snapshots
    .filter((s) => (filter.nodes.size === 0 || filter.nodes.has(s.node)) && (filter.service === undefined || s.service === filter.service))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : a.service < b.service ? -1 : 1));
  for (const snapshot of chosen) {
    for (const family of snapshot.families) {
      if (filter.metrics.size > 0 && !filter.metrics.has(family.name)) continue;
      let into = merged.get(family.name);
      if (into === undefined) {
        into = { name: family.name, help: family.help, type: family.type, samples: [] };
        merged.set(family.name, into);
      }
      if (into.type !== family.type) continue;
      for (const s of family.samples) into.samples.push({ ...s, labels: { ...s.labels, node: snapshot.node } });
    }
  }
  return [...merged.values()];
}

/** A node seen in the cluster, as /api/v2/instances/ lists it. */
export interface Instance {
  readonly name: string;
  readonly version: string;
  /** ISO time of its newest snapshot, or null if none was ever recorded. */
  readonly last_snapshot: string | null;
  readonly age_seconds: number | null;
  /** healthy: a snapshot within 2 intervals; stale: an older one still within its TTL; lost: none left. */
  readonly status: 'healthy' | 'stale' | 'lost';
}

/** Every node ever recorded in the node list, with what its live snapshots say now. */
export async function listInstances(redis: Redis, view: ClusterView, now = Date.now()): Promise<Instance[]> {
  const seen = await redis.hgetall(NODES_KEY);
  const newest = new Map<string, SnapshotHead>();
  for (const s of view.snapshots) if ((newest.get(s.node)?.at ?? -1) < s.at) newest.set(s.node, s);
  const names = new Set([...Object.keys(seen), ...newest.keys()]);
  return [...names].sort().map((name) => {
    let recorded: { version?: unknown; at?: unknown } = {};
    try {
      recorded = JSON.parse(seen[name] ?? '{}') as typeof recorded;
    } catch {
      // a damaged entry: the live snapshot, if any, still speaks for the node
    }
    const live = newest.get(name);
    const at = live?.at ?? (typeof recorded.at === 'number' ? recorded.at : undefined);
    const age = at === undefined ? null : Math.max(0, (now - at) / 1000);
    const status = live === undefined ? 'lost' : now - live.at <= 2 * live.interval_ms ? 'healthy' : 'stale';
    return {
      name,
      version: live?.version ?? (typeof recorded.version === 'string' ? recorded.version : ''),
      last_snapshot: at === undefined ? null : new Date(at).toISOString(),
      age_seconds: age === null ? null : Math.round(age * 1000) / 1000,
      status,
    };
  });
}
