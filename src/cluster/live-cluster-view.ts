// The cluster view kept in memory: every stored snapshot decoded once when it changes, so that an
// answer is assembled from what is held instead of reading and parsing every snapshot again.
// Three ways a change comes in:
// - the snapshot channel, while answers are asked for (from the first /api/v2/metrics/ answer until
//   idleAfter without one): every writer publishes each snapshot it stores, whole, in the same
//   transaction; the view takes it in between requests. A node nobody asks for answers does not
//   listen, so the channel's fan-out costs Redis one copy per viewing node, not per node;
// - every read, one round trip: the snapshot keys (SCAN, in list-snapshots.lua) and the node list (whose entry a writer
//   and the relay endpoint update with each snapshot). Keys that appeared are fetched, keys gone are
//   dropped, and a node whose recorded time differs from its snapshots held is fetched again (a
//   missed message, or a peer's snapshot stored by the relay, which publishes nothing);
// - a full re-read every five intervals while listening, for whatever changed a stored snapshot
//   without either (a hand-written key).
// Expiry is judged when a view is cut (EntryStore#viewAt), not when a snapshot is taken in.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { throttledWarn } from '../logger.ts';
import { SERVICES } from '../services/names.ts';
import type { ClusterView } from './cluster-view.ts';
import { EntryStore } from './cluster-entries.ts';
import type { AnswerFormat } from './snapshot-pieces.ts';
import { NODES_KEY, SNAPSHOT_CHANNEL, SNAPSHOT_PATTERN, decodeSnapshot, keyOfText, snapshotKey } from './snapshot.ts';

// Read once, when the module loads: a missing file fails at start.
const LIST_SNAPSHOTS = readFileSync(new URL('./list-snapshots.lua', import.meta.url), 'utf8');
const listing = new WeakSet<Redis>();

/** The connection, with the listing script defined on it (once per connection, as defineCommand wants). */
function withListing(redis: Redis): Redis & { overseerListSnapshots(nodesKey: string, pattern: string): Promise<string> } {
  if (!listing.has(redis)) {
    redis.defineCommand('overseerListSnapshots', { numberOfKeys: 1, lua: LIST_SNAPSHOTS });
    listing.add(redis);
  }
  return redis as Redis & { overseerListSnapshots(nodesKey: string, pattern: string): Promise<string> };
}
/** Keys per MGET in the full re-read: requests get their turn between chunks. */
const REREAD_CHUNK = 64;
/** How long messages are taken in before requests get their turn. */
const SLICE_MS = 2;

/** How often the full re-read runs while the view listens. */
export const rereadEvery = (intervalMs: number) => 5 * intervalMs;
/** How long after the last answer the view stops listening and renders nothing ahead. */
export const idleAfter = (intervalMs: number) => Math.max(300_000, 10 * intervalMs);

export interface LiveClusterViewOptions {
  readonly redis: Redis;
  /** The snapshot interval (the node's own; peers are expected to write as often). */
  readonly intervalMs: number;
  readonly log: Logger;
}

const recordedAt = (raw: string): number | undefined => {
  try {
    const at = (JSON.parse(raw) as { at?: unknown }).at;
    return typeof at === 'number' ? at : undefined;
  } catch {
    return undefined;
  }
};

/** Every node's snapshots, held decoded and rendered, refreshed from Redis as they change. */
export class LiveClusterView {
  readonly #redis: Redis;
  readonly #warn: ReturnType<typeof throttledWarn>;
  readonly #store = new EntryStore();
  /** Per node, the node list's entry as last reconciled. */
  readonly #markers = new Map<string, string>();
  /** Formats answered lately, with when: rendered ahead for every new snapshot. */
  readonly #wanted = new Map<AnswerFormat, number>();
  #queue: string[] = [];
  #intervalMs: number;
  #subscriber: Redis | undefined;
  #drainScheduled: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastReread = 0;
  #rereading: Promise<void> | undefined;
  #closed = false;

  constructor(options: LiveClusterViewOptions) {
    this.#redis = options.redis;
    this.#warn = throttledWarn(options.log, 'cluster view');
    this.#intervalMs = options.intervalMs;
  }

  /** Starts the timer that stops listening when idle and runs the full re-read. */
  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Follows a new snapshot interval (a config reload). */
  setInterval(intervalMs: number): void {
    this.#intervalMs = intervalMs;
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.start();
  }

  /** The view now: one round trip to Redis to catch what the channel did not bring, then cut from memory. */
  async read(now?: number): Promise<ClusterView> {
    await this.#sync();
    return this.#store.viewAt(now ?? Date.now(), (format) => this.#used(format));
  }

  /** Snapshots held, and the bytes they take (texts and rendered pieces). */
  held(): { snapshots: number; bytes: number } {
    let bytes = 0;
    for (const e of this.#store.values()) bytes += e.bytes;
    return { snapshots: this.#store.size, bytes };
  }

  /** Stops listening and the timer; waits for a re-read under way. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unlisten();
    await this.#rereading;
  }

  #used(format: AnswerFormat): void {
    this.#wanted.set(format, Date.now());
    if (this.#subscriber === undefined && !this.#closed) this.#listen();
  }

  #listen(): void {
    const subscriber = this.#redis.duplicate({ connectionName: 'overseer:cluster-view' });
    subscriber.on('error', (err: Error) => this.#warn('subscriber', { err }));
    subscriber.on('message', (channel: string, text: string) => {
      if (channel !== SNAPSHOT_CHANNEL) return;
      this.#queue.push(text);
      this.#drainScheduled ??= setImmediate(() => this.#drain(SLICE_MS));
    });
    subscriber.subscribe(SNAPSHOT_CHANNEL).catch((err: unknown) => this.#warn('subscribe', { err }));
    this.#subscriber = subscriber;
    this.#lastReread = Date.now();
    this.start();
  }

  #unlisten(): void {
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    this.#queue = [];
    clearImmediate(this.#drainScheduled);
    this.#drainScheduled = undefined;
  }

  /** Takes in queued messages for up to budgetMs, then lets requests run. */
  #drain(budgetMs: number): void {
    clearImmediate(this.#drainScheduled);
    this.#drainScheduled = undefined;
    const until = performance.now() + budgetMs;
    let taken = 0;
    while (taken < this.#queue.length) {
      this.#take(this.#queue[taken++] as string);
      if (performance.now() >= until) break;
    }
    this.#queue = taken === this.#queue.length ? [] : this.#queue.slice(taken);
    if (this.#queue.length > 0) this.#drainScheduled = setImmediate(() => this.#drain(SLICE_MS));
  }

  /** One message: a usable snapshot replaces the one held for its key unless that one is newer. */
  #take(text: string): void {
    const known = keyOfText(text);
    if (known !== undefined && this.#store.get(known)?.text === text) return; // a read fetched it first
    const decoded = decodeSnapshot(text);
    // A refused message is not what a key holds: the key is judged when a read or the re-read finds it.
    if (!('snapshot' in decoded)) return;
    const { node, service, at } = decoded.snapshot;
    const key = snapshotKey(node, service);
    const held = this.#store.get(key)?.head;
    if (held !== undefined && held.at > at) return; // delivered after a newer one was fetched
    this.#store.put(key, text, this.#formats(), decoded);
  }

  #formats(): AnswerFormat[] {
    return [...this.#wanted.keys()];
  }

  /** Every snapshot key and the node list's entries, in one round trip. */
  async #list(): Promise<{ keys: Set<string>; nodes: Map<string, string> }> {
    const [found, flat] = JSON.parse(await withListing(this.#redis).overseerListSnapshots(NODES_KEY, SNAPSHOT_PATTERN)) as [unknown, unknown];
    // cjson writes an empty Lua table as {}; SCAN may return a key twice.
    const keys = new Set(Array.isArray(found) ? (found as string[]) : []);
    const nodes = new Map<string, string>();
    if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) nodes.set(flat[i] as string, flat[i + 1] as string);
    return { keys, nodes };
  }

  /**
   * Drops held keys that Redis no longer has, unless taken in after the listing was asked for;
   * returns the listed keys not held.
   */
  #reconcileKeys(present: ReadonlySet<string>, sent: number): string[] {
    const missing: string[] = [];
    for (const key of present) if (this.#store.get(key) === undefined) missing.push(key);
    if (present.size - missing.length === this.#store.size) return missing; // every key held is listed
    for (const key of [...this.#store.keys()]) if (!present.has(key) && (this.#store.get(key)?.seq ?? 0) <= sent) this.#store.delete(key);
    return missing;
  }

  async #fetch(keys: readonly string[], sent: number, chunk: number): Promise<void> {
    for (let i = 0; i < keys.length; i += chunk) {
      const some = keys.slice(i, i + chunk);
      const texts = await this.#redis.mget(...some);
      some.forEach((key, j) => {
        if ((this.#store.get(key)?.seq ?? 0) > sent) return; // a message brought a newer one meanwhile
        const text = texts[j];
        if (typeof text === 'string') this.#store.put(key, text, this.#formats());
        else this.#store.delete(key);
      });
    }
  }

  async #sync(): Promise<void> {
    const sent = this.#store.seq;
    const { keys, nodes } = await this.#list();
    // The announcements of what the listing saw reach the subscriber's socket with this reply, but
    // may be read after it: one turn of the event loop lets them in, so they need not be fetched.
    if (this.#subscriber !== undefined) await new Promise((resolve) => setImmediate(resolve));
    this.#drain(SLICE_MS);
    const fetch = this.#reconcileKeys(keys, sent);
    const reconciled: [string, string][] = [];
    for (const [node, raw] of nodes) {
      if (this.#markers.get(node) === raw) continue;
      reconciled.push([node, raw]);
      // Not only newer: a node whose clock went back writes older times, which a message would not replace.
      const at = recordedAt(raw);
      if (at === undefined || at === this.#store.newestAt(node)) continue;
      for (const service of SERVICES) {
        const key = snapshotKey(node, service);
        if (keys.has(key) && this.#store.get(key) !== undefined) fetch.push(key);
      }
    }
    if (fetch.length > 0) await this.#fetch(fetch, sent, fetch.length);
    for (const [node, raw] of reconciled) this.#markers.set(node, raw);
    for (const node of this.#markers.keys()) if (!nodes.has(node)) this.#markers.delete(node);
  }

  async #reread(): Promise<void> {
    const sent = this.#store.seq;
    const { keys } = await this.#list();
    this.#reconcileKeys(keys, sent);
    await this.#fetch([...keys], sent, REREAD_CHUNK);
  }

  #tick(): void {
    const now = Date.now();
    for (const [format, at] of this.#wanted) if (now - at > idleAfter(this.#intervalMs)) this.#wanted.delete(format);
    if (this.#wanted.size === 0) {
      this.#unlisten();
      return;
    }
    if (this.#subscriber === undefined || this.#rereading !== undefined || now - this.#lastReread < rereadEvery(this.#intervalMs)) return;
    this.#lastReread = now;
    this.#rereading = this.#reread()
      .catch((err: unknown) => this.#warn('reread', { err }))
      .finally(() => (this.#rereading = undefined));
  }
}
