// The HTTP API under /api/v2/ on the web service's port, in AWX's shapes (paging, field errors,
// `detail` messages) so that clients written for AWX read it unchanged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OverseerError } from '../errors.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Storage } from '../storage/storage.ts';
import { SERVICES, type ServiceName } from '../services/names.ts';
import { ServiceExposition } from '../metrics/exposition.ts';
import type { Family } from '../metrics/aggregate.ts';
import type { ClusterView, Filter, Instance } from '../cluster/cluster-view.ts';
import { mergeFamilies } from '../cluster/cluster-view.ts';
import { NOT_FOUND, at, controlRoutes, pageOf, queryProblems, typeName, type ApiRequest, type ControlDeps, type Reply, type Route } from './control-api.ts';

/** A ping is polled by load balancers, which give up after a few seconds; answer before they do. */
const PING_TIMEOUT_MS = 2_000;
/** The largest POST body. */
const MAX_BODY_BYTES = 1 << 20;

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

/** A canonical decimal id ≥ 1 that a JavaScript number holds exactly, or undefined. */
function positiveInt(text: string): number | undefined {
  if (!/^[1-9]\d*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The /api/v2 request handler. When the database fails it answers 500 and then rejects with an
 * OVERSEER_API_STORAGE error, so that the caller (which owns the logger) logs the cause.
 */
export function createApi(deps: ApiDeps): ApiHandler {
  const answers = new AnswerCache();
  const routes: Route[] = [
    // Load balancers and probes check it without credentials, as in AWX.
    { pattern: at('ping'), open: true, get: () => ping(deps) },
    { pattern: at('metrics'), open: deps.allowAnonymousMetrics, get: (r) => clusterMetrics(deps, r.query, r.accept, answers) },
    { pattern: at('instances'), get: (r) => instances(deps, r) },
    ...controlRoutes(deps.control, deps.storage),
  ];
  return async (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== '/api/v2' && !path.startsWith('/api/v2/')) return false;
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));

    let route: Route | undefined;
    let id: number | undefined = 0;
    for (const r of routes) {
      const match = r.pattern.exec(path);
      if (match === null) continue;
      route = r;
      id = match[1] === undefined ? 0 : positiveInt(match[1]);
      break;
    }
    if (route === undefined || id === undefined) {
      send(req, res, NOT_FOUND);
      return true;
    }
    const handler = req.method === 'GET' || req.method === 'HEAD' ? route.get : req.method === 'POST' ? route.post : undefined;
    if (handler === undefined) {
      const allow = [route.get && 'GET, HEAD', route.post && 'POST'].filter(Boolean).join(', ');
      send(req, res, { status: 405, body: { detail: `Method "${req.method}" not allowed.` }, headers: { allow } });
      return true;
    }
    const denied = route.open ? undefined : authenticate(deps.tokens, req.headers.authorization);
    if (denied !== undefined) {
      send(req, res, { status: 401, body: { detail: denied }, headers: { 'www-authenticate': 'Bearer realm="overseer"' } });
      return true;
    }
    let body: ApiRequest['body'] = {};
    if (req.method === 'POST') {
      const problems = queryProblems(query, []);
      const read = problems.any ? problems.reply() : await readBody(req);
      if ('status' in read) {
        send(req, res, read);
        return true;
      }
      body = read.body;
    }

    let reply: Reply;
    try {
      reply = await handler({ path, query, id, body, accept: req.headers.accept });
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

/** A POST body: a JSON object of at most MAX_BODY_BYTES (an empty body is {}), or the reply refusing it. */
function readBody(req: IncomingMessage): Promise<{ body: Record<string, unknown> } | Reply> {
  const tooLarge: Reply = { status: 413, body: { detail: `Request body larger than ${MAX_BODY_BYTES} bytes.` } };
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return Promise.resolve(tooLarge);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size <= MAX_BODY_BYTES) return;
      // The rest is read and dropped by the server, so that the client sees the answer.
      req.off('data', onData);
      resolve(tooLarge);
    };
    req.on('data', onData);
    req.once('error', () => resolve({ status: 400, body: { detail: 'The request body could not be read.' } }));
    req.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text.trim() === '' ? {} : JSON.parse(text);
      } catch (err) {
        resolve({ status: 400, body: { detail: `JSON parse error - ${(err as Error).message}` } });
        return;
      }
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) resolve({ body: body as Record<string, unknown> });
      else resolve({ status: 400, body: { non_field_errors: [`Invalid data. Expected a dictionary, but got ${typeName(body)}.`] } });
    });
  });
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  const text = reply.text?.body ?? JSON.stringify(reply.body);
  const type = reply.text?.contentType ?? 'application/json';
  res.writeHead(reply.status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...reply.headers });
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

/** /api/v2/metrics/: every live node's snapshots, one family per metric, a `node` label on each sample. */
async function clusterMetrics(deps: ApiDeps, query: URLSearchParams, accept: string | undefined, answers: AnswerCache): Promise<Reply> {
  const problems = queryProblems(query, METRIC_PARAMS);
  const service = query.get('service') ?? undefined;
  if (service !== undefined && !SERVICES.includes(service as ServiceName)) problems.add('service', `service must be one of ${SERVICES.join(', ')}; got ${JSON.stringify(service)}`);
  const format = query.get('format') ?? 'txt';
  if (format !== 'txt' && format !== 'json') problems.add('format', `format must be txt or json; got ${JSON.stringify(format)}`);
  if (problems.any) return problems.reply();

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

/**
 * /api/v2/instances/: every node seen, with the capacity its jobs take (from the shared database)
 * in AWX's fields; only this node's own capacity is known here, a peer's is null.
 */
function instances(deps: ApiDeps, r: ApiRequest): Promise<Reply> {
  return pageOf(r, async (page) => {
    const seen = await deps.instances();
    // Before its first snapshot this node is not in the list yet; it is answering, so it is up.
    const self: Instance = { name: deps.nodeName, version: deps.version, last_snapshot: null, age_seconds: null, status: 'healthy' };
    const all = seen.some((i) => i.name === deps.nodeName) ? seen : [...seen, self].sort((a, b) => (a.name < b.name ? -1 : 1));
    const results = await Promise.all(
      all.slice(page.offset, page.offset + page.limit).map(async (instance) => {
        const { consumed, jobs } = await deps.control.store.consumedOn(instance.name);
        const own = instance.name === deps.nodeName;
        const { capacity } = deps.control;
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
  });
}
