// The websockets service's metrics: the relay to peer nodes. Part of the catalog (catalog.ts), in its order.
import { counter, gauge, type MetricSpec } from './metric-spec.ts';

const peer = { name: 'peer', values: 'peers' } as const;

export const WEBSOCKETS_METRICS = [
  // --- websockets: the relay to peer nodes ---
  counter({ key: 'relayMessages', service: 'websockets', name: 'overseer_relay_messages_total', help: 'Snapshots sent to each peer.', labels: [peer] }),
  counter({ key: 'relayBytes', service: 'websockets', name: 'overseer_relay_bytes_total', help: 'Bytes sent to each peer.', labels: [peer] }),
  gauge({ key: 'relayConnected', service: 'websockets', name: 'overseer_relay_connected', help: '1 while the websocket to the peer is open, else 0.', labels: [peer], combine: 'last' }),
  counter({ key: 'relayReconnects', service: 'websockets', name: 'overseer_relay_reconnects_total', help: 'Attempts to connect to each peer again after a connection was lost or failed.', labels: [peer] }),
  counter({ key: 'relayDropped', service: 'websockets', name: 'overseer_relay_dropped_total', help: 'Snapshots not sent because the peer was not connected (the next one replaces them).', labels: [peer] }),
  counter({ key: 'relayRejected', service: 'websockets', name: 'overseer_relay_rejected_total', help: 'Snapshots a peer refused (wrong secret, malformed).', labels: [peer] }),
] as const satisfies readonly MetricSpec[];
