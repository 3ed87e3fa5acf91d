// The live output's metrics on the websockets port, recorded in the supervisor's main thread (where
// the web port's websocket clients are) into a region of the websockets service. That service is
// laid out anew when cluster.peers changes (its relay metrics carry a `peer` label): the region is
// then detached, what it counted kept, and a new one attached, its gauges set again.
import type { Handles } from '../metrics/recorder.ts';
import type { ServiceLayout } from '../metrics/layout.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';

const REGION = 'live';

/** The live output's recording handles; `m` changes on a relayout, so read it at each use. */
export class LiveMetrics {
  readonly #service: ServiceMetrics<'websockets'>;
  #handles: Handles<'websockets'>;
  #gauges: (() => void) | undefined;

  constructor(service: ServiceMetrics<'websockets'>) {
    this.#service = service;
    this.#handles = service.localRecorder(REGION).metrics;
  }

  get m(): Handles<'websockets'> {
    return this.#handles;
  }

  /** How to set the gauges again on a new region (the hub knows its connections and subscriptions). */
  gauges(set: () => void): void {
    this.#gauges = set;
    set();
  }

  /** Lays the service out anew (no thread of it running); counters carry over, gauges are set again. */
  relayout(layout: ServiceLayout): void {
    this.#service.detach(REGION);
    this.#service.relayout(layout);
    this.#handles = this.#service.localRecorder(REGION).metrics;
    this.#gauges?.();
  }
}

const bySource = new WeakMap<ServiceMetrics<'websockets'>, LiveMetrics>();

/** The one LiveMetrics of a node's websockets service (the web service records, the websockets service relays out). */
export function liveMetricsOf(service: ServiceMetrics<'websockets'>): LiveMetrics {
  let live = bySource.get(service);
  if (live === undefined) bySource.set(service, (live = new LiveMetrics(service)));
  return live;
}
