// One websocket client of /websocket/: what it asks for (src/live/protocol.ts), and a bounded way
// to send to it. A client that stops reading is never waited for: once more than
// MAX_BUFFERED_BYTES of its messages are unread it is told why, dropped and counted, and the
// events keep flowing to everyone else.
import type { Duplex } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import type { DropReason } from './drop-reasons.ts';
import type { LiveMetrics } from './live-metrics.ts';
import { ACCEPT, closingAnswer, errorAnswer, groupsAnswer, parseClientMessage } from './protocol.ts';

/** Unread bytes (ws's buffer and the socket's) a client may have before it is dropped. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Unusable messages in a row after which a client is dropped. */
export const MAX_BAD_IN_A_ROW = 10;
/** Without an Authorization header, the token must come in a message within this long. */
export const AUTH_TIMEOUT_MS = 10_000;
/** A dropped client is cut off once it has read nothing for this long (so one that reads again still gets why)... */
export const CLOSE_GRACE_MS = 5_000;
/** ...or this long after it was dropped, whatever it reads. */
export const CLOSE_MAX_MS = 60_000;

/** What a client needs from the hub and the endpoint. */
export interface ClientHost {
  readonly metrics: LiveMetrics;
  /** Replaces the client's groups; what it holds, left and joined. */
  setGroups(client: LiveClient, names: readonly string[]): { current: string[]; left: string[]; joined: string[] };
  /** The client is gone (closed or dropped): it leaves every group. */
  leave(client: LiveClient): void;
  /** Why a token given in a message is refused, or undefined when it is one of the node's tokens. */
  refuseToken(token: string): string | undefined;
  /** A client was dropped (logged, rate-limited). */
  dropped(client: LiveClient, reason: DropReason, why: string): void;
}

export class LiveClient {
  /** The groups it is subscribed to (kept by the hub). */
  groups: ReadonlySet<string> = new Set();
  readonly remote: string;
  readonly #ws: WebSocket;
  /** The connection under ws: corked while a burst of messages is written (one writev, not one per message). */
  readonly #socket: Duplex;
  #corked = false;
  readonly #host: ClientHost;
  #authenticated: boolean;
  #closed = false;
  #badInARow = 0;
  #authTimer: NodeJS.Timeout | undefined;

  /** authenticated: the upgrade carried a valid token, or the node has none. */
  constructor(ws: WebSocket, socket: Duplex, host: ClientHost, authenticated: boolean, remote: string) {
    this.#ws = ws;
    this.#socket = socket;
    this.#host = host;
    this.#authenticated = authenticated;
    this.remote = remote;
    ws.on('message', (data: RawData, isBinary: boolean) => this.#receive(data, isBinary));
    ws.on('close', () => this.#gone());
    ws.on('error', () => {}); // ws closes the connection itself (a frame over the size limit: 1009)
    if (authenticated) this.send(ACCEPT);
    else {
      this.#authTimer = setTimeout(
        () => this.drop('unauthenticated', `Authentication credentials were not provided within ${AUTH_TIMEOUT_MS / 1000} s: send {"token": "<token>"} first, or connect with an Authorization: Bearer header.`),
        AUTH_TIMEOUT_MS,
      );
      this.#authTimer.unref();
    }
  }

  /** Sends one message, unless the client has fallen behind: then it is dropped. */
  send(text: string): void {
    if (this.#closed) return;
    const unread = this.#ws.bufferedAmount;
    if (unread > MAX_BUFFERED_BYTES) {
      this.drop('slow', `This client fell behind: ${unread} bytes of messages were waiting to be read (the limit is ${MAX_BUFFERED_BYTES}). Reconnect, subscribe again, and read what was missed from the API.`);
      return;
    }
    if (!this.#corked) {
      // A batch's events go out together when this tick ends (ws writes each message on its own).
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#ws.send(text);
    this.#host.metrics.m.wsMessagesSent.inc();
  }

  /** Tells the client why, closes its connection, and cuts it off if it does not answer. Counted once. */
  drop(reason: DropReason, why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#authTimer);
    this.#host.leave(this);
    this.#host.metrics.m.wsDrops.labels(reason).inc();
    this.#host.dropped(this, reason, why);
    this.#ws.send(closingAnswer(why));
    this.#ws.close(1008, reason);
    this.#cutOffIfStalled();
  }

  /** Ends the connection of a dropped client that stops reading what is left for it. */
  #cutOffIfStalled(): void {
    const ws = this.#ws;
    const until = Date.now() + CLOSE_MAX_MS;
    let unread = ws.bufferedAmount;
    const check = setInterval(() => {
      if (ws.readyState === ws.CLOSED) clearInterval(check);
      else if (ws.bufferedAmount >= unread || Date.now() > until) {
        clearInterval(check);
        ws.terminate();
      } else unread = ws.bufferedAmount;
    }, CLOSE_GRACE_MS);
    check.unref();
  }

  /** Ends the connection at once (the node is stopping). */
  terminate(): void {
    this.#gone();
    this.#ws.terminate();
  }

  #gone(): void {
    clearTimeout(this.#authTimer);
    if (this.#closed) return;
    this.#closed = true;
    this.#host.leave(this);
  }

  #receive(data: RawData, isBinary: boolean): void {
    if (this.#closed) return;
    if (isBinary) {
      this.#bad('messages must be text frames holding JSON');
      return;
    }
    const m = parseClientMessage(data.toString());
    if (!m.ok) {
      this.#bad(m.error);
      return;
    }
    if (!this.#authenticated) {
      if (m.token === undefined) {
        this.drop('unauthenticated', 'Authentication credentials were not provided: the first message must carry {"token": "<token>"}, or connect with an Authorization: Bearer header.');
        return;
      }
      const refused = this.#host.refuseToken(m.token);
      if (refused !== undefined) {
        this.drop('unauthenticated', refused);
        return;
      }
      this.#authenticated = true;
      clearTimeout(this.#authTimer);
      this.send(ACCEPT);
    }
    this.#badInARow = 0;
    if (m.groups !== undefined) {
      const { current, left, joined } = this.#host.setGroups(this, m.groups);
      this.send(groupsAnswer(current, left, joined));
    }
  }

  #bad(error: string): void {
    this.#badInARow += 1;
    if (this.#badInARow >= MAX_BAD_IN_A_ROW) {
      this.drop('bad_messages', `${this.#badInARow} unusable messages in a row; the last: ${error}`);
      return;
    }
    this.send(errorAnswer(error));
  }
}
