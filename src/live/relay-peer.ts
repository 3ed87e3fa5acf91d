// The live output's side of one relay connection at the receiving endpoint
// (src/cluster/relay-endpoint.ts): a peer's relay thread says hello, this node answers with what its
// clients follow (again on each change) and takes the peer's live messages for its own clients.
import type { WebSocket } from 'ws';
import { signLiveFrame, verifyLiveFrame } from '../cluster/relay-protocol.ts';
import { decodeLive } from './live-messages.ts';
import { HELLO, encodeWatch } from './relay-live.ts';
import type { RelayLiveSide } from './relay-side.ts';

/** A burst of subscription changes is told in one watch message, this long after the first. */
const WATCH_DEBOUNCE_MS = 20;

export interface LivePeerDeps {
  readonly secret: string;
  readonly nodeName: string;
  /** The hub of this web port (none in tests of the relay alone). */
  readonly side: RelayLiveSide | undefined;
}

/** Why a live frame was refused (the endpoint counts and answers it as a snapshot's refusal). */
export interface LiveRefusal {
  readonly reason: 'malformed' | 'signature';
  readonly detail: string;
  readonly node?: string;
}

export class LivePeer {
  readonly #ws: WebSocket;
  readonly #deps: LivePeerDeps;
  #stopWatching: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(ws: WebSocket, deps: LivePeerDeps) {
    this.#ws = ws;
    this.#deps = deps;
  }

  /** A live frame (`ovl1`) from the peer: taken (undefined), or why not. */
  receive(frame: Buffer, now = Date.now()): LiveRefusal | undefined {
    const v = verifyLiveFrame(this.#deps.secret, frame, now);
    if ('rejected' in v) return { reason: v.rejected, detail: v.detail };
    const { node, snapshot: body } = v.message;
    if (node === this.#deps.nodeName) return { reason: 'malformed', detail: `a live frame of this node (${JSON.stringify(node)}) came from elsewhere`, node };
    const side = this.#deps.side;
    if (body === HELLO) {
      if (side !== undefined && this.#stopWatching === undefined) {
        this.#stopWatching = side.onWatch(() => this.#schedule());
      }
      this.#sendWatch();
      return undefined;
    }
    if (decodeLive(body) === undefined) return { reason: 'malformed', detail: 'not a live message (hello, events, status or summary)', node };
    side?.deliverRelayed(body);
    return undefined;
  }

  close(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sendWatch();
    }, WATCH_DEBOUNCE_MS);
    this.#timer.unref();
  }

  #sendWatch(): void {
    const side = this.#deps.side;
    if (side === undefined || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(signLiveFrame(this.#deps.secret, this.#deps.nodeName, encodeWatch(side.watch())));
  }
}
