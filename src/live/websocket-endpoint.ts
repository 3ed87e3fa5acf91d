// /websocket/ on the web port: the upgrade is checked as the HTTP API's requests are
// (src/web/security.ts): a Host that names this node (421 otherwise), no other site's page (403 on
// a foreign Origin or a cross-site Sec-Fetch-Site), and, with services.web.tokens, a valid
// `Authorization: Bearer` header (401 on a wrong one; without one the first message must carry
// the token, as a browser cannot set headers). Connections are capped per address and in all
// (429/503, counted in overseer_connections_refused_total{service="web"}). Dead connections are
// found by a ping every HEARTBEAT_MS.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { throttledWarn, type Logger } from '../logger.ts';
import type { AllowedHosts } from '../web/allowed-hosts.ts';
import type { RefusalCounter } from '../web/connection-limits.ts';
import type { Access } from '../web/security.ts';
import type { LiveHub } from './hub.ts';
import { LiveClient } from './live-client.ts';
import { LIVE_PATHS, MAX_CLIENT_MESSAGE_BYTES } from './protocol.ts';
import { answerUpgrade, capUpgrades, routeUpgrade } from './upgrade-router.ts';

/** Live output connections from one remote address at once (a browser tab or a CLI needs one). */
export const MAX_PER_ADDRESS = 16;
/** Live output connections at once, from everyone. */
export const MAX_LIVE_CONNECTIONS = 256;
/** How often each connection is pinged; one that has not answered the previous ping is cut off. */
export const HEARTBEAT_MS = 30_000;
/** Sec-Fetch-Site values of requests a page of another site (or another port of this host) made. */
const OTHER_SITES = new Set(['cross-site', 'same-site']);

export interface LiveEndpointDeps {
  readonly hub: LiveHub;
  readonly hosts: AllowedHosts;
  readonly access: Access;
  readonly refused: RefusalCounter;
  readonly log: Logger;
}

export interface LiveEndpoint {
  /** Stops taking connections and ends the open ones. */
  close(): void;
}

const digest = (t: string) => createHash('sha256').update(t).digest();

/** Why a token is refused by `access` (the API's words), or undefined when it is one of its tokens. */
export function refuseToken(access: Access, token: string): string | undefined {
  const given = digest(token);
  return access.tokens.some((t) => timingSafeEqual(t, given)) ? undefined : 'Invalid token.';
}

/** Why an upgrade is refused before it is accepted (status and text), or whether it is authenticated already. */
function check(deps: LiveEndpointDeps, req: IncomingMessage): { status: string; why: string; reason: string } | { authenticated: boolean } {
  const { host, origin, authorization } = req.headers;
  if (host === undefined) return { status: '400 Bad Request', why: 'A Host header is required.', reason: 'host' };
  if (!deps.hosts.allows(host)) {
    return { status: '421 Misdirected Request', why: `Host "${host}" is not a name of this node; if clients reach it by that name, add it to services.web.hostnames.`, reason: 'host' };
  }
  if (origin !== undefined && !deps.hosts.allows(URL.canParse(origin) && origin !== 'null' ? new URL(origin).host : '')) {
    return { status: '403 Forbidden', why: `Cross-site request refused: Origin ${origin} is not this node.`, reason: 'origin' };
  }
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && OTHER_SITES.has(site)) {
    return { status: '403 Forbidden', why: `Cross-site request refused: Sec-Fetch-Site is ${site}; only this node's own pages may connect.`, reason: 'fetch-site' };
  }
  if (deps.access.tokens.length === 0) return { authenticated: true };
  if (authorization === undefined) return { authenticated: false }; // the token comes in the first message
  const given = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  const refused = given === undefined ? 'Authentication credentials were not provided.' : refuseToken(deps.access, given);
  return refused === undefined ? { authenticated: true } : { status: '401 Unauthorized', why: refused, reason: 'token' };
}

/** Serves the live output websocket on `server` (the web port) at LIVE_PATHS. */
export function attachLiveEndpoint(server: Server, deps: LiveEndpointDeps): LiveEndpoint {
  const { hub, refused, log } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false });
  const alive = new WeakMap<WebSocket, boolean>();
  const warn = throttledWarn(log, 'websocket refused');
  const admit = capUpgrades({
    total: MAX_LIVE_CONNECTIONS,
    perAddress: MAX_PER_ADDRESS,
    what: 'live output websockets',
    refused: (over, address, detail) => refused(over === 'total' ? 'websocket_total' : 'websocket_address', address, detail),
  });
  let closed = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const address = req.socket.remoteAddress ?? '?';
    if (closed) {
      answerUpgrade(socket, '503 Service Unavailable', 'the node is stopping\n');
      return;
    }
    const verdict = check(deps, req);
    if ('status' in verdict) {
      warn(verdict.reason, { path: req.url, remote: address, detail: verdict.why });
      const extra = verdict.status.startsWith('401') ? 'WWW-Authenticate: Bearer realm="overseer"\r\n' : '';
      answerUpgrade(socket, verdict.status, `${JSON.stringify({ detail: verdict.why })}\n`, extra);
      return;
    }
    if (!admit(socket, address)) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      const client = new LiveClient(ws, socket, hub, verdict.authenticated, address);
      hub.join(client);
      ws.once('close', () => hub.leave(client));
    });
  };
  const unroute = routeUpgrade(server, LIVE_PATHS, onUpgrade);

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) !== true) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    close() {
      if (closed) return;
      closed = true;
      unroute();
      clearInterval(heartbeat);
      hub.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
