// prom-client formats what we aggregate. A prom-client Registry has one content type, so each
// service gets two: Prometheus text 0.0.4 and OpenMetrics 1.0, over the same family sources.
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Family } from './aggregate.ts';

/** Something that yields one family at scrape time. */
export interface FamilySource {
  readonly name: string;
  readonly help: string;
  readonly type: Family['type'];
  collect(): Family | Promise<Family>;
}

/** The rendered metrics of one scrape. */
export interface Exposition {
  readonly contentType: string;
  readonly body: string;
}

// prom-client's registry reads a metric object's get(). In OpenMetrics it names a counter family
// without `_total` and appends `_total` to its samples, so the family name given must lack it.
function registered(source: FamilySource, openMetrics: boolean) {
  const name = openMetrics && source.type === 'counter' ? source.name.replace(/_total$/, '') : source.name;
  return {
    name,
    help: source.help,
    type: source.type,
    aggregator: 'sum' as const,
    get: async () => {
      const family = await source.collect();
      return {
        name,
        help: family.help,
        type: family.type,
        aggregator: 'sum' as const,
        values: family.samples.map((s) => ({ labels: s.labels, value: s.value, metricName: s.name })),
      };
    },
    reset: () => {},
  };
}

/** Both registries of one service, and content negotiation between them. */
export class ServiceExposition {
  readonly #text = new Registry();
  readonly #openMetrics = new Registry();

  constructor(sources: readonly FamilySource[]) {
    this.#openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    for (const source of sources) {
      this.#text.registerMetric(registered(source, false) as never);
      this.#openMetrics.registerMetric(registered(source, true) as never);
    }
  }

  /** Renders every family, as OpenMetrics when the Accept header asks for it, else Prometheus text. */
  async render(accept: string | undefined): Promise<Exposition> {
    const registry = accept?.includes('application/openmetrics-text') ? this.#openMetrics : this.#text;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}

// Gauges that prom-client names `_total`; promtool rejects them, and nodejs_active_* says the same.
const misnamedGauge = (name: string) => name.startsWith('nodejs_active_') && name.endsWith('_total');

/** The supervisor's process metrics (prom-client defaults), as family sources. */
export function processMetricSources(): FamilySource[] {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry
    .getMetricsAsArray()
    .map((metric) => metric as unknown as Metric)
    .filter((metric) => !misnamedGauge((metric as unknown as { name: string }).name))
    .map((metric) => {
      const type = (metric as unknown as { type: Family['type'] }).type;
      const name = (metric as unknown as { name: string }).name;
      return {
        name,
        help: (metric as unknown as { help: string }).help,
        type,
        collect: async (): Promise<Family> => {
          const got = await metric.get();
          return {
            name: got.name,
            help: got.help,
            type,
            samples: got.values.map((v) => {
              const name = (v as { metricName?: string }).metricName;
              const labels = v.labels as Record<string, string | number>;
              return name === undefined ? { labels, value: v.value } : { name, labels, value: v.value };
            }),
          };
        },
      };
    });
}
