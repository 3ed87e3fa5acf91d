// The cluster view's previous design, kept as the reference the in-memory view is checked and
// benchmarked against: every request reads every snapshot key (SCAN, then one MGET), parses the
// texts it has not seen, merges the families and renders them through prom-client (ServiceExposition
// as it was when the view was replaced, copied here so that the reference stays what it was).
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Family } from '../../src/metrics/aggregate.ts';
import { mergeFamilies, type Filter, type Rejected } from '../../src/cluster/cluster-view.ts';
import { SNAPSHOT_PATTERN, decodeSnapshot, isExpired, type Snapshot } from '../../src/cluster/snapshot.ts';
import type { AnswerFormat } from '../../src/cluster/snapshot-pieces.ts';

/** What one fresh read found. */
export interface FreshView {
  readonly snapshots: readonly Snapshot[];
  readonly rejected: readonly Rejected[];
}

type Decoded = ReturnType<typeof decodeSnapshot>;

/** Reads every snapshot now; a text seen by the previous read is not parsed again (as the old reader did). */
export class FreshReader {
  readonly #redis: Redis;
  #decoded = new Map<string, { text: string; decoded: Decoded; fingerprint: string }>();

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async read(now = Date.now()): Promise<FreshView> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.#redis.scan(cursor, 'MATCH', SNAPSHOT_PATTERN, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    keys.sort();
    const texts = keys.length > 0 ? await this.#redis.mget(...keys) : [];
    const snapshots: Snapshot[] = [];
    const rejected: Rejected[] = [];
    const next = new Map<string, { text: string; decoded: Decoded; fingerprint: string }>();
    texts.forEach((text, i) => {
      const key = keys[i] as string;
      if (text === null) return;
      let entry = this.#decoded.get(key);
      if (entry === undefined || entry.text !== text) {
        entry = { text, decoded: decodeSnapshot(text), fingerprint: createHash('sha1').update(text).digest('hex') };
      }
      next.set(key, entry);
      const d = entry.decoded;
      if ('snapshot' in d && !isExpired(d.snapshot, now)) snapshots.push(d.snapshot);
      else {
        const why = 'snapshot' in d
          ? { reason: 'expired' as const, detail: `taken ${Math.round((now - d.snapshot.at) / 1000)} s ago` }
          : { reason: d.rejected, detail: d.detail };
        rejected.push({ key, ...why, fingerprint: entry.fingerprint });
      }
    });
    this.#decoded = next;
    return { snapshots, rejected };
  }
}

/** The answer the previous design gave: the merged families rendered by prom-client, or as JSON. */
export async function freshAnswer(view: FreshView, filter: Filter, format: AnswerFormat): Promise<{ contentType: string; body: string }> {
  const families = mergeFamilies(view.snapshots, filter);
  if (format === 'json') {
    const nodes = view.snapshots.map((s) => ({ node: s.node, service: s.service, version: s.version, at: new Date(s.at).toISOString() }));
    return { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ families, nodes, rejected: view.rejected }) };
  }
  // Both registries are built for every answer, as ServiceExposition did (a name clash fails either).
  const text = registryOf(families, false);
  const openMetrics = registryOf(families, true);
  const registry = format === 'openmetrics' ? openMetrics : text;
  return { contentType: registry.contentType, body: await registry.metrics() };
}

// ServiceExposition as it was: each family registered as a prom-client metric object whose get()
// returns the family; OpenMetrics names a counter family without `_total`.
function registryOf(families: readonly Family[], openMetrics: boolean): Registry {
  const registry = new Registry();
  if (openMetrics) registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  for (const f of families) {
    const name = openMetrics && f.type === 'counter' ? f.name.replace(/_total$/, '') : f.name;
    const values = f.samples.map((s) => ({ labels: s.labels, value: s.value, metricName: s.name }));
    const get = async () => ({ name, help: f.help, type: f.type, aggregator: 'sum' as const, values });
    registry.registerMetric({ name, help: f.help, type: f.type, aggregator: 'sum', get, reset: () => {} } as never);
  }
  return registry;
}
