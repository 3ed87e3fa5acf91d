import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ServiceExposition } from '../metrics/exposition.ts';
import type { Logger } from '../logger.ts';

/** Why a listener could not bind, phrased as a config problem naming the key. */
export function bindProblem(service: string, bind: string, port: number, err: NodeJS.ErrnoException): string {
  const key = `services.${service}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${key}.port: ${port} on ${bind} is already in use; expected a free port (stop what holds it, or choose another port)`;
    case 'EACCES':
      return `${key}.port: ${port} on ${bind} is not allowed for this user; expected a port above 1023, or the right to bind low ports`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${key}.bind: "${bind}" is not an address of this machine; expected 127.0.0.1, 0.0.0.0 or one of its own addresses`;
    default:
      return `${key}: cannot listen on ${bind}:${port} (${err.code ?? err.message})`;
  }
}

/**
 * The HTTP listener of one service: GET /metrics, Prometheus text or OpenMetrics by Accept. An
 * `api` handler sees each request first; what it declines (resolves false) goes to /metrics.
 */
export function createMetricsServer(
  exposition: ServiceExposition,
  log: Logger,
  api?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>,
): Server {
  const serveMetrics = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    exposition.render(req.headers.accept).then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  };
  const server = createServer((req, res) => {
    if (api === undefined) {
      serveMetrics(req, res);
      return;
    }
    api(req, res).then(
      (handled) => {
        if (!handled) serveMetrics(req, res);
      },
      (err: unknown) => {
        log.error({ err, method: req.method, url: req.url }, 'api request failed');
        // The handler normally answers before it rejects; if it did not, the client must not hang.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
        else if (!res.writableEnded) res.destroy();
      },
    );
  });
  server.keepAliveTimeout = 65_000; // longer than Prometheus' idle connection reuse
  return server;
}

/** Listens; resolves with the server, or rejects with the bind error. */
export function listen(server: Server, bind: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host: bind, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** Stops accepting and closes every connection; idempotent. */
export function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
