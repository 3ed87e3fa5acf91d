// The receiving end of the relay (cluster.mode relay): peers open a websocket to RELAY_PATH on
// this node's web port and send their snapshots, signed with the cluster secret. Each one that
// checks out is stored in this node's Redis exactly as the peer stored it in its own, so that
// /api/v2/metrics here answers for the whole cluster.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Redis } from 'ioredis';
import { MAX_FRAME_BYTES, RELAY_PATH, verifyMessage, type RelayRefusal } from './relay-protocol.ts';
import { NODES_KEY, parseSnapshot, snapshotKey, snapshotTtlMs } from './snapshot.ts';
import type { RejectReason } from './snapshot.ts';
import type { Handles } from '../metrics/recorder.ts';
import type { Logger } from '../logger.ts';

/** Refusals on one connection are logged at most this often (the first at once). */
const WARN_EVERY_MS = 60_000;

export interface RelayEndpointDeps {
  readonly secret: string;
  readonly nodeName: string;
  readonly redis: Redis;
  readonly metrics: Handles<'web'>;
  readonly log: Logger;
}

export interface RelayEndpoint {
  /** Stops taking connections, ends the open ones and waits for the writes under way. */
  close(): Promise<void>;
}

const RELAY_PATHS = new Set([RELAY_PATH, RELAY_PATH.replace(/\/+$/, '')]);

function notFound(socket: Duplex): void {
  const body = `not found: the relay websocket is at ${RELAY_PATH}\n`;
  socket.on('error', () => {});
  socket.once('finish', () => socket.destroy());
  socket.end(
    'HTTP/1.1 404 Not Found\r\n' +
      'Connection: close\r\n' +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function frameText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

type Checked =
  | { readonly ok: true; readonly node: string; readonly service: string; readonly text: string; readonly key: string; readonly ttlMs: number; readonly version: string; readonly at: number }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string; readonly node?: string };

/** Checks one frame: signature, then the snapshot inside it. */
function check(deps: RelayEndpointDeps, frame: string, now: number): Checked {
  const verified = verifyMessage(deps.secret, frame, now);
  if ('rejected' in verified) return { ok: false, reason: verified.rejected, detail: verified.detail };
  const { message } = verified;
  const parsed = parseSnapshot(message.snapshot, now);
  if ('rejected' in parsed) return { ok: false, reason: parsed.rejected, detail: parsed.detail, node: message.node };
  const s = parsed.snapshot;
  if (s.node !== message.node) {
    return { ok: false, reason: 'malformed', detail: `snapshot of node ${JSON.stringify(s.node)} sent as node ${JSON.stringify(message.node)}`, node: message.node };
  }
  if (s.node === deps.nodeName) {
    return { ok: false, reason: 'malformed', detail: `a snapshot of this node (${JSON.stringify(s.node)}) came from elsewhere`, node: message.node };
  }
  if (!Number.isSafeInteger(s.interval_ms) || s.interval_ms <= 0) {
    return { ok: false, reason: 'malformed', detail: `interval_ms ${s.interval_ms} is not a positive whole number`, node: message.node };
  }
  return {
    ok: true,
    node: s.node,
    service: s.service,
    text: message.snapshot,
    key: snapshotKey(s.node, s.service),
    ttlMs: snapshotTtlMs(s.interval_ms),
    version: s.version,
    at: s.at,
  };
}

/** Serves the relay websocket on `server` (the web service's listener) at RELAY_PATH. */
export function attachRelayEndpoint(server: Server, deps: RelayEndpointDeps): RelayEndpoint {
  const { redis, metrics, log } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const writes = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (closing !== undefined || !RELAY_PATHS.has(path)) {
      notFound(socket);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const peer = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const connLog = log.child({ relay_peer: peer });
    connLog.info('relay connection opened');
    let warnedAt = -Infinity;
    let refusedSince = 0;

    const refuse = (reason: RejectReason, detail: string, node: string | undefined) => {
      metrics.snapshotsRejected.labels(reason).inc();
      const refusal: RelayRefusal = { rejected: reason };
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(refusal));
      const now = Date.now();
      if (now - warnedAt >= WARN_EVERY_MS) {
        connLog.warn({ reason, detail, from_node: node, refused_since_last_log: refusedSince }, 'relayed snapshot refused');
        warnedAt = now;
        refusedSince = 0;
      } else refusedSince += 1;
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        refuse('malformed', 'binary frame; expected a JSON text frame', undefined);
        return;
      }
      const c = check(deps, frameText(data), Date.now());
      if (!c.ok) {
        refuse(c.reason, c.detail, c.node);
        return;
      }
      const tx = redis.multi();
      tx.set(c.key, c.text, 'PX', c.ttlMs);
      tx.hset(NODES_KEY, c.node, JSON.stringify({ version: c.version, at: c.at }));
      const write = tx.exec().then(
        (results) => {
          const failed = results?.find(([err]) => err !== null)?.[0];
          if (results === null || failed) throw failed ?? new Error('transaction aborted');
          metrics.snapshotsReceived.inc();
        },
      ).catch((err: unknown) => {
        connLog.warn({ err, from_node: c.node, snapshot_service: c.service }, 'cannot store a relayed snapshot');
      }).finally(() => writes.delete(write));
      writes.add(write);
    });
    ws.on('error', (err: Error) => connLog.debug({ err }, 'relay connection error'));
    ws.on('close', (code: number) => connLog.info({ code }, 'relay connection closed'));
  });

  return {
    close() {
      closing ??= (async () => {
        server.off('upgrade', onUpgrade);
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await Promise.allSettled([...writes]);
      })();
      return closing;
    },
  };
}
