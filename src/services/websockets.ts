// The websockets service: one thread that relays this node's metric snapshots, and the live job
// output its peers' clients follow, to its peers (cluster.mode relay), one websocket per peer. A
// reload that changes cluster.peers replaces it. Its port also serves the metrics of the live
// output's websocket clients, which the web service records (src/live/live-metrics.ts).
import type { ThreadSettings } from '../task-messages.ts';
import type { Config } from '../config/schema.ts';
import { layoutOf } from '../metrics/layout.ts';
import type { ServiceMetrics } from '../metrics/service-metrics.ts';
import { liveMetricsOf } from '../live/live-metrics.ts';
import type { Service } from './service.ts';

/** What the websockets (relay) thread needs to know (piscina workerData of its pool). */
export interface RelaySettings extends ThreadSettings {
  readonly mode: 'shared_redis' | 'relay';
  readonly peers: readonly { readonly name: string; readonly url: string }[];
  readonly secret: string;
}

export const websockets: Service = {
  name: 'websockets',
  async start(node) {
    const settings = (c: Config): RelaySettings => ({
      nodeName: c.node_name,
      logLevel: node.logLevel,
      redisUrl: node.redisUrl,
      mode: c.cluster.mode,
      peers: c.cluster.peers,
      secret: c.cluster.secret,
    });
    const start = () => node.startPool({ service: 'websockets', minThreads: 1, maxThreads: 1, loops: 1, idleTimeoutMs: Infinity, workerData: settings(node.config) });
    let pool = await start();
    // The peers are the relay thread's settings and the values of its `peer` label: a change
    // relays through a new thread, laid out for them, once the old one has closed its sockets.
    node.onReload(async (changed) => {
      if (!changed.has('cluster.peers')) return;
      await pool.close(node.config.shutdown_timeout_ms);
      // The live output's region (web port clients, main thread) is laid out anew with the relay's.
      liveMetricsOf(node.metrics.websockets as ServiceMetrics<'websockets'>).relayout(layoutOf('websockets', node.config.cluster.peers.map((p) => p.name)));
      pool = await start();
    });
  },
};
