// POST /api/v2/config/reload/: reads the node's config file again, as SIGHUP does, and answers
// what changed, what waits for a restart, or why nothing changed.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../api-context.ts';
import { EMPTY_BODY, NO_QUERY, object } from '../schemas.ts';
import { Form } from '../forms.ts';

const CHANGE = object({ key: { type: 'string' }, from: {}, to: {}, live: { type: 'boolean' } }, ['key', 'from', 'to', 'live']);
const OUTCOME = object(
  {
    result: { type: 'string', enum: ['applied', 'partial', 'invalid'] },
    applied: { type: 'array', items: CHANGE, description: 'changes now in force' },
    needs_restart: { type: 'array', items: CHANGE, description: 'changes that take effect at the next restart' },
    problems: { type: 'array', items: { type: 'string' }, description: 'why nothing changed: each problem of the file, as at start' },
  },
  ['result', 'applied', 'needs_restart', 'problems'],
);

export async function configRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.post(
    '/api/v2/config/reload/',
    { schema: { summary: 'Reload the config file (as SIGHUP does)', querystring: NO_QUERY, body: EMPTY_BODY, response: { 200: OUTCOME, 400: OUTCOME } }, attachValidation: true },
    async (request, reply) => {
      new Form<object>(request).valid();
      const outcome = await ctx.deps().reload();
      // A file with errors changed nothing: the request could not be carried out as asked.
      reply.code(outcome.result === 'invalid' ? 400 : 200);
      return outcome;
    },
  );
}
