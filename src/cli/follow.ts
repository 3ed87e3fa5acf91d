// `npm run status -- --follow JOB`: a job's output as it runs, then its final status. Live events
// come through /websocket/; what was stored before the subscription took effect, or while the
// connection was down, is read from the API. CounterOrder merges both, so each line is printed
// once and in counter order. The exit code says how the job ended. Output nobody reads (a paused
// pager, a slow pipe) is not piled up in memory: past MAX_UNWRITTEN the live connection is let
// go, and once the output drains what was stored meanwhile is read from the API, page by page.
import type { Writable } from 'node:stream';
import { CommandError } from './command-line.ts';
import { FINAL_STATUSES, getJson, readEvents, type FollowedKind, type JobState } from './follow-api.ts';
import { CounterOrder, type OutputEvent } from './follow-order.ts';
import { LiveSocket, type LiveMessage } from './follow-socket.ts';

/** The exit code of each way a job ends (1 and 2 are the command's own failures, as for status). */
export const FOLLOW_EXIT: Readonly<Record<string, number>> = { successful: 0, failed: 3, error: 4, canceled: 5 };

/** A gap in the counters this old makes the follower read the API for it. */
const GAP_READ_MS = 2000;
/** A gap still open this long is passed over (its event is printed late if it ever comes). */
const GAP_SKIP_MS = 10_000;
/** How often the job's state is read from the API anyway, in case a status message was lost. */
const POLL_MS = 10_000;
/** After the job ends, how long its remaining events may take to be stored. */
const STREAM_WAIT_MS = 15_000;
/** Waits between reconnects, then the last one again; and how long to keep trying. */
const RECONNECT_MS = [250, 500, 1000, 2000, 5000];
const GIVE_UP_MS = 120_000;
/** Output not yet written out (bytes) past which the follower stops taking more until it drains. */
const MAX_UNWRITTEN = 4 * 1024 * 1024;

/** format=txt's output: ANSI colour codes removed. */
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;

/** Resolves once everything written to the stream so far is written out (or the stream is gone). */
const flushed = (stream: Writable) => new Promise<void>((resolve) => (stream.writableLength === 0 || stream.destroyed ? resolve() : stream.write('', () => resolve())));

export interface FollowOptions {
  readonly base: string;
  readonly token: string | undefined;
  readonly kind: FollowedKind;
  readonly job: JobState;
  readonly out: Writable;
  readonly err: Writable;
}

/** Follows one job to its end; resolves with the exit code of its final status. */
export class JobFollower {
  readonly #o: FollowOptions;
  readonly #order = new CounterOrder();
  #job: JobState;
  #eventsComplete = false;
  #finalCounter: number | undefined;
  /** When the final status was first seen here (ms), for STREAM_WAIT_MS. */
  #endedAt: number | undefined;
  #socket: LiveSocket | undefined;
  /** Whether the job is followed live at all (not when it had ended before the follower came). */
  #live = false;
  #lostSince: number | undefined;
  /** The live connection was let go because the output backed up (see MAX_UNWRITTEN). */
  #backedUp = false;
  #attempt = 0;
  #timers = new Set<NodeJS.Timeout>();
  #gapTimer: NodeJS.Timeout | undefined;
  /** API reads run one after another, never side by side. */
  #reads: Promise<void> = Promise.resolve();
  #state: 'following' | 'finishing' | 'over' = 'following';
  #resolve: (code: number) => void = () => {};
  #reject: (err: unknown) => void = () => {};

  constructor(options: FollowOptions) {
    this.#o = options;
    this.#job = options.job;
    this.#eventsComplete = options.job.event_processing_finished === true;
  }

  get #label(): string {
    return `${this.#o.kind.type.replace('_', ' ')} ${this.#job.id}${this.#job.name ? ` (${this.#job.name})` : ''}`;
  }

  #note(text: string): void {
    this.#o.err.write(`status: ${text}\n`);
  }

  async run(): Promise<number> {
    const ended = new Promise<number>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The reader went away (`| head`): nothing more to print for.
    this.#o.out.once('error', (err) => this.#fail(new CommandError(`stopped: the output was closed (${(err as NodeJS.ErrnoException).code ?? err.message})`)));
    if (FINAL_STATUSES.has(this.#job.status)) {
      this.#endedAt = this.#job.finished === null ? Date.now() : Math.min(Date.now(), Date.parse(this.#job.finished));
    } else {
      this.#note(`${this.#label} is ${this.#job.status}; following its output`);
    }
    if (!this.#settled()) {
      this.#live = true;
      this.#connect();
      this.#every(POLL_MS, () => this.#resync());
    }
    this.#resync();
    return ended;
  }

  /** Whether nothing more will come: the job ended and its events are all stored, or will not be. */
  #settled(): boolean {
    if (!FINAL_STATUSES.has(this.#job.status)) return false;
    if (this.#o.kind.type === 'workflow_job' || this.#eventsComplete || this.#job.started === null) return true;
    if (this.#finalCounter !== undefined && this.#order.next > this.#finalCounter) return true;
    return Date.now() - (this.#endedAt ?? Date.now()) >= STREAM_WAIT_MS;
  }

  #connect(): void {
    this.#socket?.close();
    const socket = new LiveSocket({
      base: this.#o.base,
      token: this.#o.token,
      kind: this.#o.kind,
      id: this.#job.id,
      handlers: {
        open: () => {
          if (this.#lostSince !== undefined || this.#backedUp) this.#note(`reconnected to ${socket.url}; reading what was stored meanwhile from the API (after counter ${this.#order.next - 1})`);
          this.#lostSince = undefined;
          this.#backedUp = false;
          this.#attempt = 0;
          // What was stored meanwhile is read once the node answers the subscription ('subscribed').
        },
        message: (m) => this.#heard(m),
        lost: (why) => this.#lost(why),
      },
    });
    this.#socket = socket;
    socket.start();
  }

  #lost(why: string): void {
    if (this.#state !== 'following') return;
    const now = Date.now();
    if (this.#lostSince === undefined) {
      this.#lostSince = now;
      this.#note(`the live connection to ${this.#socket?.url} was lost (${why}); reconnecting`);
    } else if (now - this.#lostSince > GIVE_UP_MS) {
      return this.#fail(new CommandError(`cannot reconnect to ${this.#socket?.url} (${why}) for ${GIVE_UP_MS / 1000} s; gave up`));
    }
    const wait = RECONNECT_MS[Math.min(this.#attempt++, RECONNECT_MS.length - 1)]!;
    this.#after(wait, () => {
      // Backed up meanwhile: the output's drain reconnects.
      if (!this.#backedUp) this.#connect();
    });
  }

  #heard(m: LiveMessage): void {
    if (this.#state !== 'following') return;
    switch (m.kind) {
      case 'event':
        this.#order.add(m.event);
        return this.#print();
      case 'status':
        return this.#setStatus(m.status);
      case 'summary':
        this.#finalCounter = m.finalCounter;
        return this.#resync();
      case 'subscribed':
        return this.#resync();
      case 'notice':
        return this.#note(`the node says: ${m.text}`);
      case 'spawned':
        // A workflow's output: what its jobs do.
        this.#o.out.write(`${m.type.replace('_', ' ')} ${m.id} ${m.status}\n`);
        return;
    }
  }

  #setStatus(status: string): void {
    if (status === this.#job.status) return;
    this.#job = { ...this.#job, status };
    if (FINAL_STATUSES.has(status)) {
      this.#endedAt ??= Date.now();
      // The job's row (started, elapsed, whether every event is stored) comes with the next read.
      return this.#resync();
    }
    this.#note(`${this.#label} is ${status}`);
    this.#check();
  }

  /** Reads the job and what is stored past the printed counter, then sees whether it is over. */
  #resync(): void {
    this.#read(async () => {
      const job = await getJson<JobState>(this.#o.base, `/api/v2/${this.#o.kind.path}/${this.#job.id}/`, this.#o.token);
      if (job.event_processing_finished === true) this.#eventsComplete = true;
      const was = this.#job.status;
      this.#job = job;
      if (FINAL_STATUSES.has(job.status)) this.#endedAt ??= Date.now();
      else if (job.status !== was) this.#note(`${this.#label} is ${job.status}`);
      await this.#catchUp();
    });
  }

  /** Runs an API read after the ones before it; then checks whether the job is over. */
  #read(work: () => Promise<void>): void {
    this.#reads = this.#reads.then(async () => {
      if (this.#state !== 'following') return;
      try {
        await work();
      } catch (err) {
        // Without a live connection (a job that had ended) there is nothing else to go on.
        if (!this.#live) return this.#fail(err);
        // While connected, say so and let the next read try again; while reconnecting, the reconnect notes say enough.
        if (this.#lostSince === undefined) this.#note(`${(err as Error).message}; trying again`);
        return;
      }
      this.#check();
    });
  }

  async #catchUp(): Promise<void> {
    if (this.#o.kind.type === 'workflow_job') return;
    await readEvents(this.#o.base, this.#job.id, this.#o.token, this.#order.taken, async (events) => {
      for (const e of events) this.#order.add(e);
      this.#print();
      await this.#room();
    });
  }

  #print(): void {
    if (this.#state !== 'following') return;
    this.#write(this.#order.take());
    this.#watchGap();
  }

  #write(events: readonly OutputEvent[]): void {
    const text = events.filter((e) => e.stdout !== '').map((e) => `${e.stdout.replace(ANSI, '')}\n`).join('');
    if (text !== '') this.#o.out.write(text);
    if (this.#state === 'following' && !this.#backedUp && this.#o.out.writableLength > MAX_UNWRITTEN) this.#letGo();
  }

  /** The output backed up: no live events until it drains, then reconnect and read what was missed. */
  #letGo(): void {
    this.#backedUp = true;
    this.#socket?.close();
    this.#socket = undefined;
    this.#note(`the output is not read as fast as the job writes it: live events stop until it is, then what was stored meanwhile is read from the API`);
    this.#o.out.once('drain', () => {
      if (this.#state === 'following') this.#connect();
    });
  }

  /** Resolves once the output has room again (at once when it has). */
  async #room(): Promise<void> {
    const out = this.#o.out;
    if (out.writableLength <= MAX_UNWRITTEN) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.on('drain', done);
      out.on('close', done);
    });
  }

  /** A gap in the counters: read the API for it after a while, and pass over it after longer. */
  #watchGap(): void {
    const since = this.#order.gapSince;
    if (since === undefined || this.#gapTimer !== undefined) return;
    this.#gapTimer = this.#after(GAP_READ_MS, () => {
      this.#gapTimer = undefined;
      this.#read(async () => {
        await this.#catchUp();
        if (this.#order.gapSince !== undefined && Date.now() - this.#order.gapSince >= GAP_SKIP_MS) {
          const from = this.#order.next;
          const skipped = this.#order.skipGap();
          this.#note(`event${skipped === 1 ? ` ${from} was` : `s ${from}–${from + skipped - 1} were`} not stored within ${GAP_SKIP_MS / 1000} s; going on without (printed late if stored later)`);
          this.#print();
        }
        this.#watchGap();
      });
    });
  }

  #check(): void {
    if (this.#state !== 'following') return;
    if (this.#settled()) {
      this.#state = 'finishing';
      this.#stop();
      this.#reads = this.#reads.then(() => this.#finish());
      return;
    }
    // Ended, but its last events are not all stored yet: look again shortly.
    if (FINAL_STATUSES.has(this.#job.status)) this.#after(1000, () => this.#resync());
  }

  /** The last read, whatever is held printed in order, the final status; resolves run(). */
  async #finish(): Promise<void> {
    try {
      if (!this.#eventsComplete || this.#order.gapSince !== undefined) await this.#catchUp();
    } catch (err) {
      this.#note(`${(err as Error).message}; the output above may miss its last lines`);
    }
    this.#write(this.#order.drain());
    this.#state = 'over';
    const j = this.#job;
    // The command exits right after: what is still queued for a pipe would be lost.
    await flushed(this.#o.out);
    if (!this.#eventsComplete && this.#o.kind.type !== 'workflow_job' && j.started !== null) {
      this.#note(`the node has not stored every event of ${this.#label} (its stream is not complete ${STREAM_WAIT_MS / 1000} s after its end); shown: what is stored`);
    }
    this.#note(`${this.#label} ${j.status}${j.elapsed > 0 ? ` in ${j.elapsed.toFixed(1)} s` : ''}${j.job_explanation ? `: ${j.job_explanation}` : ''}`);
    await flushed(this.#o.err);
    this.#resolve(FOLLOW_EXIT[j.status] ?? 1);
  }

  #fail(err: unknown): void {
    if (this.#state === 'over') return;
    this.#state = 'over';
    this.#stop();
    this.#reject(err);
  }

  #stop(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#socket?.close();
  }

  #after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #every(ms: number, fn: () => void): void {
    this.#after(ms, () => {
      fn();
      this.#every(ms, fn);
    });
  }
}
