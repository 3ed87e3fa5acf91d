// The receiving end of the relay (cluster.mode relay): peers open a websocket to RELAY_PATH on
// this node's web port and send their snapshots, signed with the cluster secret. Each one that
// checks out is stored in this node's Redis exactly as the peer stored it in its own, so that
// /api/v2/metrics here answers for the whole cluster. The same connection carries the live job
// output (src/live/relay-peer.ts): this node says what its websocket clients follow, the peer
// sends those live messages, signed likewise; they are refused and counted as snapshots are.
//
// Anyone who reaches the web port can open this websocket, so what a stranger costs is bounded:
// connections per remote address and in all (refused at the upgrade), frames of MAX_FRAME_BYTES
// (ws closes the connection on a larger one from its length field, before reading it), the HMAC
// checked on the raw bytes before anything is parsed, and a connection closed after
// MAX_REFUSED_IN_A_ROW refusals. A signed frame is accepted only if its snapshot is newer than the
// newest accepted of that node and service, so a replay cannot roll a peer's counters back.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Redis } from 'ioredis';
import { MAX_FRAME_BYTES, RELAY_PATH, isLiveFrame, verifyFrame, type RelayRefusal } from './relay-protocol.ts';
import { NODES_KEY, parseSnapshot, snapshotKey, snapshotTtlMs } from './snapshot.ts';
import type { RejectReason } from './reject-reasons.ts';
import type { Handles } from '../metrics/recorder.ts';
import type { RefusalCounter } from '../web/connection-limits.ts';
import { throttledWarn, type Logger } from '../logger.ts';
import { answerUpgrade as answer, capUpgrades, routeUpgrade } from '../live/upgrade-router.ts';
import { LivePeer } from '../live/relay-peer.ts';
import { liveSideOf } from '../live/relay-side.ts';

/** Relay connections from one remote address at once (a peer needs one). */
export const MAX_PER_ADDRESS = 4;
/** Relay connections at once, from everyone. */
export const MAX_RELAY_CONNECTIONS = 64;
/** Refused frames in a row after which the connection is closed (1008). */
export const MAX_REFUSED_IN_A_ROW = 10;

export interface RelayEndpointDeps {
  readonly secret: string;
  readonly nodeName: string;
  readonly redis: Redis;
  readonly metrics: Handles<'web'>;
  /** Counts and logs an upgrade refused over the connection caps. */
  readonly refused: RefusalCounter;
  readonly log: Logger;
}

export interface RelayEndpoint {
  /** Stops taking connections, ends the open ones and waits for the writes under way. */
  close(): Promise<void>;
}


function frameBytes(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return data;
}

type Checked =
  | { readonly ok: true; readonly node: string; readonly service: string; readonly text: string; readonly key: string; readonly ttlMs: number; readonly version: string; readonly at: number }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string; readonly node?: string };

/** Checks one frame: the signature on its raw bytes, then the snapshot inside it. */
function check(deps: RelayEndpointDeps, frame: Buffer, now: number): Checked {
  const verified = verifyFrame(deps.secret, frame, now);
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
  return { ok: true, node: s.node, service: s.service, text: message.snapshot, key: snapshotKey(s.node, s.service), ttlMs: snapshotTtlMs(s.interval_ms), version: s.version, at: s.at };
}

/**
 * The newest snapshot time accepted per node and service; the first frame of each is compared with
 * what Redis holds, so that a restart of this node does not open a window for replays.
 */
class NewestSeen {
  readonly #at = new Map<string, number>();
  readonly #seeds = new Map<string, Promise<void>>();
  readonly #redis: Redis;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /** Whether a snapshot taken at `at` is newer than every one accepted under `key`; if so it becomes the newest. */
  async claim(key: string, at: number): Promise<boolean> {
    if (!this.#at.has(key)) await this.#seed(key);
    // Compared and set with no await in between: of two frames in flight, only the newer wins.
    if (at <= (this.#at.get(key) ?? -Infinity)) return false;
    this.#at.set(key, at);
    return true;
  }

  #seed(key: string): Promise<void> {
    let seed = this.#seeds.get(key);
    if (seed === undefined) {
      seed = this.#redis.get(key).then(
        (text) => {
          let stored: unknown;
          try {
            stored = text === null ? undefined : (JSON.parse(text) as { at?: unknown }).at;
          } catch {
            stored = undefined;
          }
          if (!this.#at.has(key)) this.#at.set(key, typeof stored === 'number' ? stored : -Infinity);
          this.#seeds.delete(key);
        },
        () => {
          this.#seeds.delete(key); // Redis will answer again; the write itself reports the failure
        },
      );
      this.#seeds.set(key, seed);
    }
    return seed;
  }
}

/** Serves the relay websocket on `server` (the web service's listener) at RELAY_PATH. */
export function attachRelayEndpoint(server: Server, deps: RelayEndpointDeps): RelayEndpoint {
  const { redis, metrics, log, refused } = deps;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const writes = new Set<Promise<void>>();
  const newest = new NewestSeen(redis);
  const admit = capUpgrades({
    total: MAX_RELAY_CONNECTIONS,
    perAddress: MAX_PER_ADDRESS,
    what: 'relay connections',
    refused: (over, address, detail) => refused(over === 'total' ? 'relay_total' : 'relay_address', address, detail),
  });
  let closing: Promise<void> | undefined;

  const warn = throttledWarn(log, 'relayed snapshot refused');
  const rejected = (reason: RejectReason, detail: string, fields: Record<string, unknown>) => {
    metrics.snapshotsRejected.labels(reason).inc();
    warn(reason, { detail, ...fields });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (closing !== undefined) {
      answer(socket, '503 Service Unavailable', 'the node is stopping\n');
      return;
    }
    const address = req.socket.remoteAddress ?? '?';
    if (!admit(socket, address)) return;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  const unroute = routeUpgrade(server, [RELAY_PATH], onUpgrade);

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const peer = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const connLog = log.child({ relay_peer: peer });
    connLog.info('relay connection opened');
    let inARow = 0;
    // The live job output on the same connection (src/live/relay-peer.ts): the hub of this port, if any.
    const live = new LivePeer(ws, { secret: deps.secret, nodeName: deps.nodeName, side: liveSideOf(server) });

    const refuse = (reason: RejectReason, detail: string, node: string | undefined) => {
      rejected(reason, detail, { relay_peer: peer, from_node: node });
      const refusal: RelayRefusal = { rejected: reason };
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(refusal));
      inARow += 1;
      if (inARow >= MAX_REFUSED_IN_A_ROW) {
        connLog.info({ refused_in_a_row: inARow }, 'relay connection closed after repeated refusals');
        ws.close(1008, 'too many refused snapshots');
      }
    };

    const store = (c: Extract<Checked, { ok: true }>) => {
      const tx = redis.multi();
      tx.set(c.key, c.text, 'PX', c.ttlMs);
      tx.hset(NODES_KEY, c.node, JSON.stringify({ version: c.version, at: c.at }));
      const write = tx
        .exec()
        .then((results) => {
          const failed = results?.find(([err]) => err !== null)?.[0];
          if (results === null || failed) throw failed ?? new Error('transaction aborted');
          metrics.snapshotsReceived.inc();
        })
        .catch((err: unknown) => {
          connLog.warn({ err, from_node: c.node, snapshot_service: c.service }, 'cannot store a relayed snapshot');
        })
        .finally(() => writes.delete(write));
      writes.add(write);
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        refuse('malformed', 'binary frame; expected a text frame', undefined);
        return;
      }
      const frame = frameBytes(data);
      if (isLiveFrame(frame)) {
        const refusal = live.receive(frame);
        if (refusal === undefined) inARow = 0;
        else refuse(refusal.reason, refusal.detail, refusal.node);
        return;
      }
      const c = check(deps, frame, Date.now());
      if (!c.ok) {
        refuse(c.reason, c.detail, c.node);
        return;
      }
      void newest.claim(c.key, c.at).then((isNewer) => {
        if (!isNewer) {
          refuse('replay', `snapshot of ${c.service} taken at ${c.at} is not newer than one already accepted`, c.node);
          return;
        }
        inARow = 0;
        store(c);
      });
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        rejected('oversized', `a frame over ${MAX_FRAME_BYTES} bytes; connection closed`, { relay_peer: peer });
        // ws has sent its close (1009); ending the socket now spares reading (and dropping) the rest of the frame.
        ws.terminate();
      } else connLog.debug({ err }, 'relay connection error');
    });
    ws.on('close', (code: number) => {
      live.close();
      connLog.info({ code }, 'relay connection closed');
    });
  });

  return {
    close() {
      closing ??= (async () => {
        unroute();
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await Promise.allSettled([...writes]);
      })();
      return closing;
    },
  };
}
