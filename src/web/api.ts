// The HTTP API under /api/v2/ on the web service's port, in AWX's shapes (paging, field errors,
// `detail` messages) so that clients written for AWX read it unchanged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OverseerError } from '../errors.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { EVENT_ORDERS, type EventOrder, type Storage } from '../storage/storage.ts';
import { SERVICES, type ServiceName } from '../metrics/catalog.ts';
import { ServiceExposition } from '../metrics/exposition.ts';
import type { Family } from '../metrics/aggregate.ts';
import type { ClusterView, Filter, Instance } from '../cluster/cluster-view.ts';
import { mergeFamilies } from '../cluster/cluster-view.ts';
import type { ControlStore } from '../control/store.ts';
import type { Submit } from '../control/manager-env.ts';

const DEFAULT_PAGE_SIZE = 50;
/** AWX's MAX_PAGE_SIZE. */
const MAX_PAGE_SIZE = 200;
/** A ping is polled by load balancers, which give up after a few seconds; answer before they do. */
const PING_TIMEOUT_MS = 2_000;
const NOT_FOUND = { detail: 'Not found.' };

/** What the API needs for projects, templates and jobs. */
export interface ControlDeps {
  readonly store: ControlStore;
  /** Queues a task on this node's dispatcher. */
  readonly submit: Submit;
  /** Publishes on Redis (cancel requests reach the node running the job). */
  readonly publish: (channel: string, message: string) => Promise<unknown>;
  /** This node's capacity in forks. */
  readonly capacity: number;
}

/** What the API reads from the node. */
export interface ApiDeps {
  readonly control: ControlDeps;
  readonly storage: Storage;
  readonly nodeName: string;
  readonly version: string;
  /** Resolves true when Redis answers. */
  readonly redisOk: () => Promise<boolean>;
  /** Every node's snapshots in Redis now (for /api/v2/metrics/). */
  readonly cluster: () => Promise<ClusterView>;
  /** Every node seen (for /api/v2/instances/). */
  readonly instances: () => Promise<Instance[]>;
  /** Bearer tokens; none means the API is open (allowed only on loopback, see the config checks). */
  readonly tokens: readonly string[];
  readonly allowAnonymousMetrics: boolean;
}

/** Answers a request it owns and resolves true, or resolves false for a path outside /api/v2. */
export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

interface Reply {
  readonly status: number;
  readonly body: unknown;
  /** A body that is not JSON (Prometheus text), with its content type. */
  readonly text?: { readonly contentType: string; readonly body: string };
}

type FieldErrors = Record<string, string[]>;

interface Paging {
  readonly page: number;
  readonly pageSize: number;
  readonly order: EventOrder;
}

const JOB_LIST = /^\/api\/v2\/jobs\/([^/]+)\/(job_events|job_host_summaries)\/?$/;
const PING = /^\/api\/v2\/ping\/?$/;
const METRICS = /^\/api\/v2\/metrics\/?$/;
const INSTANCES = /^\/api\/v2\/instances\/?$/;

/**
 * The /api/v2 request handler. When the database fails it answers 500 and then rejects with an
 * OVERSEER_API_STORAGE error, so that the caller (which owns the logger) logs the cause.
 */
export function createApi(deps: ApiDeps): ApiHandler {
  const answers = new AnswerCache();
  return async (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== '/api/v2' && !path.startsWith('/api/v2/')) return false;
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));

    let run: (() => Promise<Reply>) | undefined;
    const list = JOB_LIST.exec(path);
    let needsToken = true;
    if (PING.test(path)) {
      run = () => ping(deps);
      needsToken = false; // load balancers and probes check it without credentials, as in AWX
    } else if (METRICS.test(path)) {
      run = () => clusterMetrics(deps, query, req.headers.accept, answers);
      needsToken = !deps.allowAnonymousMetrics;
    } else if (INSTANCES.test(path)) {
      run = async () => {
        const results = await deps.instances();
        return { status: 200, body: { count: results.length, next: null, previous: null, results } };
      };
    } else if (list !== null) {
      const jobId = positiveInt(list[1] ?? '');
      const kind = list[2] === 'job_events' ? 'events' : 'summaries';
      if (jobId !== undefined) run = () => listPage(deps.storage, kind, jobId, path, query);
    }
    if (run === undefined) {
      send(req, res, { status: 404, body: NOT_FOUND });
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, { status: 405, body: { detail: `Method "${req.method}" not allowed.` } }, { allow: 'GET, HEAD' });
      return true;
    }
    const denied = needsToken ? authenticate(deps.tokens, req.headers.authorization) : undefined;
    if (denied !== undefined) {
      send(req, res, { status: 401, body: { detail: denied } }, { 'www-authenticate': 'Bearer realm="overseer"' });
      return true;
    }
    let reply: Reply;
    try {
      reply = await run();
    } catch (err) {
      send(req, res, { status: 500, body: { detail: "A server error occurred (OVERSEER_API_STORAGE); the node's log has the cause." } });
      const wrapped = new OverseerError('OVERSEER_API_STORAGE', `${req.method} ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
      wrapped.cause = err;
      throw wrapped;
    }
    send(req, res, reply);
    return true;
  };
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply, headers: Record<string, string> = {}): void {
  const text = reply.text?.body ?? JSON.stringify(reply.body);
  const type = reply.text?.contentType ?? 'application/json';
  res.writeHead(reply.status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(req.method === 'HEAD' ? undefined : text);
}

const digest = (t: string) => createHash('sha256').update(t).digest();

/** Why a request is refused, or undefined when its bearer token is one of the tokens (or none are configured). */
function authenticate(tokens: readonly string[], header: string | undefined): string | undefined {
  if (tokens.length === 0) return undefined;
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (given === undefined) return 'Authentication credentials were not provided.';
  // Compare digests, so that neither length nor content leaks through timing.
  const g = digest(given);
  return tokens.some((t) => timingSafeEqual(digest(t), g)) ? undefined : 'Invalid token.';
}

const METRIC_PARAMS = ['node', 'metric', 'service', 'format'];

/** /api/v2/metrics/: every live node's snapshots, one family per metric, a `node` label on each sample. */
/** The last answers of /api/v2/metrics/, by what they were made from: snapshots change once an interval. */
class AnswerCache {
  readonly #answers = new Map<string, Reply>();
  get(key: string): Reply | undefined {
    return this.#answers.get(key);
  }
  set(key: string, reply: Reply): void {
    if (this.#answers.size >= 32) this.#answers.delete(this.#answers.keys().next().value as string);
    this.#answers.set(key, reply);
  }
}

async function clusterMetrics(deps: ApiDeps, query: URLSearchParams, accept: string | undefined, answers: AnswerCache): Promise<Reply> {
  const errors: FieldErrors = Object.create(null) as FieldErrors;
  const fail = (field: string, message: string) => (errors[field] ??= []).push(message);
  for (const key of new Set(query.keys())) {
    if (!METRIC_PARAMS.includes(key)) fail(key, `${key} is not a query parameter here; expected ${METRIC_PARAMS.join(', ')}`);
  }
  const service = query.get('service') ?? undefined;
  if (service !== undefined && !SERVICES.includes(service as ServiceName)) fail('service', `service must be one of ${SERVICES.join(', ')}; got ${JSON.stringify(service)}`);
  const format = query.get('format') ?? 'txt';
  if (format !== 'txt' && format !== 'json') fail('format', `format must be txt or json; got ${JSON.stringify(format)}`);
  if (Object.keys(errors).length > 0) return { status: 400, body: errors };

  const view = await deps.cluster();
  const key = `${view.signature}\n${query.toString()}\n${accept?.includes('application/openmetrics-text') ? 'om' : 'text'}`;
  const known = answers.get(key);
  if (known !== undefined) return known;
  const reply = await answerMetrics(view, query, service, format, accept);
  answers.set(key, reply);
  return reply;
}

async function answerMetrics(view: ClusterView, query: URLSearchParams, service: string | undefined, format: string, accept: string | undefined): Promise<Reply> {
  const filter: Filter = { nodes: new Set(query.getAll('node')), metrics: new Set(query.getAll('metric')), service: service as ServiceName | undefined };
  const families = mergeFamilies(view.snapshots, filter);
  if (format === 'json') {
    const nodes = view.snapshots.map((s) => ({ node: s.node, service: s.service, version: s.version, at: new Date(s.at).toISOString() }));
    return { status: 200, body: { families, nodes, rejected: view.rejected } };
  }
  const exposition = new ServiceExposition(families.map((f: Family) => ({ name: f.name, help: f.help, type: f.type, collect: () => f })));
  const rendered = await exposition.render(accept);
  return { status: 200, body: null, text: { contentType: rendered.contentType, body: rendered.body } };
}

/** A canonical decimal id ≥ 1 that a JavaScript number holds exactly, or undefined. */
function positiveInt(text: string): number | undefined {
  if (!/^[1-9]\d*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

async function ping(deps: ApiDeps): Promise<Reply> {
  const [database, redis] = await Promise.all([
    answersWithin(async () => {
      await deps.storage.ping();
      return true;
    }),
    answersWithin(async () => (await deps.redisOk()) === true),
  ]);
  const body = { node: deps.nodeName, version: deps.version, redis, database };
  return { status: database && redis ? 200 : 503, body };
}

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

/** Reads page, page_size and (for events) order_by; every problem is reported, as AWX does. */
function parsePaging(query: URLSearchParams, withOrder: boolean): Paging | { readonly errors: FieldErrors } {
  const known = withOrder ? ['page', 'page_size', 'order_by'] : ['page', 'page_size'];
  // No prototype: a parameter named __proto__ or constructor must be just another unknown name.
  const errors: FieldErrors = Object.create(null) as FieldErrors;
  const fail = (field: string, message: string) => (errors[field] ??= []).push(message);
  for (const key of new Set(query.keys())) {
    if (!known.includes(key)) {
      // Ignoring a filter would hand back unfiltered rows as if they were filtered.
      fail(key, `${key} is not a query parameter here (filters are not supported yet); expected ${known.join(', ')}`);
    } else if (query.getAll(key).length > 1) {
      fail(key, `${key} was given ${query.getAll(key).length} times; expected it once`);
    }
  }

  const pageText = query.get('page');
  let page = 1;
  if (pageText !== null) {
    // Beyond a safe integer it is still a whole number, and simply past the end.
    if (/^\d+$/.test(pageText) && Number(pageText) >= 1) page = Number(pageText);
    else fail('page', `page must be a whole number ≥ 1; got ${JSON.stringify(pageText)}`);
  }

  const sizeText = query.get('page_size');
  let pageSize = DEFAULT_PAGE_SIZE;
  if (sizeText !== null) {
    const n = Number(sizeText);
    if (/^\d+$/.test(sizeText) && n >= 1 && n <= MAX_PAGE_SIZE) pageSize = n;
    else fail('page_size', `page_size must be a whole number from 1 to ${MAX_PAGE_SIZE}; got ${JSON.stringify(sizeText)}`);
  }

  const orderText = query.get('order_by');
  let order: EventOrder = 'counter';
  if (withOrder && orderText !== null) {
    const found = EVENT_ORDERS.find((o) => o === orderText);
    if (found !== undefined) order = found;
    else fail('order_by', `order_by must be one of ${EVENT_ORDERS.join(', ')}; got ${JSON.stringify(orderText)}`);
  }

  return Object.keys(errors).length > 0 ? { errors } : { page, pageSize, order };
}

/** The request's URL with `page` replaced; the other parameters are kept as the client gave them. */
function pageLink(path: string, query: URLSearchParams, page: number): string {
  const params = new URLSearchParams([['page', String(page)], ...[...query].filter(([key]) => key !== 'page')]);
  return `${path}?${params.toString()}`;
}

async function listPage(
  storage: Storage,
  kind: 'events' | 'summaries',
  jobId: number,
  path: string,
  query: URLSearchParams,
): Promise<Reply> {
  const paging = parsePaging(query, kind === 'events');
  if ('errors' in paging) return { status: 400, body: paging.errors };
  const { page, pageSize, order } = paging;
  // OFFSET must stay an integer for SQLite; any page that far out is past the end anyway.
  const offset = Math.min((page - 1) * pageSize, Number.MAX_SAFE_INTEGER);
  const limits = { limit: pageSize, offset };

  let count: number;
  let results: unknown[];
  if (kind === 'events') {
    const found = await storage.listJobEvents(jobId, limits, order);
    count = found.count;
    results = found.results.map(({ id, job_id, ...event }) => ({ id, job: job_id, ...event }));
  } else {
    const found = await storage.listHostSummaries(jobId, limits);
    count = found.count;
    results = found.results.map((h) => ({
      id: h.id,
      job: h.job_id,
      host_name: h.host_name,
      ok: h.ok,
      changed: h.changed,
      failures: h.failures,
      dark: h.dark,
      skipped: h.skipped,
      rescued: h.rescued,
      ignored: h.ignored,
      processed: h.processed,
      failed: h.failed,
    }));
  }

  // An empty first page is a job with nothing stored yet; any later empty page is a client error.
  if (page > 1 && offset >= count) return { status: 404, body: { detail: 'Invalid page.' } };
  return {
    status: 200,
    body: {
      count,
      next: page * pageSize < count ? pageLink(path, query, page + 1) : null,
      previous: page > 1 ? pageLink(path, query, page - 1) : null,
      results,
    },
  };
}
