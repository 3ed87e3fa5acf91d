// Probes: /healthz (the process serves), /readyz (the node is up and Redis and the database
// answer) and AWX's /api/v2/ping/ for load balancers. All answer without a token.
import type { FastifyInstance } from 'fastify';
import type { ApiDeps, RouteOptions } from '../api-context.ts';
import { shape } from '../response-schemas.ts';

/** A ping is polled by load balancers, which give up after a few seconds; answer before they do. */
const PING_TIMEOUT_MS = 2_000;

/** fn's answer, or false when it throws or takes longer than PING_TIMEOUT_MS. */
async function answersWithin(fn: () => Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, PING_TIMEOUT_MS, false)));
  try {
    return await Promise.race([fn().catch(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether Redis and the database answer now. */
async function checks(deps: ApiDeps): Promise<{ redis: boolean; database: boolean }> {
  const [database, redis] = await Promise.all([
    answersWithin(async () => {
      await deps.storage.ping();
      return true;
    }),
    answersWithin(async () => (await deps.redisOk()) === true),
  ]);
  return { redis, database };
}

const str = { type: 'string' };
const bool = { type: 'boolean' };
const STATUS = shape({ status: str });
const PING = shape({ node: str, version: str, redis: bool, database: bool, status: str }, ['redis', 'database', 'status']);
const READY = shape({ status: str, node: str, version: str, redis: bool, database: bool }, ['node', 'version', 'redis', 'database']);
const open = { open: true };

export async function healthRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  app.get('/healthz', { schema: { summary: 'The process serves', response: { 200: STATUS } }, config: open }, () => ({ status: 'alive' }));

  app.get('/readyz', { schema: { summary: 'The node is up, and Redis and the database answer', response: { 200: READY, 503: READY } }, config: open }, async (_request, reply) => {
    if (ctx.phase !== 'ready') return reply.code(503).send({ status: ctx.phase });
    const found = await checks(ctx.deps());
    const ok = found.redis && found.database;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', node: ctx.nodeName, version: ctx.version, ...found });
  });

  app.get(
    '/api/v2/ping/',
    { schema: { summary: 'Whether this node, its Redis and its database answer (AWX)', response: { 200: PING, 503: PING } }, config: open },
    async (_request, reply) => {
      const who = { node: ctx.nodeName, version: ctx.version };
      if (ctx.phase !== 'ready') return reply.code(503).send({ status: ctx.phase, ...who });
      const found = await checks(ctx.deps());
      return reply.code(found.redis && found.database ? 200 : 503).send({ ...who, ...found });
    },
  );
}
