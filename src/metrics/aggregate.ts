// Pure functions that turn thread regions into one family per metric. Counters and histograms add
// up across threads (and across threads that have ended, through the `retired` region); gauges
// combine as the catalog says, over live threads only.
import type { MetricLayout, ServiceLayout } from './layout.ts';

/** A sample without its value: `name` is set for histogram parts (`_bucket`, `_sum`, `_count`). */
export interface SampleShape {
  readonly name?: string;
  readonly labels: Readonly<Record<string, string | number>>;
}

/** One exposed sample. */
export interface Sample extends SampleShape {
  readonly value: number;
}

/** One metric family, ready to format. */
export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly samples: readonly Sample[];
}

function sumAt(regions: readonly Float64Array[], retired: Float64Array | undefined, i: number): number {
  let v = retired === undefined ? 0 : (retired[i] as number);
  for (const r of regions) v += r[i] as number;
  return v;
}

function gaugeValue(m: MetricLayout, regions: readonly Float64Array[], at: number): number {
  const combine = m.spec.type === 'gauge' ? m.spec.combine : 'sum';
  let result = 0;
  let best = -Infinity; // for `last`: the newest stamp
  let seen = false;
  for (const r of regions) {
    const stamp = r[at + 1] as number;
    if (stamp === 0) continue; // this thread never set it
    const v = r[at] as number;
    if (combine === 'sum') result += v;
    else if (combine === 'last') {
      if (stamp >= best) (best = stamp), (result = v);
    } else if (!seen) result = v;
    else result = combine === 'max' ? Math.max(result, v) : Math.min(result, v);
    seen = true;
  }
  return result;
}

const shapes = new WeakMap<MetricLayout, readonly SampleShape[]>();

/**
 * The samples of a metric without their values, in exposition order (a histogram's buckets with
 * their `le`, then `_sum` and `_count`). Made once per layout: the same (frozen) array at every
 * scrape, shared by every family aggregateMetric() returns.
 */
export function sampleShapes(m: MetricLayout): readonly SampleShape[] {
  let known = shapes.get(m);
  if (known !== undefined) return known;
  const { name } = m.spec;
  const out: SampleShape[] = [];
  for (const s of m.series) {
    if (m.spec.type !== 'histogram') out.push({ labels: s.labels });
    else {
      const buckets = m.spec.buckets;
      for (let b = 0; b <= buckets.length; b++) {
        const le = b < buckets.length ? (buckets[b] as number) : '+Inf';
        out.push({ name: `${name}_bucket`, labels: Object.freeze({ ...s.labels, le }) });
      }
      out.push({ name: `${name}_sum`, labels: s.labels }, { name: `${name}_count`, labels: s.labels });
    }
  }
  known = Object.freeze(out);
  shapes.set(m, known);
  return known;
}

/**
 * Writes the value of each sample of sampleShapes(m), in that order, into `into`: the metric
 * combined over the live regions plus what ended threads left in `retired`. Allocates nothing.
 */
export function readMetric(m: MetricLayout, regions: readonly Float64Array[], retired: Float64Array | undefined, into: Float64Array): void {
  let k = 0;
  for (const s of m.series) {
    if (m.spec.type === 'counter') into[k++] = sumAt(regions, retired, s.offset);
    else if (m.spec.type === 'gauge') into[k++] = gaugeValue(m, regions, s.offset);
    else {
      const buckets = m.spec.buckets.length;
      let cumulative = 0;
      for (let b = 0; b <= buckets; b++) into[k++] = cumulative += sumAt(regions, retired, s.offset + b);
      into[k++] = sumAt(regions, retired, s.offset + buckets + 1);
      into[k++] = cumulative;
    }
  }
}

/** Combines one metric over the live regions plus what ended threads left in `retired`. */
export function aggregateMetric(m: MetricLayout, regions: readonly Float64Array[], retired?: Float64Array): Family {
  const { name, help, type } = m.spec;
  const shape = sampleShapes(m);
  const values = new Float64Array(shape.length);
  readMetric(m, regions, retired, values);
  const samples = shape.map(({ name, labels }, i): Sample => (name === undefined ? { labels, value: values[i] as number } : { name, labels, value: values[i] as number }));
  return { name, help, type, samples };
}

/** Folds what an ended thread counted (counters, histograms) into `retired`; its gauges are dropped. */
export function retireRegion(layout: ServiceLayout, retired: Float64Array, region: Float64Array): void {
  for (const i of layout.cumulative) retired[i]! += region[i] as number;
}
