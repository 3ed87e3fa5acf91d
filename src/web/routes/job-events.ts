// A job's events and per-host summaries, as the callback receiver stored them. Events are stored
// by job id whatever the job: an id with none stored has an empty first page.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../api-context.ts';
import { EVENT_PAGE_QUERY, PAGE_QUERY, pageOf, pageSchema } from '../paging.ts';
import { ID_PARAMS } from '../schemas.ts';
import { EVENT, HOST_SUMMARY } from '../response-schemas.ts';
import { showEvent, showHostSummary } from '../serializers.ts';
import { idOf, shown } from './resource.ts';

export async function jobEventRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get(
    '/api/v2/jobs/:id/job_events/',
    { schema: { summary: "A job's events", params: ID_PARAMS, querystring: EVENT_PAGE_QUERY, response: { 200: pageSchema(EVENT) } } },
    (request) => pageOf(request, (page, order) => shown(ctx.deps().storage.listJobEvents(idOf(request), page, order), showEvent)),
  );
  app.get(
    '/api/v2/jobs/:id/job_host_summaries/',
    { schema: { summary: "A job's outcome per host", params: ID_PARAMS, querystring: PAGE_QUERY, response: { 200: pageSchema(HOST_SUMMARY) } } },
    (request) => pageOf(request, (page) => shown(ctx.deps().storage.listHostSummaries(idOf(request), page), showHostSummary)),
  );
}
