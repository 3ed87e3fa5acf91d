// Jobs of every kind (/api/v2/jobs/, /project_updates/, /workflow_jobs/): list, detail, cancel,
// and the output of jobs and project updates, read from their stored events.
import type { FastifyInstance } from 'fastify';
import { JOB_TYPES, type Job, type JobType } from '../../control/model.ts';
import { cancelJob } from '../../control/cancel.ts';
import type { ApiContext, RouteOptions } from '../api-context.ts';
import { Refusal, detail } from '../answers.ts';
import { Form } from '../forms.ts';
import { MAX_PAGE_SIZE, PAGE_QUERY, pageOf, pageSchema } from '../paging.ts';
import { EMPTY_BODY, ID_PARAMS, NO_QUERY, object } from '../schemas.ts';
import { JOB, shape } from '../response-schemas.ts';
import { JOB_PATHS, canCancel, showJob } from '../serializers.ts';
import { found, idOf, shown } from './resource.ts';

/** ANSI escape sequences (CSI), which format=txt strips as AWX does. */
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;
const STDOUT_QUERY = object({ format: { type: 'string', enum: ['txt', 'ansi', 'json'], default: 'txt' } });
const TEXT = { type: 'string' };
const STDOUT_JSON = shape({ range: shape({ start: { type: 'integer' }, end: { type: 'integer' }, absolute_end: { type: 'integer' } }), content: TEXT });

/** A job's output: its events' stdout in counter order, one line each. */
async function output(ctx: ApiContext, job: Job): Promise<string> {
  const { storage } = ctx.deps();
  let content = '';
  for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
    const { results } = await storage.listJobEvents(job.id, { limit: MAX_PAGE_SIZE, offset }, 'counter');
    for (const e of results) if (e.stdout !== '') content += `${e.stdout}\n`;
    if (results.length < MAX_PAGE_SIZE) return content;
  }
}

/** The routes of one kind of job. */
function jobTypeRoutes(app: FastifyInstance, ctx: ApiContext, type: JobType): void {
  const base = `/api/v2/${JOB_PATHS[type]}`;
  const noun = type.replace('_', ' ');
  const load = async (id: number) => {
    const job = await ctx.deps().control.store.job(id);
    return job?.type === type ? job : undefined;
  };
  const view = (j: Job) => showJob(ctx.deps().control.store, j);
  const one = { params: ID_PARAMS, querystring: NO_QUERY };

  app.get(`${base}/`, { schema: { summary: `List ${noun}s`, querystring: PAGE_QUERY, response: { 200: pageSchema(JOB) } } }, (request) =>
    pageOf(request, (page) => shown(ctx.deps().control.store.listJobs({ type }, page), view)),
  );
  app.get(`${base}/:id/`, { schema: { summary: `One ${noun}`, ...one, response: { 200: JOB } } }, async (request) => view(await found(load(idOf(request)))));
  app.get(`${base}/:id/cancel/`, { schema: { summary: `Whether the ${noun} can be canceled`, ...one, response: { 200: shape({ can_cancel: { type: 'boolean' } }) } } }, async (request) => ({
    can_cancel: canCancel(await found(load(idOf(request)))),
  }));
  app.post(
    `${base}/:id/cancel/`,
    { schema: { summary: `Cancel the ${noun}`, ...one, body: EMPTY_BODY, response: { 202: JOB } }, attachValidation: true },
    async (request, reply) => {
      const form = new Form<object>(request);
      const job = await found(load(idOf(request)));
      form.valid();
      const c = ctx.deps().control;
      // AWX's answer for a finished job: the method is not allowed on it any more.
      if ((await cancelJob(c, job)) === 'finished') {
        throw new Refusal(405, detail(`Method "POST" not allowed: the job has already finished (${job.status}).`), { allow: 'GET, HEAD' });
      }
      reply.code(202);
      return view((await c.store.job(job.id)) ?? job);
    },
  );
  if (type === 'workflow_job') return;
  app.get(
    `${base}/:id/stdout/`,
    {
      schema: {
        summary: `The ${noun}'s output (txt without colour codes)`,
        params: ID_PARAMS,
        querystring: STDOUT_QUERY,
        response: { 200: { content: { 'text/plain': { schema: TEXT }, 'application/json': { schema: STDOUT_JSON } } } },
      },
    },
    async (request, reply) => {
      const { format } = request.query as { format: 'txt' | 'ansi' | 'json' };
      const content = await output(ctx, await found(load(idOf(request))));
      if (format === 'json') {
        const lines = content.split('\n').length - 1;
        return { range: { start: 0, end: lines, absolute_end: lines }, content };
      }
      reply.type('text/plain; charset=utf-8');
      return format === 'txt' ? content.replace(ANSI, '') : content;
    },
  );
}

export async function jobRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  for (const type of JOB_TYPES) jobTypeRoutes(app, ctx, type);
}
