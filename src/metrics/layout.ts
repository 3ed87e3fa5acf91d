// Where each series of a service lives in a thread's Float64Array region. The layout is computed
// from the catalog alone, so a thread and the supervisor agree on it without talking.
import { specsOf } from './catalog.ts';
import type { MetricSpec } from './metric-spec.ts';
import type { ServiceName } from '../services/names.ts';

/** One labelled series of a metric and the index of its first slot. */
export interface SeriesLayout {
  readonly labels: Readonly<Record<string, string>>;
  readonly values: readonly string[];
  readonly offset: number;
}

/** A metric's series in a region. Slots per series: counter 1; gauge 2 (value, set-stamp); histogram buckets+1 counts then sum. */
export interface MetricLayout {
  readonly spec: MetricSpec;
  readonly width: number;
  readonly series: readonly SeriesLayout[];
}

/** The whole region of one service: its metrics and the slots that add up across a thread's life. */
export interface ServiceLayout {
  readonly service: ServiceName;
  readonly metrics: readonly MetricLayout[];
  /** Region length in Float64 slots. */
  readonly size: number;
  /** Slot indices of counters and histograms: what a thread that ended leaves behind. */
  readonly cumulative: Uint32Array;
}

export const MAX_LABELS = 3;

function widthOf(spec: MetricSpec): number {
  if (spec.type === 'counter') return 1;
  if (spec.type === 'gauge') return 2;
  return spec.buckets.length + 2;
}

function labelCombinations(spec: MetricSpec, peers: readonly string[]): string[][] {
  if (spec.computed) return [];
  let combos: string[][] = [[]];
  for (const label of spec.labels) {
    const values = label.values === 'peers' ? peers : label.values;
    combos = combos.flatMap((c) => values.map((v) => [...c, v]));
  }
  return combos;
}

function checkSpec(spec: MetricSpec): void {
  if (spec.labels.length > MAX_LABELS) throw new Error(`${spec.name}: at most ${MAX_LABELS} labels`);
  if (spec.type === 'histogram') {
    const b = spec.buckets;
    if (b.length === 0 || b.some((v, i) => i > 0 && v <= (b[i - 1] as number)))
      throw new Error(`${spec.name}: buckets must be increasing and not empty`);
  }
}

function buildLayout(service: ServiceName, specs: readonly MetricSpec[], peers: readonly string[]): ServiceLayout {
  let offset = 0;
  const cumulative: number[] = [];
  const metrics = specs.map((spec): MetricLayout => {
    checkSpec(spec);
    const width = widthOf(spec);
    const series = labelCombinations(spec, peers).map((values) => {
      const labels = Object.fromEntries(spec.labels.map((l, i) => [l.name, values[i] as string]));
      const s = { labels, values, offset };
      if (spec.type !== 'gauge') for (let i = 0; i < width; i++) cumulative.push(offset + i);
      offset += width;
      return s;
    });
    return { spec, width, series };
  });
  return { service, metrics, size: offset, cumulative: Uint32Array.from(cumulative) };
}

const layouts = new Map<string, ServiceLayout>();

/**
 * The region layout of a service (memoized; identical in every thread that is given the same
 * peers, the values of `peer` labels, which come from the config).
 */
export function layoutOf(service: ServiceName, peers: readonly string[] = []): ServiceLayout {
  const key = `${service}\0${peers.join('\0')}`;
  let layout = layouts.get(key);
  if (layout === undefined) {
    layout = buildLayout(service, specsOf(service), peers);
    layouts.set(key, layout);
  }
  return layout;
}

/** A layout for specs outside the catalog: for tests and benchmarks of the mechanism itself. */
export function layoutFor(service: ServiceName, specs: readonly MetricSpec[], peers: readonly string[] = []): ServiceLayout {
  return buildLayout(service, specs, peers);
}
