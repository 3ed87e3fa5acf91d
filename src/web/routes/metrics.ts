// Metrics on the web port: its own GET /metrics, as every port serves it, and every live node's
// at /api/v2/metrics/ (one family per metric, a `node` label on each sample).
import type { FastifyInstance } from 'fastify';
import { SERVICES, type ServiceName } from '../../services/names.ts';
import { renderView, type ClusterAnswer } from '../../cluster/cluster-answer.ts';
import type { AnswerFormat } from '../../cluster/snapshot-pieces.ts';
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

/** The format a request asks for: ?format=json, else OpenMetrics when Accept names it, else Prometheus text. */
function formatOf(query: Query, accept: string | undefined): AnswerFormat {
  return query.format === 'json' ? 'json' : accept?.includes('application/openmetrics-text') ? 'openmetrics' : 'text';
}

export async function metricsRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const failed = { content: { 'text/plain': { schema: { type: 'string', description: 'collecting failed; the log has why' } } } };
  app.get('/metrics', { schema: { summary: "This port's metrics", response: { 200: { content: EXPOSITION }, 500: failed } }, config: { open: true } }, async (request, reply) => {
    const { status, contentType, body } = await renderMetrics(ctx.exposition, request.headers.accept, ctx.log);
    return reply.code(status).type(contentType).send(body);
  });

  // The view is assembled from pieces rendered once per snapshot; an answer is kept while the view
  // it was made from is current (the signature changes with any snapshot taken in or expired).
  const answers = new Map<string, ClusterAnswer>();
  let answersOf = '';
  app.get(
    '/api/v2/metrics/',
    {
      schema: { summary: "Every live node's metrics", querystring: QUERY, response: { 200: { content: { ...EXPOSITION, 'application/json': { schema: CLUSTER_JSON } } } } },
      config: { open: 'anonymous_metrics' },
    },
    async (request, reply) => {
      const view = await ctx.deps().cluster();
      const query = request.query as Query;
      const format = formatOf(query, request.headers.accept);
      if (view.signature !== answersOf) {
        answers.clear();
        answersOf = view.signature;
      }
      const key = `${request.url}\n${format}`;
      let known = answers.get(key);
      if (known === undefined) {
        known = renderView(view, { nodes: new Set(query.node), metrics: new Set(query.metric), service: query.service }, format);
        if (answers.size >= 32) answers.delete(answers.keys().next().value as string);
        answers.set(key, known);
      }
      return reply.type(known.contentType).send(known.body);
    },
  );
}
