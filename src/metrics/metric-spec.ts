// What a metric declaration is: its type, labels and every value they take, how threads' values
// combine, and the builders the catalog (catalog.ts) declares each metric with.
import type { ServiceName } from '../services/names.ts';

/** How several threads' values of a gauge combine into the service's value. */
export type GaugeCombine = 'sum' | 'max' | 'min' | 'last';

export interface LabelSpec {
  readonly name: string;
  /**
   * Every value the label may take: slots for each are laid out at thread start. 'peers': the
   * names of cluster.peers in the config, known at start.
   */
  readonly values: readonly string[] | 'peers';
  /** For the docs: where the values of a label known only at scrape time come from. */
  readonly about?: string;
}

/** How AWX's metric is made from ours where a rename is not enough (see awx-compat.ts). */
export interface AwxCompat {
  /** AWX's labels, each copied from one of ours (AWX's `hostname` is our `node`). */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * AWX's metric is one value for the whole cluster; how the nodes' values make it: `max` for a
   * value every node reads from the shared database, `sum` for each node's share.
   */
  readonly cluster?: 'max' | 'sum';
}

interface BaseSpec {
  /** The property name of the recording handle: `metrics.<key>.inc()`. */
  readonly key: string;
  readonly service: ServiceName;
  readonly name: string;
  readonly help: string;
  readonly labels: readonly LabelSpec[];
  /** AWX's name for the same metric, where there is one. */
  readonly awx?: string;
  readonly awxCompat?: AwxCompat;
  /**
   * Computed by the supervisor at scrape time rather than recorded by threads (its label values
   * are not known in advance, such as the nodes of the cluster). It has no slots in thread memory.
   */
  readonly computed?: true;
}
export interface CounterSpec extends BaseSpec {
  readonly type: 'counter';
}
export interface GaugeSpec extends BaseSpec {
  readonly type: 'gauge';
  readonly combine: GaugeCombine;
}
export interface HistogramSpec extends BaseSpec {
  readonly type: 'histogram';
  readonly buckets: readonly number[];
}
export type MetricSpec = CounterSpec | GaugeSpec | HistogramSpec;

type Input<S> = Omit<S, 'type' | 'labels'> & { readonly labels?: readonly LabelSpec[] };
type Filled<S, T extends MetricSpec['type']> = Omit<S, 'labels'> & {
  readonly labels: S extends { readonly labels: infer L } ? L : readonly [];
  readonly type: T;
};

export const counter = <const S extends Input<CounterSpec>>(s: S) => ({ labels: [], ...s, type: 'counter' }) as unknown as Filled<S, 'counter'>;
export const gauge = <const S extends Input<GaugeSpec>>(s: S) => ({ labels: [], ...s, type: 'gauge' }) as unknown as Filled<S, 'gauge'>;
export const histogram = <const S extends Input<HistogramSpec>>(s: S) =>
  ({ labels: [], ...s, type: 'histogram' }) as unknown as Filled<S, 'histogram'>;
