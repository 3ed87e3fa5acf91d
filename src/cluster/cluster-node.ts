// This node's part in the cluster: it writes its snapshots, reads everyone's (counting each bad
// one once), answers for the snapshot ages and for who it is (overseer_info), and in relay mode
// accepts its peers' snapshots.
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import type { ServiceName } from '../services/names.ts';
import type { FamilySource } from '../metrics/exposition.ts';
import type { Handles } from '../metrics/recorder.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import type { Logger } from '../logger.ts';
import type { RefusalCounter } from '../web/connection-limits.ts';
import { attachRelayEndpoint } from './relay-endpoint.ts';
import { listInstances, type ClusterView, type Instance } from './cluster-view.ts';
import { LiveClusterView } from './live-cluster-view.ts';
import { SnapshotWriter } from './snapshot-writer.ts';

export interface ClusterNodeOptions {
  readonly config: Config;
  readonly version: string;
  readonly redis: Redis;
  /** What each service's port serves: its snapshots hold the same. */
  readonly sources: ReadonlyMap<ServiceName, readonly FamilySource[]>;
  readonly web: ServiceMetrics<'web'>;
  readonly own: Handles<'web'>;
  readonly webServer: Server;
  /** Counts and logs a connection the web port refused (the relay's upgrades over its caps). */
  readonly refused: RefusalCounter;
  readonly log: Logger;
}

/** Snapshots out, everyone's snapshots in. */
export class ClusterNode {
  readonly #o: ClusterNodeOptions;
  readonly #reader: LiveClusterView;
  readonly #writer: SnapshotWriter;
  readonly #rejectedSeen = new Map<string, string>();
  #relay: { close(): Promise<void> } | undefined;

  constructor(options: ClusterNodeOptions) {
    this.#o = options;
    const { config, redis, version, sources, own, log } = options;
    this.#reader = new LiveClusterView({ redis, intervalMs: config.snapshot_interval_ms, log });
    this.#writer = new SnapshotWriter({ redis, node: config.node_name, version, intervalMs: config.snapshot_interval_ms, sources, metrics: own, log });
    own.snapshotInterval.set(config.snapshot_interval_ms / 1000);
    const info = [{ labels: { version, node: config.node_name }, value: 1 }];
    options.web.provide('info', async () => info);
    options.web.provide('snapshotAge', async () => {
      const now = Date.now();
      const newest = new Map<string, number>();
      for (const s of (await this.view()).snapshots) newest.set(s.node, Math.max(newest.get(s.node) ?? 0, s.at));
      return [...newest].map(([node, at]) => ({ labels: { node }, value: Math.max(0, (now - at) / 1000) }));
    });
  }

  /** Accepts peers' snapshots (relay mode) and starts writing this node's. */
  start(): void {
    const { config, redis, own, webServer, refused, log } = this.#o;
    if (config.cluster.mode === 'relay') {
      this.#relay = attachRelayEndpoint(webServer, { secret: config.cluster.secret, nodeName: config.node_name, redis, metrics: own, refused, log: log.child({ service: 'web' }) });
    }
    this.#writer.start();
    this.#reader.start();
  }

  /** Every snapshot in Redis now; each rejected one is counted and logged once, however often it is read. */
  async view(): Promise<ClusterView> {
    const view = await this.#reader.read();
    for (const r of view.rejected) {
      if (this.#rejectedSeen.get(r.key) === r.fingerprint) continue;
      this.#rejectedSeen.set(r.key, r.fingerprint);
      this.#o.own.snapshotsRejected.labels(r.reason).inc();
      this.#o.log.warn({ key: r.key, reason: r.reason, detail: r.detail }, 'snapshot left out of the cluster metrics');
    }
    return view;
  }

  /** Every node seen, with its status. */
  async instances(): Promise<Instance[]> {
    return listInstances(this.#o.redis, await this.view());
  }

  /** Writes this node's snapshots every intervalMs from now on (a config reload). */
  setSnapshotInterval(intervalMs: number): void {
    this.#writer.setInterval(intervalMs);
    this.#reader.setInterval(intervalMs);
  }

  /** Stops writing and relaying. Idempotent. */
  async close(): Promise<void> {
    await this.#writer.close();
    await this.#reader.close();
    await this.#relay?.close();
  }
}
