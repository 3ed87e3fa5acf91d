// /api/v2/instances/: every node seen, with the capacity its jobs take (from the shared database)
// in AWX's fields; only this node's own capacity is known here, a peer's is null.
import type { FastifyInstance } from 'fastify';
import type { Instance } from '../../cluster/cluster-view.ts';
import type { RouteOptions } from '../api-context.ts';
import { PAGE_QUERY, pageOf, pageSchema } from '../paging.ts';
import { INSTANCE } from '../response-schemas.ts';

export async function instanceRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/api/v2/instances/', { schema: { summary: 'Every node seen', querystring: PAGE_QUERY, response: { 200: pageSchema(INSTANCE) } } }, (request) =>
    pageOf(request, async (page) => {
      const deps = ctx.deps();
      const { capacity, store } = deps.control;
      const seen = await deps.instances();
      // Before its first snapshot this node is not in the list yet; it is answering, so it is up.
      const self: Instance = { name: ctx.nodeName, version: ctx.version, last_snapshot: null, age_seconds: null, status: 'healthy' };
      const all = seen.some((i) => i.name === ctx.nodeName) ? seen : [...seen, self].sort((a, b) => (a.name < b.name ? -1 : 1));
      const results = await Promise.all(
        all.slice(page.offset, page.offset + page.limit).map(async (instance) => {
          const { consumed, jobs } = await store.consumedOn(instance.name);
          const own = instance.name === ctx.nodeName;
          const remaining = Math.max(0, capacity - consumed);
          return {
            ...instance,
            capacity: own ? capacity : null,
            consumed_capacity: consumed,
            remaining_capacity: own ? remaining : null,
            percent_capacity_remaining: own ? (capacity === 0 ? 0 : Math.round((10_000 * remaining) / capacity) / 100) : null,
            jobs_running: jobs,
          };
        }),
      );
      return { count: all.length, results };
    }),
  );
}
