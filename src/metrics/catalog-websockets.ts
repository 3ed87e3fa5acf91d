// The websockets service's metrics: the relay to peer nodes (its thread), and the live job output's
// websocket clients on the web port (src/live/, recorded in the supervisor's main thread). Part of
// the catalog (catalog.ts), in its order.
import { counter, gauge, type MetricSpec } from './metric-spec.ts';
import { DROP_REASONS } from '../live/drop-reasons.ts';

const peer = { name: 'peer', values: 'peers' } as const;

export const WEBSOCKETS_METRICS = [
  // --- websockets: the relay to peer nodes ---
  counter({ key: 'relayMessages', service: 'websockets', name: 'overseer_relay_messages_total', help: 'Snapshots sent to each peer.', labels: [peer] }),
  counter({ key: 'relayBytes', service: 'websockets', name: 'overseer_relay_bytes_total', help: 'Bytes sent to each peer.', labels: [peer] }),
  gauge({ key: 'relayConnected', service: 'websockets', name: 'overseer_relay_connected', help: '1 while the websocket to the peer is open, else 0.', labels: [peer], combine: 'last' }),
  counter({ key: 'relayReconnects', service: 'websockets', name: 'overseer_relay_reconnects_total', help: 'Attempts to connect to each peer again after a connection was lost or failed.', labels: [peer] }),
  counter({ key: 'relayDropped', service: 'websockets', name: 'overseer_relay_dropped_total', help: 'Snapshots not sent because the peer was not connected (the next one replaces them).', labels: [peer] }),
  counter({ key: 'relayRejected', service: 'websockets', name: 'overseer_relay_rejected_total', help: 'Snapshots a peer refused (wrong secret, malformed).', labels: [peer] }),
  counter({ key: 'relayLiveMessages', service: 'websockets', name: 'overseer_relay_live_messages_total', help: 'Live job output messages (one job\'s events of one batch, a status change, a summary) sent to each peer whose websocket clients follow them.', labels: [peer] }),
  counter({ key: 'relayLiveDropped', service: 'websockets', name: 'overseer_relay_live_dropped_total', help: 'Live job output messages not sent to a peer: not connected, backed up, or an event over the relay\'s frame limit.', labels: [peer] }),

  // --- websockets: live job output to clients of /websocket/ on the web port (src/live/) ---
  gauge({ key: 'wsConnections', service: 'websockets', name: 'overseer_websocket_connections', help: 'Websocket clients connected to /websocket/ on this node\'s web port.', combine: 'sum' }),
  gauge({ key: 'wsSubscriptions', service: 'websockets', name: 'overseer_websocket_subscriptions', help: 'Groups the connected websocket clients are subscribed to (one per job or topic per client).', combine: 'sum' }),
  counter({ key: 'wsMessagesSent', service: 'websockets', name: 'overseer_websocket_messages_sent_total', help: 'Messages sent to websocket clients: events, status changes, summaries, answers.' }),
  counter({
    key: 'wsDrops',
    service: 'websockets',
    name: 'overseer_websocket_drops_total',
    help: 'Websocket clients this node closed, by reason: slow (its unread messages passed the send buffer limit), unauthenticated (no valid token in time), bad_messages (too many unusable messages in a row).',
    labels: [{ name: 'reason', values: DROP_REASONS }],
  }),
  counter({ key: 'wsRelayedIn', service: 'websockets', name: 'overseer_websocket_relayed_in_total', help: 'Live job output messages received from peers over the relay, for this node\'s websocket clients.' }),
] as const satisfies readonly MetricSpec[];
