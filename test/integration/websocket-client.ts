// A test client of /websocket/ (the live job output): what it received, and waiting for messages.
import { WebSocket } from 'ws';
import { waitFor } from '../helpers/wait-for.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What an upgrade was answered when it was refused: status and body. */
export interface Refused {
  readonly status: number;
  readonly body: string;
}

export class LiveSocket {
  readonly ws: WebSocket;
  readonly received: Json[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => this.received.push(JSON.parse(data.toString()) as Json));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  /** Opens a connection; rejects with the refusal (status and body) when the upgrade is refused. */
  static open(port: number, headers: Record<string, string> = {}, path = '/websocket/'): Promise<LiveSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new LiveSocket(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode ?? 0, body } satisfies Refused)));
      });
      ws.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message received (from `from` on) that matches, waiting for it. */
  next(what: string, match: (m: Json) => boolean, from = 0, timeoutMs = 15_000): Promise<Json> {
    return waitFor(what, () => this.received.slice(from).find(match), timeoutMs);
  }

  /** Sends a groups message and waits for its answer. */
  async subscribe(groups: Json): Promise<Json> {
    const from = this.received.length;
    this.send({ groups });
    return this.next('the groups answer', (m) => 'groups_current' in m, from);
  }

  /** Events received for a group, in the order received. */
  events(group = 'job_events', jobId?: number): Json[] {
    return this.received.filter((m) => m.group_name === group && 'counter' in m && (jobId === undefined || m.job === jobId));
  }

  waitClosed(timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
    return waitFor('the connection closed', () => this.closed, timeoutMs);
  }

  close(): void {
    this.ws.terminate();
  }
}
