// The websockets service: one thread that relays this node's metric snapshots to its peers
// (cluster.mode relay), one websocket per peer.
import type { ThreadSettings } from '../task-messages.ts';
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
    const c = node.config;
    const settings: RelaySettings = {
      nodeName: c.node_name,
      logLevel: node.logLevel,
      redisUrl: node.redisUrl,
      mode: c.cluster.mode,
      peers: c.cluster.peers,
      secret: c.cluster.secret,
    };
    await node.startPool({ service: 'websockets', minThreads: 1, maxThreads: 1, loops: 1, idleTimeoutMs: Infinity, workerData: settings });
  },
};
