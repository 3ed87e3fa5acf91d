// The page's one connection to this node's /websocket/ (AWX's protocol): it subscribes to every
// job's status changes and summaries, and to the events of the job whose output is open; it
// reconnects when the connection is lost or the node drops it, and hands every message on.

/** Waits between reconnects (ms), then the last one again. */
const RECONNECT_MS = [250, 500, 1000, 2000, 5000];

/** The groups message of AWX's protocol: every job's status, and the events of the open job. */
export const groupsFor = (jobId) => ({ groups: { jobs: ['status_changed', 'summary'], job_events: jobId == null ? [] : [jobId] } });

export class LiveConnection {
  #ws = null;
  #token;
  #handlers;
  #jobId = null;
  #attempt = 0;
  #timer;
  #stopped = true;

  /** handlers: open(), message(m), lost(why); token(): the API token of this tab, or null. */
  constructor(handlers, token) {
    this.#handlers = handlers;
    this.#token = token;
  }

  /** Connects (again); idempotent while connected. */
  start() {
    this.#stopped = false;
    if (this.#ws !== null) return;
    clearTimeout(this.#timer);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/websocket/`;
    const ws = new WebSocket(url);
    this.#ws = ws;
    ws.addEventListener('open', () => {
      this.#attempt = 0;
      // A browser cannot set an Authorization header on a websocket: with tokens, the first message carries it.
      const token = this.#token();
      ws.send(JSON.stringify(token ? { token, ...groupsFor(this.#jobId) } : groupsFor(this.#jobId)));
      this.#handlers.open();
    });
    ws.addEventListener('message', (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        m = { message: String(e.data).slice(0, 300) };
      }
      if (m !== null && typeof m === 'object') this.#handlers.message(m);
    });
    ws.addEventListener('close', (e) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#stopped) return;
      this.#handlers.lost(e.reason || `code ${e.code}`);
      const wait = RECONNECT_MS[Math.min(this.#attempt++, RECONNECT_MS.length - 1)];
      this.#timer = setTimeout(() => this.start(), wait);
    });
  }

  /** Stops for good (until start()). */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'done');
  }

  get connected() {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Follows this job's events from now on (null: none); a new groups message replaces the old subscription. */
  follow(jobId) {
    this.#jobId = jobId;
    if (this.connected) this.#ws.send(JSON.stringify(groupsFor(jobId)));
  }
}
