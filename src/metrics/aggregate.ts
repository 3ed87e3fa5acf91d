// Pure functions that turn thread regions into one family per metric. Counters and histograms add
// up across threads (and across threads that have ended, through the `retired` region); gauges
// combine as the catalog says, over live threads only.
import type { MetricLayout, ServiceLayout } from './layout.ts';

/** One exposed sample: `name` is set for histogram parts (`_bucket`, `_sum`, `_count`). */
export interface Sample {
  readonly name?: string;
  readonly labels: Readonly<Record<string, string | number>>;
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

/** Combines one metric over the live regions plus what ended threads left in `retired`. */
export function aggregateMetric(m: MetricLayout, regions: readonly Float64Array[], retired?: Float64Array): Family {
  const { name, help, type } = m.spec;
  const samples: Sample[] = [];
  for (const s of m.series) {
    if (m.spec.type === 'counter') samples.push({ labels: s.labels, value: sumAt(regions, retired, s.offset) });
    else if (m.spec.type === 'gauge') samples.push({ labels: s.labels, value: gaugeValue(m, regions, s.offset) });
    else {
      const buckets = m.spec.buckets;
      let cumulative = 0;
      for (let b = 0; b <= buckets.length; b++) {
        cumulative += sumAt(regions, retired, s.offset + b);
        const le = b < buckets.length ? (buckets[b] as number) : '+Inf';
        samples.push({ name: `${name}_bucket`, labels: { ...s.labels, le }, value: cumulative });
      }
      samples.push({ name: `${name}_sum`, labels: s.labels, value: sumAt(regions, retired, s.offset + buckets.length + 1) });
      samples.push({ name: `${name}_count`, labels: s.labels, value: cumulative });
    }
  }
  return { name, help, type, samples };
}

/** Folds what an ended thread counted (counters, histograms) into `retired`; its gauges are dropped. */
export function retireRegion(layout: ServiceLayout, retired: Float64Array, region: Float64Array): void {
  for (const i of layout.cumulative) retired[i]! += region[i] as number;
}
