// Recording handles over one thread's region. The hot path is a Float64Array store: no message,
// no lock, no allocation. The region is a SharedArrayBuffer that only its own thread writes; the
// supervisor reads it at scrape time.
import type { CatalogEntry } from './catalog.ts';
import type { GaugeSpec, HistogramSpec } from './metric-spec.ts';
import type { ServiceName } from '../services/names.ts';
import { layoutOf, type MetricLayout, type ServiceLayout } from './layout.ts';
import { OverseerError } from '../errors.ts';

/** A counter: only goes up. */
export class Counter {
  readonly #slots: Float64Array;
  readonly #at: number;
  constructor(slots: Float64Array, at: number) {
    this.#slots = slots;
    this.#at = at;
  }
  /** Adds n (default 1); n must not be negative. */
  inc(n = 1): void {
    if (!(n >= 0)) throw new OverseerError('OVERSEER_METRIC_NEGATIVE', `a counter cannot be increased by ${n}`);
    this.#slots[this.#at]! += n;
  }
}

/** A gauge: this thread's value; the supervisor combines threads as the catalog says. */
export class Gauge {
  readonly #slots: Float64Array;
  readonly #at: number;
  readonly #timed: boolean;
  constructor(slots: Float64Array, at: number, spec: GaugeSpec) {
    this.#slots = slots;
    this.#at = at;
    // Only `last` needs to know when a value was written; the others need to know that it was.
    this.#timed = spec.combine === 'last';
  }
  set(v: number): void {
    this.#slots[this.#at] = v;
    this.#slots[this.#at + 1] = this.#timed ? Date.now() : 1;
  }
  inc(n = 1): void {
    this.#slots[this.#at]! += n;
    this.#slots[this.#at + 1] = this.#timed ? Date.now() : 1;
  }
  dec(n = 1): void {
    this.inc(-n);
  }
}

/** A histogram: per-bucket counts (not cumulative) and the sum; the supervisor cumulates. */
export class Histogram {
  readonly #slots: Float64Array;
  readonly #at: number;
  readonly #bounds: Float64Array;
  readonly #sumAt: number;
  constructor(slots: Float64Array, at: number, spec: HistogramSpec) {
    this.#slots = slots;
    this.#at = at;
    this.#bounds = Float64Array.from(spec.buckets);
    this.#sumAt = at + spec.buckets.length + 1;
  }
  observe(v: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.#slots[this.#at + i]! += 1;
    this.#slots[this.#sumAt]! += v;
  }
}

/** A labelled metric: `labels(...)` picks the child of one label combination (children exist from the start). */
export class Labelled<H> {
  readonly #name: string;
  readonly #depth: number;
  readonly #tree: Map<string, unknown>;
  constructor(name: string, depth: number, tree: Map<string, unknown>) {
    this.#name = name;
    this.#depth = depth;
    this.#tree = tree;
  }
  labels(a: string, b?: string, c?: string): H {
    const first = this.#tree.get(a);
    const child =
      this.#depth === 1
        ? first
        : this.#depth === 2
          ? (first as Map<string, unknown> | undefined)?.get(b as string)
          : ((first as Map<string, unknown> | undefined)?.get(b as string) as Map<string, unknown> | undefined)?.get(
              c as string,
            );
    if (child === undefined) {
      throw new OverseerError(
        'OVERSEER_METRIC_LABEL',
        `${this.#name} has no series for labels ${JSON.stringify([a, b, c].slice(0, this.#depth))}; the catalog declares its label values`,
      );
    }
    return child as H;
  }
}

type LeafOf<E> = E extends { type: 'counter' } ? Counter : E extends { type: 'gauge' } ? Gauge : Histogram;
type ValuesOf<L> = {
  -readonly [K in keyof L]: L[K] extends { values: 'peers' } ? string : L[K] extends { values: readonly (infer V)[] } ? V : never;
};
type HandleOf<E extends CatalogEntry> = E['labels'] extends readonly []
  ? LeafOf<E>
  : { labels(...values: ValuesOf<E['labels']>): LeafOf<E> };

/** The typed recording handles of one service: `metrics.<key>.inc()`, `metrics.<key>.labels(...).observe(v)`. */
export type Handles<S extends ServiceName> = {
  readonly [E in Exclude<Extract<CatalogEntry, { service: S }>, { computed: true }> as E['key']]: HandleOf<E>;
};

function leafOf(m: MetricLayout, slots: Float64Array, at: number): Counter | Gauge | Histogram {
  const spec = m.spec;
  if (spec.type === 'counter') return new Counter(slots, at);
  if (spec.type === 'gauge') return new Gauge(slots, at, spec);
  return new Histogram(slots, at, spec);
}

function handleOf(m: MetricLayout, slots: Float64Array): unknown {
  if (m.spec.labels.length === 0) return leafOf(m, slots, (m.series[0] as { offset: number }).offset);
  const tree = new Map<string, unknown>();
  for (const s of m.series) {
    let node = tree;
    s.values.forEach((v, i) => {
      if (i === s.values.length - 1) node.set(v, leafOf(m, slots, s.offset));
      else {
        if (!node.has(v)) node.set(v, new Map<string, unknown>());
        node = node.get(v) as Map<string, unknown>;
      }
    });
  }
  return new Labelled(m.spec.name, m.spec.labels.length, tree);
}

/** One thread's region: the shared buffer to hand to the supervisor, and the handles that write it. */
export interface Recorder<S extends ServiceName> {
  readonly service: S;
  readonly buffer: SharedArrayBuffer;
  readonly metrics: Handles<S>;
}

/** Allocates a region for one thread of a service and builds its handles. */
export function createRecorder<S extends ServiceName>(service: S, layout: ServiceLayout = layoutOf(service)): Recorder<S> {
  const buffer = new SharedArrayBuffer(layout.size * Float64Array.BYTES_PER_ELEMENT);
  const slots = new Float64Array(buffer);
  const metrics = Object.fromEntries(layout.metrics.filter((m) => !m.spec.computed).map((m) => [m.spec.key, handleOf(m, slots)]));
  return { service, buffer, metrics: Object.freeze(metrics) as Handles<S> };
}
