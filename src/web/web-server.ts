// The web service's port: one fastify server for the page at /, GET /metrics, the probes, the API
// under /api/v2 and (on its node:http server's 'upgrade', outside fastify, routed by path in
// src/live/upgrade-router.ts) the relay websocket and the live job output's /websocket/.
// It is bound before the node's services start and answers from then on; the API once ready().
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fastify, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../logger.ts';
import type { ServiceExposition } from '../metrics/exposition.ts';
import { OverseerError } from '../errors.ts';
import { ApiState, type ApiDeps } from './api-context.ts';
import { AllowedHosts } from './allowed-hosts.ts';
import { NOT_FOUND, Refusal, detail, isApiPath, pathOf } from './answers.ts';
import { refusalOf } from './forms.ts';
import { closeServer, listen } from './metrics-server.ts';
import { HTTP_OPTIONS, KEEP_ALIVE_MS, MAX_CONNECTIONS, MAX_PER_ADDRESS, REQUEST_TIMEOUT_MS, clientErrorHandler, closeUnreadBody, limitConnections, refusalCounter, type ConnectionRefusal, type RefusalCounter } from './connection-limits.ts';
import { MAX_BODY_BYTES, parseJsonBody } from './request-body.ts';
import { RouteTable } from './route-table.ts';
import { Access, securityHook } from './security.ts';
import { compileValidator } from './validation.ts';
import { ROUTE_MODULES, rootRoutes } from './routes/index.ts';

export type { ApiDeps, ControlDeps } from './api-context.ts';

export interface WebServerOptions {
  readonly log: Logger;
  /** The web port's own GET /metrics. */
  readonly exposition: ServiceExposition;
  readonly nodeName: string;
  readonly version: string;
  /** services.web.bind */
  readonly bind: string;
  /** services.web.hostnames: names clients reach the port by, beside its bind address and loopback. */
  readonly hostnames: readonly string[];
  /** services.web.tokens: none means the API is open (allowed only on loopback, see the config checks). */
  readonly tokens: readonly string[];
  /** services.web.allow_anonymous_metrics */
  readonly allowAnonymousMetrics: boolean;
  /** Counts a connection the port refused (overseer_connections_refused_total{service="web"}); it is logged here. */
  readonly countRefusal?: (reason: ConnectionRefusal) => void;
}

const STORAGE_FAILED = detail("A server error occurred (OVERSEER_API_STORAGE); the node's log has the cause.");

const sendRefusal = (reply: FastifyReply, r: Refusal) => reply.code(r.statusCode).headers(r.headers).send(r.body);

/** The answer to anything a route, a hook or a parser threw. */
function answerError(log: Logger, refused: RefusalCounter, error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // A refusal before the body was read (a 401 to a trickled upload) closes the connection.
  closeUnreadBody(request.raw, reply.raw, refused);
  if (error instanceof Refusal) return sendRefusal(reply, error);
  if (error.validation !== undefined) return sendRefusal(reply, refusalOf(error as NonNullable<FastifyRequest['validationError']>));
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send(detail(`Request body larger than ${MAX_BODY_BYTES} bytes.`));
  // fastify's own refusals of malformed requests (a bad URL, an aborted body).
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return reply.code(error.statusCode).send(detail(error.message));
  const wrapped = new OverseerError('OVERSEER_API_STORAGE', `${request.method} ${request.url} failed: ${error.message}`);
  wrapped.cause = error;
  log.error({ err: wrapped, method: request.method, url: request.url }, 'api request failed');
  return reply.code(500).send(STORAGE_FAILED);
}

/** 404 for a path no route has; 405 with Allow for a method the path's routes do not take. */
function answerNotFound(table: RouteTable, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = pathOf(request.url);
  const route = table.match(path);
  if (route !== undefined) {
    reply.code(405).header('allow', route.methods.join(', '));
    return isApiPath(path) ? reply.send(detail(`Method "${request.method}" not allowed.`)) : reply.type('text/plain').send('method not allowed\n');
  }
  return notFound(path, reply);
}

/** 404 in the API's words, or the metrics ports'. */
function notFound(path: string, reply: FastifyReply): FastifyReply {
  reply.code(404);
  // A Buffer is sent with its content type as set (this answer may come before the hooks are in place).
  return isApiPath(path)
    ? reply.type('application/json').send(Buffer.from(JSON.stringify(NOT_FOUND)))
    : reply.type('text/plain').send('not found: metrics are at /metrics, the API at /api/v2/\n');
}

/** The fastify server of the port, every route registered. */
function buildApp(options: WebServerOptions, state: ApiState, hosts: AllowedHosts, access: Access, refused: RefusalCounter): FastifyInstance {
  const { log } = options;
  const table = new RouteTable();
  const app = fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    keepAliveTimeout: KEEP_ALIVE_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: HTTP_OPTIONS,
    clientErrorHandler: clientErrorHandler(refused),
    routerOptions: { ignoreTrailingSlash: true },
    // A URL the router cannot read (bad percent-encoding, a segment past 100 characters) names no route.
    frameworkErrors: (_error, request, reply) => notFound(pathOf(request.url), reply),
  });
  app.setValidatorCompiler(compileValidator);
  // Response schemas document the answers (OpenAPI); fast-json-stringify would also drop whatever they do not list.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addHook('onRoute', (route) => table.add(route));
  app.addHook('onRequest', securityHook({ hosts, access, table, log }));
  // AWX answers application/json, without the charset JSON does not need (RFC 8259).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.getHeader('content-type') === 'application/json; charset=utf-8') reply.header('content-type', 'application/json');
    done(null, payload);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => answerError(log, refused, error, request, reply));
  app.setNotFoundHandler((request, reply) => answerNotFound(table, request, reply));
  void app.register(rootRoutes, { ctx: state, table });
  for (const routes of ROUTE_MODULES) void app.register(routes, { ctx: state });
  return app;
}

/** The web port. */
export class WebServer {
  readonly #app: FastifyInstance;
  readonly #state: ApiState;
  readonly #hosts: AllowedHosts;
  readonly #access: Access;
  readonly #bind: string;
  readonly #refused: RefusalCounter;
  #closing: Promise<void> | undefined;

  constructor(options: WebServerOptions) {
    this.#bind = options.bind;
    this.#state = new ApiState(options);
    this.#hosts = new AllowedHosts(options.bind, options.hostnames);
    this.#access = new Access(options.tokens, options.allowAnonymousMetrics);
    this.#refused = refusalCounter(options.log, options.countRefusal ?? (() => {}));
    this.#app = buildApp(options, this.#state, this.#hosts, this.#access, this.#refused);
    limitConnections(this.#app.server, { total: MAX_CONNECTIONS.web, perAddress: MAX_PER_ADDRESS.web }, this.#refused, false);
  }

  /** Counts and logs a connection refused on this port outside fastify (the relay's upgrades). */
  get refused(): RefusalCounter {
    return this.#refused;
  }

  /** The names this port answers to (the live output's websocket checks its upgrades' Host and Origin as the API's). */
  get hosts(): AllowedHosts {
    return this.#hosts;
  }

  /** Who may use the API now (the tokens; a config reload changes them): the live output's websocket takes the same. */
  get access(): Access {
    return this.#access;
  }

  /** The node:http server under fastify: the relay and live output endpoints take its websocket upgrades (src/live/upgrade-router.ts). */
  get server(): Server {
    return this.#app.server;
  }

  /** Binds bind:port; rejects with the listen error exactly as node:net gives it (err.code EADDRINUSE, EACCES, EADDRNOTAVAIL...). */
  async listen(port: number): Promise<void> {
    await this.#app.ready();
    await listen(this.#app.server, this.#bind, port);
    this.#hosts.port = (this.#app.server.address() as AddressInfo).port;
  }

  /** The node's services are up: the API answers from now on (ping and readyz 200 when Redis and DB answer). */
  ready(deps: ApiDeps): void {
    this.#state.ready(deps);
  }

  /** Who may use the API from now on (a config reload of services.web.tokens or allow_anonymous_metrics). */
  configure(access: { readonly tokens: readonly string[]; readonly allowAnonymousMetrics: boolean }): void {
    this.#access.set(access.tokens, access.allowAnonymousMetrics);
  }

  /** The node is stopping: ping and readyz answer 503 {"status":"stopping"}. */
  stopping(): void {
    this.#state.stopping();
  }

  /** Closes the listener and every connection; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state.stopping();
      await closeServer(this.#app.server);
      await this.#app.close();
    })();
    return this.#closing;
  }
}
