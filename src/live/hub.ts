// The live output's hub, in the web service (the supervisor's main thread): which websocket client
// follows which group, the Redis channels those groups need (subscribed while someone needs them,
// so that receivers publish nothing nobody reads), and the fan-out of each message to the clients
// of its groups. Messages come from this node's Redis (its own receivers and job writers, or every
// node's on a shared Redis) and, in relay mode, from peers through the relay endpoint.
import type { Redis } from 'ioredis';
import { createRedis } from '../redis/connect.ts';
import { throttledWarn, type Logger } from '../logger.ts';
import type { DropReason } from './drop-reasons.ts';
import { EVENT_GROUP_NAMES, STATUS_GROUP, SUMMARY_GROUP, WORKFLOW_PREFIX, sourceOf } from './groups.ts';
import type { ClientHost, LiveClient } from './live-client.ts';
import { LIVE_JOBS_CHANNEL, decodeLive } from './live-messages.ts';
import type { LiveMetrics } from './live-metrics.ts';
import { JobSequencer } from './sequencer.ts';

/** What this node's clients follow: the peers' relay threads send it just that. */
export interface WatchSet {
  /** Status changes and summaries. */
  readonly jobs: boolean;
  /** Jobs whose events someone follows. */
  readonly events: readonly number[];
}

export interface LiveHubOptions {
  readonly redisUrl: string;
  readonly metrics: LiveMetrics;
  readonly log: Logger;
  /** Why a token is refused, or undefined when it is valid (the tokens change on a config reload). */
  readonly refuseToken: (token: string) => string | undefined;
}

/** The frame of one event for one group: its JSON with group_name added. */
const framed = (json: string, group: string) => `${json.slice(0, -1)},"group_name":"${group}"}`;

export class LiveHub implements ClientHost {
  readonly metrics: LiveMetrics;
  readonly #o: LiveHubOptions;
  readonly #clients = new Set<LiveClient>();
  readonly #groups = new Map<string, Set<LiveClient>>();
  /** How many groups need each channel. */
  readonly #channels = new Map<string, number>();
  readonly #sequencers = new Map<number, JobSequencer>();
  readonly #watchers = new Set<() => void>();
  readonly #subscriber: Redis;
  readonly #warnRedis: (reason: string, fields: Record<string, unknown>) => void;
  readonly #warnDrop: (reason: string, fields: Record<string, unknown>) => void;
  #subscriptions = 0;

  constructor(options: LiveHubOptions) {
    this.#o = options;
    this.metrics = options.metrics;
    this.#warnRedis = throttledWarn(options.log, 'live output: redis subscriber');
    this.#warnDrop = throttledWarn(options.log, 'websocket client dropped');
    this.#subscriber = createRedis(options.redisUrl, 'overseer:live', { maxRetriesPerRequest: null });
    this.#subscriber.on('error', (err: Error) => this.#warnRedis('error', { err }));
    this.#subscriber.on('message', (_channel: string, text: string) => this.deliver(text));
    options.metrics.gauges(() => {
      this.metrics.m.wsConnections.set(this.#clients.size);
      this.metrics.m.wsSubscriptions.set(this.#subscriptions);
    });
  }

  join(client: LiveClient): void {
    this.#clients.add(client);
    this.metrics.m.wsConnections.set(this.#clients.size);
  }

  leave(client: LiveClient): void {
    if (!this.#clients.delete(client)) return;
    this.setGroups(client, []);
    this.metrics.m.wsConnections.set(this.#clients.size);
  }

  setGroups(client: LiveClient, names: readonly string[]): { current: string[]; left: string[]; joined: string[] } {
    const next = new Set(names);
    const left = [...client.groups].filter((n) => !next.has(n));
    const joined = [...next].filter((n) => !client.groups.has(n));
    client.groups = next;
    for (const name of left) {
      const members = this.#groups.get(name);
      members?.delete(client);
      if (members?.size === 0) {
        this.#groups.delete(name);
        this.#release(name);
      }
    }
    for (const name of joined) {
      let members = this.#groups.get(name);
      if (members === undefined) {
        this.#groups.set(name, (members = new Set()));
        this.#acquire(name);
      }
      members.add(client);
    }
    this.#subscriptions += joined.length - left.length;
    this.metrics.m.wsSubscriptions.set(this.#subscriptions);
    if (left.length + joined.length > 0) for (const w of this.#watchers) w();
    return { current: [...next], left, joined };
  }

  refuseToken(token: string): string | undefined {
    return this.#o.refuseToken(token);
  }

  dropped(client: LiveClient, reason: DropReason, why: string): void {
    this.#warnDrop(reason, { remote: client.remote, detail: why });
  }

  /** A live message from Redis or a peer, given to the clients of its groups. */
  deliver(text: string): void {
    const m = decodeLive(text);
    if (m === undefined) return;
    if (m.kind === 'events') this.#sequencers.get(m.jobId)?.add(m.events);
    else if (m.kind === 'status') {
      this.#fanOut(STATUS_GROUP, m.text);
      const wf = m.status.workflow_job_id;
      if (wf !== undefined && this.#groups.has(`${WORKFLOW_PREFIX}${wf}`)) {
        this.#fanOut(`${WORKFLOW_PREFIX}${wf}`, JSON.stringify({ ...m.status, group_name: 'workflow_events' }));
      }
    } else if (this.#groups.has(SUMMARY_GROUP)) {
      const sequencer = this.#sequencers.get(m.summary.unified_job_id);
      if (sequencer === undefined) this.#fanOut(SUMMARY_GROUP, m.text);
      else sequencer.summary(m.summary.final_counter, m.text);
    }
  }

  /** A live message a peer relayed: for this node's clients only, never relayed on. */
  deliverRelayed(text: string): void {
    this.metrics.m.wsRelayedIn.inc();
    this.deliver(text);
  }

  /** What this node's clients follow now. */
  watch(): WatchSet {
    return { jobs: this.#channels.has(LIVE_JOBS_CHANNEL), events: [...this.#sequencers.keys()] };
  }

  /** Calls fn whenever what the clients follow may have changed; returns how to stop. */
  onWatch(fn: () => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  /** Ends every client and the subscriber connection. */
  close(): void {
    for (const c of [...this.#clients]) c.terminate();
    for (const s of this.#sequencers.values()) s.close();
    this.#subscriber.disconnect();
  }

  #fanOut(group: string, text: string): void {
    const members = this.#groups.get(group);
    if (members !== undefined) for (const c of members) c.send(text);
  }

  #acquire(name: string): void {
    const source = sourceOf(name);
    if (source === undefined) return;
    const n = this.#channels.get(source.channel) ?? 0;
    this.#channels.set(source.channel, n + 1);
    if (n > 0) return;
    this.#subscriber.subscribe(source.channel).catch((err: unknown) => this.#warnRedis('subscribe', { err, channel: source.channel }));
    const jobId = source.jobId;
    if (jobId === undefined) return;
    this.#sequencers.set(
      jobId,
      new JobSequencer({
        event: (_counter, json) => {
          for (const g of EVENT_GROUP_NAMES) {
            const members = this.#groups.get(`${g}-${jobId}`);
            if (members === undefined) continue;
            const frame = framed(json, g);
            for (const c of members) c.send(frame);
          }
        },
        summary: (text) => this.#fanOut(SUMMARY_GROUP, text),
      }),
    );
  }

  #release(name: string): void {
    const source = sourceOf(name);
    if (source === undefined) return;
    const n = (this.#channels.get(source.channel) ?? 1) - 1;
    if (n > 0) {
      this.#channels.set(source.channel, n);
      return;
    }
    this.#channels.delete(source.channel);
    this.#subscriber.unsubscribe(source.channel).catch((err: unknown) => this.#warnRedis('unsubscribe', { err, channel: source.channel }));
    if (source.jobId !== undefined) {
      this.#sequencers.get(source.jobId)?.close();
      this.#sequencers.delete(source.jobId);
    }
  }
}
