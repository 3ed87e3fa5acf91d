// What every port of a node takes from a client before it stops listening to it: a capped number
// of connections, headers within seconds and a whole request within half a minute. Whatever a port
// refuses or cuts short is counted (overseer_connections_refused_total{service,reason}) and logged,
// each reason at most once per WARN_EVERY_MS. Without these, half-sent requests fill the process's
// file descriptors and every port stops answering, with nothing logged.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { throttledWarn, type Logger } from '../logger.ts';

/** Why a port refused or closed a connection. */
export const CONNECTION_REFUSALS = ['max_connections', 'per_address', 'timeout', 'malformed', 'body_after_refusal', 'relay_address', 'relay_total', 'websocket_address', 'websocket_total'] as const;
export type ConnectionRefusal = (typeof CONNECTION_REFUSALS)[number];

/** Longer than Prometheus' idle connection reuse (an idle keep-alive connection is not subject to the header timeout). */
export const KEEP_ALIVE_MS = 65_000;
/** A request's headers must arrive within this long of its first byte (or of the connection, for a first request). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A whole request, body included, must arrive within this long. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often node:http looks for requests past those timeouts (its default, 30 s, would let them linger). */
export const CHECK_INTERVAL_MS = 1_000;
/**
 * Open connections: per port (the web port's API and page; a metrics port that only Prometheus
 * should reach), and per client address, so that one client cannot take every slot of a port.
 */
export const MAX_CONNECTIONS = { web: 512, metrics: 64 } as const;
export const MAX_PER_ADDRESS = { web: 64, metrics: 16 } as const;
/** After a refusal answered before its body was read, how long the body may keep coming before the socket is destroyed. */
export const BODY_AFTER_REFUSAL_MS = 1_000;


/** The node:http options that carry the timeouts (headersTimeout must not exceed requestTimeout). */
export const HTTP_OPTIONS = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionsCheckingInterval: CHECK_INTERVAL_MS,
} as const;

/** Counts and logs (rate-limited, per reason) what one port refuses. */
export type RefusalCounter = (reason: ConnectionRefusal, remote: string | undefined, detail: string) => void;

/** A RefusalCounter that calls `count` for each refusal and warns at most once per reason every WARN_EVERY_MS (src/logger.ts). */
export function refusalCounter(log: Logger, count: (reason: ConnectionRefusal) => void): RefusalCounter {
  const warn = throttledWarn(log, 'connection refused');
  return (reason, remote, detail) => {
    count(reason);
    warn(reason, { remote, detail });
  };
}

const STATUS: Readonly<Record<string, string>> = { 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 400: 'Bad Request' };

/**
 * The 'clientError' handler: counts timeouts and malformed requests, then answers as node:http
 * would on its own (408, 431 or 400) and closes the socket. A reset by the client is not a refusal.
 */
export function clientErrorHandler(refused: RefusalCounter): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = timeout ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    refused(timeout ? 'timeout' : 'malformed', (socket as Duplex & { remoteAddress?: string }).remoteAddress, timeout ? 'headers or body too slow' : (err.code ?? err.message));
    if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
}

/** Caps a listener's connections, in all and per client address, and counts what it refuses; the other timeouts come with HTTP_OPTIONS at creation. */
export function limitConnections(server: Server, limits: { readonly total: number; readonly perAddress: number }, refused: RefusalCounter, withClientErrors: boolean): void {
  const { total: maxConnections, perAddress } = limits;
  server.maxConnections = maxConnections;
  const open = new Map<string, number>();
  server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
    const address = socket.remoteAddress ?? '';
    const n = open.get(address) ?? 0;
    if (n >= perAddress) {
      refused('per_address', address, `over ${perAddress} open connections from one address`);
      socket.destroy();
      return;
    }
    open.set(address, n + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.on('drop', (data?: { remoteAddress?: string }) => refused('max_connections', data?.remoteAddress, `over ${maxConnections} open connections`));
  if (withClientErrors) server.on('clientError', clientErrorHandler(refused));
}

/**
 * An answer is going out before the request's body was read (a refusal): the connection closes
 * after it, and a body that keeps coming past BODY_AFTER_REFUSAL_MS has its socket destroyed,
 * so a trickled body cannot hold the connection for the request timeout.
 */
export function closeUnreadBody(req: IncomingMessage, res: ServerResponse, refused: RefusalCounter): void {
  if (req.complete) return;
  if (!res.headersSent) res.setHeader('connection', 'close');
  const socket = req.socket;
  res.once('finish', () => {
    const timer = setTimeout(() => {
      if (socket.destroyed) return;
      refused('body_after_refusal', socket.remoteAddress, 'the body kept coming after the answer');
      socket.destroy();
    }, BODY_AFTER_REFUSAL_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });
}
