// Metrics on the web port: its own GET /metrics, as every port serves it, and every live node's
// at /api/v2/metrics/ (one family per metric, a `node` label on each sample).
import type { FastifyInstance } from 'fastify';
import { SERVICES, type ServiceName } from '../../services/names.ts';
import { ServiceExposition } from '../../metrics/exposition.ts';
import { mergeFamilies, type ClusterView } from '../../cluster/cluster-view.ts';
import type { RouteOptions } from '../api-context.ts';
import { renderMetrics } from '../metrics-server.ts';
import { object } from '../schemas.ts';

const strings = { type: 'array', items: { type: 'string' } };
const QUERY = object({
  node: { ...strings, description: 'only these nodes (repeat it)' },
  metric: { ...strings, description: 'only these metrics (repeat it)' },
  service: { type: 'string', enum: SERVICES },
  format: { type: 'string', enum: ['txt', 'json'], default: 'txt' },
});
interface Query {
  readonly node?: string[];
  readonly metric?: string[];
  readonly service?: ServiceName;
  readonly format: 'txt' | 'json';
}

const EXPOSITION = { 'text/plain': { schema: { type: 'string', description: 'Prometheus text 0.0.4, or OpenMetrics 1.0 by Accept' } } };
const CLUSTER_JSON = { type: 'object', description: 'the families, the snapshots they came from, and the ones left out with the reason' };

interface Answer {
  readonly contentType: string;
  readonly body: string | object;
}

/** The answer to a query over a view of the cluster. */
async function answer(view: ClusterView, query: Query, accept: string | undefined): Promise<Answer> {
  const filter = { nodes: new Set(query.node), metrics: new Set(query.metric), service: query.service };
  const families = mergeFamilies(view.snapshots, filter);
  if (query.format === 'json') {
    const nodes = view.snapshots.map((s) => ({ node: s.node, service: s.service, version: s.version, at: new Date(s.at).toISOString() }));
    return { contentType: 'application/json', body: { families, nodes, rejected: view.rejected } };
  }
  const exposition = new ServiceExposition(families.map((f) => ({ name: f.name, help: f.help, type: f.type, collect: () => f })));
  return exposition.render(accept);
}

export async function metricsRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const failed = { content: { 'text/plain': { schema: { type: 'string', description: 'collecting failed; the log has why' } } } };
  app.get('/metrics', { schema: { summary: "This port's metrics", response: { 200: { content: EXPOSITION }, 500: failed } }, config: { open: true } }, async (request, reply) => {
    const { status, contentType, body } = await renderMetrics(ctx.exposition, request.headers.accept, ctx.log);
    return reply.code(status).type(contentType).send(body);
  });

  // Snapshots change once an interval and the answer is asked for far more often: the last answers are kept, by what they were made from.
  const answers = new Map<string, Answer>();
  app.get(
    '/api/v2/metrics/',
    {
      schema: { summary: "Every live node's metrics", querystring: QUERY, response: { 200: { content: { ...EXPOSITION, 'application/json': { schema: CLUSTER_JSON } } } } },
      config: { open: 'anonymous_metrics' },
    },
    async (request, reply) => {
      const view = await ctx.deps().cluster();
      const accept = request.headers.accept;
      const key = `${view.signature}\n${request.url}\n${accept?.includes('application/openmetrics-text') ? 'om' : 'text'}`;
      let known = answers.get(key);
      if (known === undefined) {
        known = await answer(view, request.query as Query, accept);
        if (answers.size >= 32) answers.delete(answers.keys().next().value as string);
        answers.set(key, known);
      }
      return reply.type(known.contentType).send(known.body);
    },
  );
}
