import { createServer, type Server } from 'node:http';
import type { ServiceExposition } from '../metrics/exposition.ts';
import type { Logger } from '../logger.ts';
import { HTTP_OPTIONS, MAX_CONNECTIONS, MAX_PER_ADDRESS, limitConnections, refusalCounter, type RefusalCounter } from './connection-limits.ts';

export { KEEP_ALIVE_MS } from './connection-limits.ts';

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

const FAILED = Buffer.from('metrics collection failed\n');
const noRelease = () => {};

/** renderMetrics() as pooled bytes: release() once the response is written (see buffer-pool.ts). */
async function renderBytes(exposition: ServiceExposition, accept: string | undefined, log: Logger): Promise<{ status: 200 | 500; contentType: string; body: Buffer; release(): void }> {
  try {
    const { contentType, body, release } = await exposition.renderBytes(accept);
    return { status: 200, contentType, body, release };
  } catch (err) {
    log.error({ err }, 'metrics collection failed');
    return { status: 500, contentType: 'text/plain', body: FAILED, release: noRelease };
  }
}

/**
 * What GET /metrics answers: every family, Prometheus text or OpenMetrics by Accept; 500 when
 * collecting fails. The body is bytes of its own (copied out of the pool: the caller, the web port,
 * cannot say when they are written), never a string: no text to encode at each scrape.
 */
export async function renderMetrics(exposition: ServiceExposition, accept: string | undefined, log: Logger): Promise<{ status: 200 | 500; contentType: string; body: Buffer }> {
  const { status, contentType, body, release } = await renderBytes(exposition, accept, log);
  const own = Buffer.allocUnsafeSlow(body.length);
  body.copy(own);
  release();
  return { status, contentType, body: own };
}

/**
 * The HTTP listener of a service without an API: GET /metrics only, with the connection limits of
 * connection-limits.ts; `refused` counts what it refuses (by default only logged).
 */
export function createMetricsServer(exposition: ServiceExposition, log: Logger, refused: RefusalCounter = refusalCounter(log, () => {})): Server {
  const server = createServer(HTTP_OPTIONS, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    void renderBytes(exposition, req.headers.accept, log).then(({ status, contentType, body, release }) => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
      if (req.method === 'HEAD') {
        release();
        res.end();
      } else res.end(body, release); // called once the bytes are written out; never if the connection breaks first
    });
  });
  limitConnections(server, { total: MAX_CONNECTIONS.metrics, perAddress: MAX_PER_ADDRESS.metrics }, refused, true);
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
