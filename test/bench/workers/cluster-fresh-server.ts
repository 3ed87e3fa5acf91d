// The cluster view's previous design serving /api/v2/metrics/, in a process of its own so that its
// latency and RSS are measured apart from the node's: every request reads every snapshot from Redis
// (SCAN + MGET), parses the texts it has not seen, merges and renders through prom-client.
// Usage: node cluster-fresh-server.ts <redis-url>; prints {"port": N} once listening.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { FreshReader, freshAnswer } from '../../helpers/cluster-fresh-read.ts';
import { SERVICES, type ServiceName } from '../../../src/services/names.ts';

const redis = new Redis(process.argv[2] as string);
const reader = new FreshReader(redis);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const service = url.searchParams.get('service') ?? undefined;
  const filter = {
    nodes: new Set(url.searchParams.getAll('node')),
    metrics: new Set(url.searchParams.getAll('metric')),
    service: SERVICES.includes(service as ServiceName) ? (service as ServiceName) : undefined,
  };
  const format = url.searchParams.get('format') === 'json' ? 'json' : req.headers.accept?.includes('application/openmetrics-text') ? 'openmetrics' : 'text';
  reader
    .read()
    .then((view) => freshAnswer(view, filter, format))
    .then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  redis.disconnect();
});
