// The metric set every scrape design serves, and the recording every thread or process does into it.
// Ours records through the catalog's handles into a SharedArrayBuffer region; the alternatives
// record into prom-client metrics built from the same catalog specs, so each design exposes the
// same families and samples.
import { Counter, Gauge, Histogram, Registry, type Aggregator } from 'prom-client';
import { specsOf } from '../../../src/metrics/catalog.ts';
import type { GaugeCombine, MetricSpec } from '../../../src/metrics/metric-spec.ts';
import { layoutFor } from '../../../src/metrics/layout.ts';
import type { Handles } from '../../../src/metrics/recorder.ts';

/**
 * The benchmark's service: the dispatcher's catalog metrics plus the callback receiver's (with
 * its histograms and labelled counters), served together on one port. That is a larger port than
 * either real one, so ours is measured on the heavier side; it follows the catalog as it grows.
 */
export const BENCH_SPECS: readonly MetricSpec[] = [...specsOf('dispatcher'), ...specsOf('callback_receiver')];

/** The region layout of the benchmark's service (the catalog's own layout code, over BENCH_SPECS). */
export const BENCH_LAYOUT = layoutFor('dispatcher', BENCH_SPECS);

/** Families every response must contain. */
export const BENCH_FAMILIES = BENCH_SPECS.length;

const unlabelled = (type: MetricSpec['type']) => BENCH_SPECS.filter((s) => s.type === type && s.labels.length === 0);
function pick(type: MetricSpec['type'], count: number, skip = 0): MetricSpec[] {
  const found = unlabelled(type).slice(skip, skip + count);
  if (found.length < count) throw new Error(`the bench needs ${skip + count} unlabelled ${type}s among the dispatcher and callback_receiver metrics`);
  return found;
}

/** The first unlabelled counter: incremented exactly once per thread or process (in recordOnce), so its total says every one reported. */
const started = pick('counter', 1)[0] as MetricSpec;
export const STARTED_COUNTER = started.name;

/**
 * What the busy loop records: 3 counters, 3 gauges, 1 histogram (the catalog's own, chosen by type;
 * unlabelled, since the busy loop calls them without labels: a labelled one would make the loop
 * throw and be restarted, recording STARTED_COUNTER again).
 */
const BUSY = { counters: pick('counter', 3, 1), gauges: pick('gauge', 3), histogram: pick('histogram', 1)[0] as MetricSpec };

/** Names every response must contain (a counter, a gauge and a histogram's buckets). */
export const KNOWN_NAMES = [STARTED_COUNTER, (BUSY.gauges[0] as MetricSpec).name, `${BUSY.histogram.name}_bucket`];

/** The handles of the benchmark's region (both services' keys; they do not collide). */
export type BenchHandles = Handles<'dispatcher'> & Handles<'callback_receiver'>;

export type Mode = 'idle' | 'busy';
export const isMode = (v: unknown): v is Mode => v === 'idle' || v === 'busy';

/** What one recording operation needs; both our handles and prom-client metrics fit. */
interface AnyCounter {
  inc(n?: number): void;
}
interface AnyGauge {
  set(v: number): void;
}
interface AnyHistogram {
  observe(v: number): void;
}
interface AnyLabelled {
  labels(...values: string[]): unknown;
}

function labelCombinations(spec: MetricSpec): string[][] {
  let combos: string[][] = [[]];
  for (const label of spec.labels) {
    const values = label.values === 'peers' ? [] : label.values;
    combos = combos.flatMap((c) => values.map((v) => [...c, v]));
  }
  return combos;
}

/** Records one value into every series of every metric: each exists and has a value; STARTED_COUNTER becomes 1. */
export function recordOnce(byKey: (key: string) => unknown): void {
  for (const spec of BENCH_SPECS) {
    const m = byKey(spec.key);
    if (m === undefined) throw new Error(`bench metric ${spec.key} missing`);
    const series = spec.labels.length === 0 ? [m] : labelCombinations(spec).map((values) => (m as AnyLabelled).labels(...values));
    for (const s of series) {
      if (spec.type === 'counter') (s as AnyCounter).inc(1);
      else if (spec.type === 'gauge') (s as AnyGauge).set(1);
      else (s as AnyHistogram).observe(spec.buckets[0] as number);
    }
  }
}

/** One unit of busy work: 3 counters, 3 gauges, 1 histogram observation (never STARTED_COUNTER). */
export interface BusyOps {
  readonly c1: AnyCounter;
  readonly c2: AnyCounter;
  readonly c3: AnyCounter;
  readonly g1: AnyGauge;
  readonly g2: AnyGauge;
  readonly g3: AnyGauge;
  readonly h: AnyHistogram;
}

export function busyOps(byKey: (key: string) => unknown): BusyOps {
  const get = <T>(spec: MetricSpec | undefined) => {
    const m = spec && byKey(spec.key);
    if (m === undefined) throw new Error(`bench metric ${spec?.key} missing`);
    return m as T;
  };
  const [c1, c2, c3] = BUSY.counters;
  const [g1, g2, g3] = BUSY.gauges;
  return { c1: get(c1), c2: get(c2), c3: get(c3), g1: get(g1), g2: get(g2), g3: get(g3), h: get(BUSY.histogram) };
}

/** How long one busy slice runs before yielding to the event loop. */
export const SLICE_MS = 1;
/** A busy loop ends by itself after this long, whatever happens to whoever started it. */
export const BUSY_MAX_MS = 180_000;

/**
 * Records in a CPU-bound loop, in slices of about SLICE_MS, yielding to the event loop between
 * slices (setImmediate), until the signal fires or BUSY_MAX_MS passes. Resolves with the units done.
 */
export function runBusy(ops: BusyOps, signal: AbortSignal): Promise<number> {
  const startedAt = performance.now();
  let units = 0;
  return new Promise((resolve) => {
    const slice = () => {
      const now = performance.now();
      if (signal.aborted || now - startedAt > BUSY_MAX_MS) {
        resolve(units);
        return;
      }
      const end = now + SLICE_MS;
      do {
        for (let i = 0; i < 16; i++, units++) {
          const v = units % 1000;
          ops.c1.inc();
          ops.c2.inc();
          ops.c3.inc(2);
          ops.g1.set(v);
          ops.g2.set(v / 1000);
          ops.g3.set(i);
          ops.h.observe(v);
        }
      } while (performance.now() < end);
      setImmediate(slice);
    };
    slice();
  });
}

/** How prom-client combines a gauge across workers; it has no "most recent", so `last` becomes `first`. */
const AGGREGATOR: Readonly<Record<GaugeCombine, Aggregator>> = { sum: 'sum', max: 'max', min: 'min', last: 'first' };

/** prom-client metrics equivalent to specs, registered in registry; returns them by catalog key. */
export function promMetrics(registry: Registry, specs: readonly MetricSpec[]): Map<string, Counter | Gauge | Histogram> {
  const out = new Map<string, Counter | Gauge | Histogram>();
  for (const spec of specs) {
    const base = { name: spec.name, help: spec.help, labelNames: spec.labels.map((l) => l.name), registers: [registry] };
    let metric: Counter | Gauge | Histogram;
    if (spec.type === 'counter') metric = new Counter(base);
    else if (spec.type === 'gauge') metric = new Gauge({ ...base, aggregator: AGGREGATOR[spec.combine] });
    else metric = new Histogram({ ...base, buckets: [...spec.buckets] });
    out.set(spec.key, metric);
  }
  return out;
}
