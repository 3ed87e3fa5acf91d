// What a port serves: each service's families as Prometheus text 0.0.4 or OpenMetrics 1.0. The
// families are registered in two prom-client registries (one per content type), which stay the
// format's authority; a scrape is rendered by renderer.ts, which writes the same bytes (a unit test
// compares them) without prom-client's per-sample garbage.
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Family, SampleShape } from './aggregate.ts';
import { ExpositionRenderer } from './renderer.ts';
import { CONTENT_TYPE, formatFor } from './text-format.ts';

/**
 * The series of a family that stay the same from scrape to scrape, only their values changing
 * (every catalog metric that threads record): they are formatted once and kept.
 */
export interface FixedSeries {
  /** The samples without values; the same array for as long as the series stay the same. */
  shape(): readonly SampleShape[];
  /** Writes each sample's current value, in shape() order, into `into`. */
  read(into: Float64Array): void;
}

/** Something that yields one family at scrape time. */
export interface FamilySource {
  readonly name: string;
  readonly help: string;
  readonly type: Family['type'];
  collect(): Family | Promise<Family>;
  /** The same family as fixed series: when present, a scrape reads these instead of collect(). */
  readonly fixed?: FixedSeries;
}

/** The rendered metrics of one scrape. */
export interface Exposition {
  readonly contentType: string;
  readonly body: string;
}

/** The rendered metrics of one scrape, as bytes lent from a pool: release() once they are written out. */
export interface ExpositionBytes {
  readonly contentType: string;
  readonly body: Buffer;
  release(): void;
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

/** Both registries of one service, its renderer, and content negotiation between the formats. */
export class ServiceExposition {
  readonly #text = new Registry();
  readonly #openMetrics = new Registry();
  readonly #renderer: ExpositionRenderer;

  constructor(sources: readonly FamilySource[]) {
    this.#openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    // Registering also refuses two families of one name, as prom-client does.
    for (const source of sources) {
      this.#text.registerMetric(registered(source, false) as never);
      this.#openMetrics.registerMetric(registered(source, true) as never);
    }
    this.#renderer = new ExpositionRenderer(sources);
  }

  /** Renders every family, as OpenMetrics when the Accept header asks for it, else Prometheus text. */
  async render(accept: string | undefined): Promise<Exposition> {
    const { contentType, body, release } = await this.renderBytes(accept);
    const text = body.toString();
    release();
    return { contentType, body: text };
  }

  /** render() as bytes, without a string in between: what the metrics ports send. */
  async renderBytes(accept: string | undefined): Promise<ExpositionBytes> {
    const format = formatFor(accept);
    const { buffer, release } = await this.#renderer.render(format);
    return { contentType: CONTENT_TYPE[format], body: buffer, release };
  }

  /** The same answer as render(), written by prom-client's registries: the reference for tests and benchmarks. */
  async renderWithPromClient(accept: string | undefined): Promise<Exposition> {
    const registry = formatFor(accept) === 'openmetrics' ? this.#openMetrics : this.#text;
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
