// One connection to a node's /websocket/ (AWX's protocol) for one followed job: it subscribes to
// the job's events and to every job's status changes and summaries, and turns what comes into
// the few things a follower acts on. Reconnecting is the follower's business: a closed LiveSocket
// stays closed.
import { WebSocket } from 'undici';
import type { FollowedKind } from './follow-api.ts';
import type { OutputEvent } from './follow-order.ts';

/** What a follower hears from the node about its job. */
export type LiveMessage =
  | { readonly kind: 'event'; readonly event: OutputEvent }
  | { readonly kind: 'status'; readonly status: string }
  | { readonly kind: 'summary'; readonly finalCounter: number }
  /** A workflow job's spawned job changed status. */
  | { readonly kind: 'spawned'; readonly type: string; readonly id: number; readonly status: string }
  /** The node took the subscription (AWX answers a groups message with the groups now current). */
  | { readonly kind: 'subscribed' }
  /** Anything else the node says to this client (why it is dropping it, say), as text. */
  | { readonly kind: 'notice'; readonly text: string };

export interface LiveHandlers {
  open(): void;
  message(m: LiveMessage): void;
  /** The connection is gone (never called after close()); why, for the operator. */
  lost(why: string): void;
}

/** The websocket URL of a web port's base URL (http → ws, https → wss). */
export const socketUrl = (base: string): string => {
  const url = new URL('/websocket/', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
};

/** The groups message of AWX's protocol for one job of a kind. */
export const groupsFor = (kind: FollowedKind, id: number) => ({ groups: { jobs: ['status_changed', 'summary'], [kind.events]: [id] } });

type Json = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);

/** What one message from the node means for the job followed; undefined when it is about another job. */
export function readMessage(m: Json, kind: FollowedKind, id: number): LiveMessage | undefined {
  if (Array.isArray(m.groups_current)) return { kind: 'subscribed' };
  if (m.group_name === 'workflow_events') {
    const spawned = num(m.unified_job_id);
    if (kind.type !== 'workflow_job' || num(m.workflow_job_id) !== id || spawned === undefined || typeof m.status !== 'string') return undefined;
    return { kind: 'spawned', type: typeof m.type === 'string' ? m.type : 'job', id: spawned, status: m.status };
  }
  if (m.group_name === kind.events) {
    const job = num(m.job) ?? num(m[kind.type]) ?? num(m.unified_job_id);
    const counter = num(m.counter);
    if (job !== id || counter === undefined) return undefined;
    return { kind: 'event', event: { counter, stdout: typeof m.stdout === 'string' ? m.stdout : '' } };
  }
  if (m.group_name === 'jobs') {
    if (num(m.unified_job_id) !== id) return undefined;
    const finalCounter = num(m.final_counter);
    if (finalCounter !== undefined) return { kind: 'summary', finalCounter };
    return typeof m.status === 'string' ? { kind: 'status', status: m.status } : undefined;
  }
  if (typeof m.group_name === 'string' || m.accept === true) return undefined;
  const text = [m.error, m.detail, m.reason, m.message, m.type].find((v) => typeof v === 'string' && v !== '');
  return { kind: 'notice', text: typeof text === 'string' ? text : JSON.stringify(m).slice(0, 300) };
}

/** One live connection; open it with start(), end it with close(). */
export class LiveSocket {
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #kind: FollowedKind;
  readonly #id: number;
  readonly #on: LiveHandlers;
  #ws: WebSocket | undefined;
  #closed = false;

  constructor(options: { base: string; token: string | undefined; kind: FollowedKind; id: number; handlers: LiveHandlers }) {
    this.#url = socketUrl(options.base);
    this.#token = options.token;
    this.#kind = options.kind;
    this.#id = options.id;
    this.#on = options.handlers;
  }

  get url(): string {
    return this.#url;
  }

  /** Connects and subscribes; what follows comes to the handlers. */
  start(): void {
    const ws = new WebSocket(this.#url, { headers: this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` } });
    this.#ws = ws;
    let failure = '';
    ws.addEventListener('open', () => {
      if (this.#closed) return;
      ws.send(JSON.stringify(groupsFor(this.#kind, this.#id)));
      this.#on.open();
    });
    ws.addEventListener('message', (e) => {
      if (this.#closed || typeof e.data !== 'string') return;
      let m: unknown;
      try {
        m = JSON.parse(e.data);
      } catch {
        return this.#on.message({ kind: 'notice', text: e.data.slice(0, 300) });
      }
      if (m === null || typeof m !== 'object' || Array.isArray(m)) return;
      const said = readMessage(m as Json, this.#kind, this.#id);
      if (said !== undefined) this.#on.message(said);
    });
    ws.addEventListener('error', (e) => {
      failure = (e as { message?: string }).message ?? (e as { error?: Error }).error?.message ?? '';
    });
    ws.addEventListener('close', (e) => {
      if (this.#closed) return;
      this.#closed = true;
      const why = [`code ${e.code}`, e.reason, failure].filter((s) => s !== '').join(', ');
      this.#on.lost(why);
    });
  }

  /** Closes the connection; no handler is called after this. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#ws?.close(1000, 'done');
    } catch {
      // Not open yet: closing a connecting socket may throw; it is dropped all the same.
    }
  }
}
