// What the route modules share: the list, detail and create routes of a kind of object, and launching a
// template. Each route's schemas say what it takes; the handlers read the node's parts through
// ctx.deps(), which answers 503 while the node is starting or stopping.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Job } from '../../control/model.ts';
import type { ControlStore, Listed } from '../../control/store.ts';
import type { Page } from '../../storage/storage.ts';
import type { ApiContext, ControlDeps } from '../api-context.ts';
import { NOT_FOUND, Refusal } from '../answers.ts';
import { Form, checkName, created, type NamedTable } from '../forms.ts';
import { PAGE_QUERY, pageOf, pageSchema } from '../paging.ts';
import { EMPTY_BODY, ID_PARAMS, NO_QUERY, type JsonSchema } from '../schemas.ts';
import { launched } from '../response-schemas.ts';
import { showJob } from '../serializers.ts';

/** The route's `:id`, validated by ID_PARAMS. */
export const idOf = (request: FastifyRequest): number => (request.params as { id: number }).id;

/** What `load` found; a 404 Refusal when it found nothing. */
export async function found<T>(load: Promise<T | undefined>): Promise<T> {
  const t = await load;
  if (t === undefined) throw new Refusal(404, NOT_FOUND);
  return t;
}

/** Rows of a store list, shown. */
export async function shown<T>(listed: Promise<Listed<T>>, view: (t: T) => unknown): Promise<{ count: number; results: unknown[] }> {
  const { count, results } = await listed;
  return { count, results: await Promise.all(results.map(view)) };
}

/** A kind of object: its list, detail and create routes at /api/v2/<path>/ and /api/v2/<path>/:id/. */
export interface Resource<T, B extends { readonly name: string }, X> {
  readonly path: NamedTable;
  /** Its name in summaries: "project", "job template". */
  readonly noun: string;
  /** What it is shown as. */
  readonly item: JsonSchema;
  /** What a create takes. */
  readonly body: JsonSchema;
  list(store: ControlStore, page: Page): Promise<Listed<T>>;
  load(store: ControlStore, id: number): Promise<T | undefined>;
  show(t: T): unknown;
  /** The checks only code can make (the name is checked for every kind); what it resolves is handed to insert. */
  check(form: Form<B>, store: ControlStore): X | Promise<X>;
  insert(store: ControlStore, body: B, checked: X): Promise<T>;
}

export function resourceRoutes<T, B extends { readonly name: string }, X>(app: FastifyInstance, ctx: ApiContext, r: Resource<T, B, X>): void {
  const base = `/api/v2/${r.path}/`;
  const article = /^[aeiou]/.test(r.noun) ? 'an' : 'a';
  app.get(base, { schema: { summary: `List ${r.noun}s`, querystring: PAGE_QUERY, response: { 200: pageSchema(r.item) } } }, (request) =>
    pageOf(request, (page) => shown(r.list(ctx.deps().control.store, page), r.show)),
  );
  app.get(
    `${base}:id/`,
    { schema: { summary: `One ${r.noun}`, params: ID_PARAMS, querystring: NO_QUERY, response: { 200: r.item } } },
    async (request) => r.show(await found(r.load(ctx.deps().control.store, idOf(request)))),
  );
  app.post(
    base,
    { schema: { summary: `Create ${article} ${r.noun}`, querystring: NO_QUERY, body: r.body, response: { 201: r.item } }, attachValidation: true },
    async (request, reply) => {
      const form = new Form<B>(request);
      const { store } = ctx.deps().control;
      await checkName(form.errors, store, r.path, form.value('name'));
      const checked = await r.check(form, store);
      const body = form.valid();
      return created(reply, store, r.path, body.name, () => r.insert(store, body, checked), r.show);
    },
  );
}

/** Launching a template: POST /api/v2/<path>/:id/launch/ (the body may set nothing), 201 with the new job and `field`: its id, as AWX answers. */
export function launchRoute<T>(
  app: FastifyInstance,
  ctx: ApiContext,
  r: { path: string; field: 'job' | 'workflow_job'; load: (store: ControlStore, id: number) => Promise<T | undefined>; start: (c: ControlDeps, t: T) => Promise<Job> },
): void {
  app.post(
    `/api/v2/${r.path}/:id/launch/`,
    {
      schema: { summary: `Launch a ${r.path.replace(/s$/, '').replaceAll('_', ' ')}`, params: ID_PARAMS, querystring: NO_QUERY, body: EMPTY_BODY, response: { 201: launched(r.field) } },
      attachValidation: true,
    },
    async (request, reply) => {
      const form = new Form<object>(request);
      const c = ctx.deps().control;
      const template = await found(r.load(c.store, idOf(request)));
      form.valid();
      const job = await r.start(c, template);
      reply.code(201);
      return { [r.field]: job.id, ...(await showJob(c.store, job)) };
    },
  );
}
