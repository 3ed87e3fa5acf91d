import type { ServiceName } from '../services/names.ts';
import { layoutOf, type ServiceLayout } from './layout.ts';
import { aggregateMetric, readMetric, retireRegion, sampleShapes, type Family, type Sample } from './aggregate.ts';
import { createRecorder, type Recorder } from './recorder.ts';
import type { FamilySource, FixedSeries } from './exposition.ts';
import { OverseerError } from '../errors.ts';

/** Identifies a region: a thread id, or a name for regions the supervisor records into itself. */
export type RegionId = number | string;

/**
 * The supervisor's view of one service's metrics: the regions of its live threads, and what its
 * ended threads counted. Values are read from thread memory when families() is called.
 */
export class ServiceMetrics<S extends ServiceName = ServiceName> {
  readonly service: S;
  /** Changes only through relayout(), while no thread of the service runs. */
  layout: ServiceLayout;
  readonly #live = new Map<RegionId, Float64Array>();
  /** The live regions as a list, rebuilt when a thread comes or goes rather than at every scrape. */
  #regions: Float64Array[] = [];
  #retired: Float64Array;
  readonly #computed = new Map<string, () => Promise<readonly Sample[]>>();

  constructor(service: S, layout: ServiceLayout = layoutOf(service)) {
    this.service = service;
    this.layout = layout;
    this.#retired = new Float64Array(layout.size);
  }

  /** Starts reading a thread's region. */
  attach(id: RegionId, buffer: SharedArrayBuffer): void {
    if (buffer.byteLength !== this.layout.size * Float64Array.BYTES_PER_ELEMENT) {
      throw new OverseerError(
        'OVERSEER_METRIC_REGION',
        `${this.service}: thread ${id} announced a region of ${buffer.byteLength} bytes, the layout needs ${this.layout.size * 8}`,
      );
    }
    this.#live.set(id, new Float64Array(buffer));
    this.#regions = [...this.#live.values()];
  }

  /** The thread ended: keep what it counted, forget its gauges. */
  detach(id: RegionId): void {
    const region = this.#live.get(id);
    if (region === undefined) return;
    this.#live.delete(id);
    this.#regions = [...this.#live.values()];
    retireRegion(this.layout, this.#retired, region);
  }

  /**
   * Lays the service out anew (cluster.peers changed: the `peer` label takes other values), with no
   * thread of it running. What ended threads counted carries over for every series both layouts
   * have; a peer no longer listed leaves its series.
   */
  relayout(layout: ServiceLayout): void {
    if (this.#live.size > 0) throw new Error(`${this.service}: relayout with ${this.#live.size} thread(s) still reporting`);
    const key = (values: readonly string[]) => values.join('\0');
    const retired = new Float64Array(layout.size);
    layout.metrics.forEach((m, i) => {
      const before = new Map(this.layout.metrics[i]?.series.map((s) => [key(s.values), s.offset]));
      for (const s of m.series) {
        const from = before.get(key(s.values));
        if (from !== undefined) retired.set(this.#retired.subarray(from, from + m.width), s.offset);
      }
    });
    this.layout = layout;
    this.#retired = retired;
  }

  /** A region in this thread (the supervisor's own recording into this service); never detached. */
  localRecorder(name: string): Recorder<S> {
    const recorder = createRecorder(this.service, this.layout);
    this.attach(name, recorder.buffer);
    return recorder;
  }

  /** Regions currently read. */
  get liveRegions(): number {
    return this.#live.size;
  }

  /** One family per metric of the service, as of now. */
  families(): Family[] {
    return this.layout.metrics.map((m) => aggregateMetric(m, this.#regions, this.#retired));
  }

  /** The family of one metric, as of now. */
  family(index: number): Family {
    const m = this.layout.metrics[index];
    if (m === undefined) throw new RangeError(`${this.service} has no metric #${index}`);
    return aggregateMetric(m, this.#regions, this.#retired);
  }

  /** Supplies the samples of a computed catalog metric (one the supervisor works out at scrape time). */
  provide(key: string, collect: () => Promise<readonly Sample[]>): void {
    if (!this.layout.metrics.some((m) => m.spec.key === key && m.spec.computed)) {
      throw new RangeError(`${this.service} has no computed metric ${key}`);
    }
    this.#computed.set(key, collect);
  }

  /** One scrape-time source per metric, for the service's registries and snapshots. */
  sources(): FamilySource[] {
    return this.layout.metrics.map(({ spec }, i): FamilySource => {
      const source = { name: spec.name, help: spec.help, type: spec.type };
      if (spec.computed) {
        const samples = async () => [...((await this.#computed.get(spec.key)?.()) ?? [])];
        return { ...source, collect: async (): Promise<Family> => ({ ...source, samples: await samples() }) };
      }
      return { ...source, collect: () => this.family(i), fixed: this.#fixed(i) };
    });
  }

  // Read at each scrape through the current layout, so a relayout shows its new series at once.
  #fixed(i: number): FixedSeries {
    const metric = () => {
      const m = this.layout.metrics[i];
      if (m === undefined) throw new RangeError(`${this.service} has no metric #${i}`);
      return m;
    };
    return {
      shape: () => sampleShapes(metric()),
      read: (into) => readMetric(metric(), this.#regions, this.#retired, into),
    };
  }
}
