// What the web port refuses before any route sees a request, in this order:
//   421  a Host that is not a name of this port (a web page reaching the port by DNS rebinding);
//   403  a request from another site (Origin, Sec-Fetch-Site), unless it is a plain navigation;
//   415  a state change whose body is not JSON (a form or text/plain POST is what a cross-site
//        page can send without asking; a POST with no body and no Content-Type, curl -X POST, is fine);
//   401  an API request without a configured token, before routing: unknown paths, methods and
//        ids answer 401 as well, so nothing about the routes is learned without a token.
// The relay's websocket upgrade never reaches here: ws answers it on the server's 'upgrade'.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { throttledWarn, type Logger } from '../logger.ts';
import type { AllowedHosts } from './allowed-hosts.ts';
import type { Openness, RouteTable } from './route-table.ts';
import { Refusal, detail, isApiPath, pathOf } from './answers.ts';

const STATE_CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Sec-Fetch-Site values of requests a page of another site (or another port of this host) made. */
const OTHER_SITES = new Set(['cross-site', 'same-site']);

export interface SecurityOptions {
  readonly hosts: AllowedHosts;
  readonly access: Access;
  readonly table: RouteTable;
  readonly log: Logger;
}

const digest = (t: string) => createHash('sha256').update(t).digest();

/** Who may use the API: the tokens, and whether /api/v2/metrics/ is open. A config reload changes both. */
export class Access {
  #tokens: readonly Buffer[] = [];
  #anonymousMetrics = false;

  constructor(tokens: readonly string[], allowAnonymousMetrics: boolean) {
    this.set(tokens, allowAnonymousMetrics);
  }

  set(tokens: readonly string[], allowAnonymousMetrics: boolean): void {
    this.#tokens = tokens.map(digest);
    this.#anonymousMetrics = allowAnonymousMetrics;
  }

  get tokens(): readonly Buffer[] {
    return this.#tokens;
  }

  /** Whether a route so marked answers without a token now. */
  opens(open: Openness | undefined): boolean {
    return open === true || (open === 'anonymous_metrics' && this.#anonymousMetrics);
  }
}

/** Why a request is refused, or undefined when its bearer token is one of the tokens. */
function authenticate(tokens: readonly Buffer[], header: string | undefined): string | undefined {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (given === undefined) return 'Authentication credentials were not provided.';
  // Compare digests, so that neither length nor content leaks through timing.
  const g = digest(given);
  return tokens.some((t) => timingSafeEqual(t, g)) ? undefined : 'Invalid token.';
}

/** A top-level navigation (a link followed): another site may send it, and cannot read the answer. */
const isNavigation = (request: FastifyRequest) =>
  request.headers['sec-fetch-mode'] === 'navigate' && (request.method === 'GET' || request.method === 'HEAD');

/** The media type of a state change's body, when it is not JSON; undefined when it is, or when there is no body at all. */
function wrongMediaType(request: FastifyRequest): string | undefined {
  const type = request.headers['content-type'];
  const length = request.headers['content-length'];
  const hasBody = request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (type === undefined && !hasBody) return undefined;
  return type?.split(';')[0]?.trim().toLowerCase() === 'application/json' ? undefined : (type ?? '');
}

/** The onRequest hook that makes every refusal above. */
export function securityHook(options: SecurityOptions): onRequestHookHandler {
  const { hosts, table, access } = options;
  const warn = throttledWarn(options.log, 'request refused');
  const refuse = (request: FastifyRequest, reason: string, refusal: Refusal): never => {
    warn(reason, { method: request.method, path: pathOf(request.url), remote: request.socket.remoteAddress, detail: (refusal.body as { detail: string }).detail });
    throw refusal;
  };

  return async (request) => {
    const { host, origin } = request.headers;
    if (host === undefined) refuse(request, 'host', new Refusal(400, detail('A Host header is required.')));
    else if (!hosts.allows(host)) {
      refuse(request, 'host', new Refusal(421, detail(`Host "${host}" is not a name of this node; if clients reach it by that name, add it to services.web.hostnames.`)));
    }
    if (origin !== undefined && !hosts.allows(URL.canParse(origin) && origin !== 'null' ? new URL(origin).host : '')) {
      refuse(request, 'origin', new Refusal(403, detail(`Cross-site request refused: Origin ${origin} is not this node.`)));
    }
    const site = request.headers['sec-fetch-site'];
    if (typeof site === 'string' && OTHER_SITES.has(site) && !isNavigation(request)) {
      refuse(request, 'fetch-site', new Refusal(403, detail(`Cross-site request refused: Sec-Fetch-Site is ${site}; only this node's own pages may call it.`)));
    }
    const mediaType = STATE_CHANGES.has(request.method) ? wrongMediaType(request) : undefined;
    if (mediaType !== undefined) refuse(request, 'media-type', new Refusal(415, detail(`Unsupported media type "${mediaType}" in request.`)));

    const path = pathOf(request.url);
    const { tokens } = access;
    if (tokens.length === 0 || !isApiPath(path)) return;
    if (access.opens(request.is404 ? table.match(path)?.open : request.routeOptions.config.open)) return;
    const denied = authenticate(tokens, request.headers.authorization);
    if (denied !== undefined) refuse(request, 'token', new Refusal(401, detail(denied), { 'www-authenticate': 'Bearer realm="overseer"' }));
  };
}
