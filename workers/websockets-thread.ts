// The websockets service thread: relays this node's metric snapshots to its peers (cluster.mode
// relay). It listens on the local Redis for the snapshots the supervisor announces, signs each of
// this node's own and sends it over one websocket per peer to the peer's web service, which
// stores it in the peer's Redis (src/cluster/relay-endpoint.ts). On the same websockets it relays
// the live job output of this node's jobs that each peer's clients follow (src/live/relay-live.ts).
import { once } from 'node:events';
import { threadId, workerData } from 'node:worker_threads';
import { WebSocket } from 'undici';
import { threadMetrics } from './thread-metrics.ts';
import { waitForStop } from './service-loop.ts';
import { stopSignal, type LoopTask } from '../src/task-messages.ts';
import type { RelaySettings } from '../src/services/websockets.ts';
import { createRedis } from '../src/redis/connect.ts';
import { createLogger, followLevel, type Logger } from '../src/logger.ts';
import { SNAPSHOT_CHANNEL } from '../src/cluster/snapshot.ts';
import { LIVE_MAGIC, MAX_FRAME_BYTES, RELAY_PATH, signFrame, signLiveFrame, verifyLiveFrame } from '../src/cluster/relay-protocol.ts';
import type { Handles } from '../src/metrics/recorder.ts';
import { HELLO, channelsOf, decodeWatch } from '../src/live/relay-live.ts';
import { LiveForwarder, type LiveLink } from '../src/live/relay-forwarder.ts';

const settings = workerData as RelaySettings;
const peerNames = settings.peers.map((p) => p.name);

export const metrics = threadMetrics('websockets', peerNames);
const log = createLogger('info', { node: settings.nodeName, service: 'websockets', thread: threadId });
followLevel(log, settings.logLevel);

/** First reconnection delay; it doubles with each failed attempt up to RECONNECT_MAX_MS. */
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** ± this fraction of random spread on each delay, so that peers do not retry in step. */
const JITTER = 0.2;
/** A socket with more than this waiting to be sent gets no more snapshots until it drains. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** The live output may burst (a batch of events): it is dropped past this much waiting to be sent. */
const MAX_LIVE_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Repeated warnings about one peer (refusals, failed connections) are logged at most this often. */
const WARN_EVERY_MS = 60_000;
/** On stop, how long to wait for the peers to answer the closing handshake. */
const CLOSE_WAIT_MS = 1_000;

/** The websocket URL of a peer's relay endpoint: http(s) becomes ws(s), RELAY_PATH is appended. */
export function relayUrl(peerUrl: string): string {
  const u = new URL(peerUrl);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${RELAY_PATH}`;
  u.search = '';
  u.hash = '';
  return u.href;
}

/** One peer: its websocket, kept open with reconnection and backoff. */
class PeerLink implements LiveLink {
  readonly name: string;
  readonly url: string;
  /** The live channels the peer's clients follow (its last watch message; none while disconnected). */
  channels: ReadonlySet<string> = new Set();
  /** Called when `channels` changes. */
  onWatch: () => void = () => {};
  #watchAt = -Infinity;
  readonly #metrics: Handles<'websockets'>;
  readonly #log: Logger;
  #ws: WebSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Set once the first connection was lost or failed: every attempt after that is a reconnection. */
  #lost = false;
  /** Failed attempts since the last open connection (decides the backoff). */
  #failures = 0;
  #refusedLoggedAt = -Infinity;
  #refusedSince = 0;
  #failLoggedAt = -Infinity;
  #failedSince = 0;

  constructor(name: string, url: string, metrics: Handles<'websockets'>, log: Logger) {
    this.name = name;
    this.url = url;
    this.#metrics = metrics;
    this.#log = log.child({ peer: name });
  }

  connect(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    if (this.#lost) this.#metrics.relayReconnects.labels(this.name).inc();
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.#failed(err instanceof Error ? err.message : String(err));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    let opened = false;
    let error = '';
    ws.addEventListener('open', () => {
      if (this.#ws !== ws) return;
      opened = true;
      this.#failures = 0;
      this.#metrics.relayConnected.labels(this.name).set(1);
      this.#log.info({ url: this.url, reconnection: this.#lost }, 'relay peer connected');
      // The peer answers with what its clients follow (src/live/relay-peer.ts).
      ws.send(signLiveFrame(settings.secret, settings.nodeName, HELLO));
      this.#failedSince = 0;
      this.#failLoggedAt = -Infinity;
    });
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') this.#answer(ev.data);
    });
    ws.addEventListener('error', (ev) => {
      error = ev.message || (ev.error instanceof Error ? ev.error.message : '') || 'websocket error';
    });
    ws.addEventListener('close', (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#metrics.relayConnected.labels(this.name).set(0);
      this.#setWatch(new Set(), -Infinity);
      if (this.#closed) return;
      if (opened) {
        this.#log.warn({ code: ev.code, reason: ev.reason || undefined, error: error || undefined }, 'relay peer connection lost');
        this.#lost = true;
        this.#schedule();
      } else {
        this.#failed(error || `closed with code ${ev.code}`);
      }
    });
  }

  /** Sends one signed frame if the socket is open and not backed up; else counts a drop. */
  send(frame: string, bytes: number): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_BUFFERED_BYTES || bytes > MAX_FRAME_BYTES) {
      this.#metrics.relayDropped.labels(this.name).inc();
      return;
    }
    ws.send(frame);
    this.#metrics.relayMessages.labels(this.name).inc();
    this.#metrics.relayBytes.labels(this.name).inc(bytes);
  }

  /** Signs and sends one live output body, unless the peer is not connected or is backed up. */
  sendLive(body: string): void {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_LIVE_BUFFERED_BYTES) {
      this.#metrics.relayLiveDropped.labels(this.name).inc();
      return;
    }
    const frame = signLiveFrame(settings.secret, settings.nodeName, body);
    ws.send(frame);
    this.#metrics.relayLiveMessages.labels(this.name).inc();
    this.#metrics.relayBytes.labels(this.name).inc(Buffer.byteLength(frame));
  }

  dropLive(n: number): void {
    this.#metrics.relayLiveDropped.labels(this.name).inc(n);
  }

  /** Closes the socket and stops reconnecting; resolves when it has closed (or after a while). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const ws = this.#ws;
    this.#ws = undefined;
    this.#metrics.relayConnected.labels(this.name).set(0);
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    const closed = once(ws, 'close', { signal: AbortSignal.timeout(CLOSE_WAIT_MS) }).catch(() => {});
    ws.close(1000, 'node stopping'); // a browser-API websocket may only send 1000 or 3000-4999
    await closed;
  }

  /** A watch message from the peer (signed with the cluster secret, in order): the channels to follow for it. */
  #watch(text: string): void {
    const v = verifyLiveFrame(settings.secret, Buffer.from(text));
    const watch = 'message' in v && v.message.node === this.name ? decodeWatch(v.message.snapshot) : undefined;
    if (watch === undefined || !('message' in v)) {
      this.#log.debug({ answer: text.slice(0, 200) }, 'unusable live frame from relay peer');
      return;
    }
    if (v.message.ts < this.#watchAt) return; // an older one, replayed
    this.#setWatch(new Set(channelsOf(watch)), v.message.ts);
  }

  #setWatch(channels: ReadonlySet<string>, at: number): void {
    this.#watchAt = at;
    const same = channels.size === this.channels.size && [...channels].every((c) => this.channels.has(c));
    this.channels = channels;
    if (!same) this.onWatch();
  }

  /** What the peer sent back: refusals, and what its clients follow. */
  #answer(text: string): void {
    if (text.startsWith(LIVE_MAGIC)) {
      this.#watch(text);
      return;
    }
    let rejected: unknown;
    try {
      rejected = (JSON.parse(text) as { rejected?: unknown }).rejected;
    } catch {
      rejected = undefined;
    }
    if (typeof rejected !== 'string') {
      this.#log.debug({ answer: text.slice(0, 200) }, 'unexpected message from relay peer');
      return;
    }
    this.#metrics.relayRejected.labels(this.name).inc();
    const now = Date.now();
    if (now - this.#refusedLoggedAt >= WARN_EVERY_MS) {
      this.#log.warn({ reason: rejected, refused_since_last_log: this.#refusedSince }, 'relay peer refused a snapshot');
      this.#refusedLoggedAt = now;
      this.#refusedSince = 0;
    } else this.#refusedSince += 1;
  }

  #failed(why: string): void {
    this.#ws = undefined;
    this.#lost = true;
    this.#failures += 1;
    const retryMs = this.#schedule();
    const now = Date.now();
    if (now - this.#failLoggedAt >= WARN_EVERY_MS) {
      this.#log.warn({ url: this.url, error: why, retry_in_ms: retryMs, failed_since_last_log: this.#failedSince }, 'cannot connect to relay peer');
      this.#failLoggedAt = now;
      this.#failedSince = 0;
    } else {
      this.#failedSince += 1;
      this.#log.debug({ url: this.url, error: why, retry_in_ms: retryMs }, 'cannot connect to relay peer');
    }
  }

  #schedule(): number {
    const base = Math.min(RECONNECT_FIRST_MS * 2 ** Math.max(0, this.#failures - 1), RECONNECT_MAX_MS);
    const wait = Math.round(base * (1 - JITTER + Math.random() * 2 * JITTER));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.connect(), wait);
    return wait;
  }
}

/** The node a snapshot announced on the channel belongs to, or undefined when it is not a snapshot. */
function nodeOf(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as { node?: unknown } | null;
    return typeof v === 'object' && v !== null && typeof v.node === 'string' ? v.node : undefined;
  } catch {
    return undefined;
  }
}

/** The relay loop (piscina task `loop`): runs until the supervisor stops it. */
export async function loop(task: LoopTask): Promise<void> {
  for (const name of peerNames) metrics.relayConnected.labels(name).set(0);
  if (settings.mode !== 'relay' || settings.peers.length === 0) {
    await waitForStop(task);
    return;
  }
  const signal = stopSignal(task.stop);
  const slotLog = log.child({ slot: task.slot });
  const links = settings.peers.map((p) => new PeerLink(p.name, relayUrl(p.url), metrics, slotLog));
  const subscriber = createRedis(settings.redisUrl, `overseer:relay:${task.slot}`, { maxRetriesPerRequest: null });
  let redisWarnedAt = -Infinity;
  const redisWarn = (err: unknown) => {
    const now = Date.now();
    if (now - redisWarnedAt >= WARN_EVERY_MS) {
      redisWarnedAt = now;
      slotLog.warn({ err }, 'relay: redis subscriber connection error');
    }
  };
  subscriber.on('error', redisWarn);
  const live = new LiveForwarder(subscriber, links, redisWarn);
  for (const link of links) link.onWatch = () => live.update();
  // Runs for every snapshot the supervisor announces and every live message followed: nothing here waits on a peer.
  subscriber.on('message', (channel: string, text: string) => {
    if (live.has(channel)) {
      live.forward(channel, text);
      return;
    }
    if (channel !== SNAPSHOT_CHANNEL || nodeOf(text) !== settings.nodeName) return;
    const frame = signFrame(settings.secret, settings.nodeName, text);
    const bytes = Buffer.byteLength(frame);
    for (const link of links) link.send(frame, bytes);
  });
  const stopped = signal.aborted ? Promise.resolve() : once(signal, 'abort').then(() => undefined);
  try {
    const subscribed = (async () => {
      await subscriber.connect();
      await subscriber.subscribe(SNAPSHOT_CHANNEL);
    })();
    subscribed.catch(() => {}); // when the stop comes first; else the race below throws it
    await Promise.race([subscribed, stopped]);
    if (!signal.aborted) {
      for (const link of links) link.connect();
      slotLog.info({ peers: links.map((l) => ({ name: l.name, url: l.url })) }, 'relaying snapshots to peers');
      await stopped;
    }
  } finally {
    await Promise.all(links.map((l) => l.close()));
    subscriber.disconnect();
  }
}
