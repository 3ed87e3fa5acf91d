// How the relay endpoint (src/cluster/relay-endpoint.ts) reaches this node's live output hub on the
// same web port: peers' relay threads send it the live messages of their jobs, and it tells them
// what this node's clients follow. Registered by server, so the cluster code need not know the hub.
import type { Server } from 'node:http';
import type { WatchSet } from './hub.ts';

/** What the relay endpoint needs of the hub. */
export interface RelayLiveSide {
  /** A live message a peer relayed (signature checked): for this node's clients, never relayed on. */
  deliverRelayed(text: string): void;
  /** What this node's clients follow now. */
  watch(): WatchSet;
  /** Calls fn whenever that may have changed; returns how to stop. */
  onWatch(fn: () => void): () => void;
}

const sides = new WeakMap<Server, RelayLiveSide>();

/** The hub of the web port `server` takes relayed live messages from now on. */
export function offerLiveToRelay(server: Server, side: RelayLiveSide): void {
  sides.set(server, side);
}

/** The hub of the web port `server`, if it has one. */
export function liveSideOf(server: Server): RelayLiveSide | undefined {
  return sides.get(server);
}
