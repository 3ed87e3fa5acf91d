// One receiver loop: take events from the queue into its processing list, save them in batches
// (at batch_size events, batch_bytes bytes or buffer_ms after the first, whichever comes first),
// then empty the list. Oversized events never get here: the take dead-letters them in Redis.
import type { Logger } from '../../src/logger.ts';
import type { Handles } from '../../src/metrics/recorder.ts';
import type { DeadLetter, EventQueue } from '../../src/redis/event-queue.ts';
import type { EventRow, HostSummaryRow, Storage, StreamEnd } from '../../src/storage/storage.ts';
import { parseEvent } from './parse.ts';
import type { DeadReason } from '../../src/redis/event-queue.ts';
import type { Followed, LiveOutput } from './live-output.ts';

/** How long an idle receiver blocks on the queue before looking at its stop signal again. */
const IDLE_WAIT_MS = 500;

export interface ReceiverOptions {
  readonly queue: EventQueue;
  readonly storage: Storage;
  readonly metrics: Handles<'callback_receiver'>;
  readonly log: Logger;
  readonly nodeName: string;
  readonly batchSize: number;
  /** A batch holds at most this many bytes of events (or one event, whatever its size). */
  readonly batchBytes: number;
  readonly bufferMs: number;
  readonly maxEventBytes: number;
  /** Sends saved events on to live followers (websocket clients); none in tests that do not need it. */
  readonly live?: LiveOutput;
}

interface Parsed {
  readonly events: EventRow[];
  readonly summaries: (readonly HostSummaryRow[])[];
  readonly payloads: string[];
  readonly createdMs: number[];
  readonly ends: StreamEnd[];
  readonly dead: DeadLetter[];
}

/**
 * parseEvent, and an event that makes it throw (say, nesting deep enough to overflow the stack) is
 * dead-lettered too: a payload that crashed the loop would crash it again after every restart.
 */
function safeParse(payload: string, maxBytes: number, now: string): ReturnType<typeof parseEvent> {
  try {
    return parseEvent(payload, maxBytes, now);
  } catch (err) {
    return { kind: 'dead', reason: 'invalid_event', detail: `cannot be read: ${(err as Error).message}` };
  }
}

/** The callback receiver's work in one thread. */
export class Receiver {
  readonly #o: ReceiverOptions;
  #buffer: string[] = [];
  #bufferBytes = 0;
  #firstAt = 0;

  constructor(options: ReceiverOptions) {
    this.#o = options;
  }

  /** Runs until the signal fires, then saves what it holds and returns. */
  async run(signal: AbortSignal): Promise<void> {
    const { queue, batchSize, batchBytes, bufferMs } = this.#o;
    // Back to the head of the queue rather than read here: the take sees their sizes first.
    const leftover = await queue.giveBackLeftover();
    if (leftover > 0) this.#o.log.info({ events: leftover }, 'what this loop held when it stopped last time is back in the queue');
    while (!signal.aborted) {
      const t = await queue.takeBounded(batchSize - this.#buffer.length, batchBytes - this.#bufferBytes, this.#buffer.length === 0);
      this.#countOversized(t.oversized, t.dropped);
      if (t.items.length > 0) this.#hold(t.items, t.bytes);
      else if (t.stop === 'empty' && !this.#due()) {
        // The queue is empty: wait for the next event, but not past this batch's buffer time.
        const wait = this.#buffer.length > 0 ? bufferMs - (Date.now() - this.#firstAt) : IDLE_WAIT_MS;
        const one = await queue.waitForOne(wait);
        if (one !== null) this.#hold([one], Buffer.byteLength(one));
      }
      const full = this.#buffer.length >= batchSize || this.#bufferBytes >= batchBytes || (t.stop === 'full' && this.#buffer.length > 0);
      if (full || this.#due()) await this.#flush();
    }
    if (this.#buffer.length > 0) await this.#flush();
  }

  /** A batch is held and its buffer time has passed. */
  #due(): boolean {
    return this.#buffer.length > 0 && Date.now() - this.#firstAt >= this.#o.bufferMs;
  }

  /** Oversized events the take dead-lettered, and dead letters its trim dropped: Redis has committed both. */
  #countOversized(oversized: number, dropped: number): void {
    if (oversized > 0) {
      this.#o.metrics.eventsPopped.inc(oversized);
      this.#o.metrics.deadLettered.labels('oversized').inc(oversized);
      this.#o.log.warn({ events: oversized, reasons: ['oversized'] }, 'events dead-lettered');
    }
    if (dropped > 0) this.#o.metrics.deadLettersDropped.inc(dropped);
  }

  #hold(payloads: string[], bytes: number): void {
    if (this.#buffer.length === 0) this.#firstAt = Date.now();
    for (const p of payloads) this.#buffer.push(p);
    this.#bufferBytes += bytes;
    this.#o.metrics.eventsPopped.inc(payloads.length);
    this.#o.metrics.eventsInMemory.set(this.#buffer.length);
  }

  #parse(now: string): Parsed {
    const out: Parsed = { events: [], summaries: [], payloads: [], createdMs: [], ends: [], dead: [] };
    for (const payload of this.#buffer) {
      const p = safeParse(payload, this.#o.maxEventBytes, now);
      if (p.kind === 'event') {
        out.events.push(p.row);
        out.summaries.push(p.summaries);
        out.payloads.push(payload);
        out.createdMs.push(p.createdMs);
      } else if (p.kind === 'eof') out.ends.push(p.end);
      else out.dead.push(this.#deadLetter(p.reason, p.detail, payload, now));
    }
    return out;
  }

  /** Rethrows the insert error when the database does not answer at all (an outage, not a bad event). */
  async #databaseAnswers(insertError: unknown): Promise<void> {
    try {
      await this.#o.storage.ping();
    } catch {
      throw insertError;
    }
  }

  #deadLetter(reason: DeadReason, detail: string, payload: string, now: string): DeadLetter {
    return { reason, detail, node: this.#o.nodeName, at: now, payload };
  }

  async #flush(): Promise<void> {
    const { storage, metrics, log } = this.#o;
    const now = new Date().toISOString();
    const b = this.#parse(now);
    const followed: Followed = this.#o.live === undefined ? { jobs: new Set(), summaries: false } : await this.#o.live.followed([...new Set(b.events.map((e) => e.job_id))]);
    const withIds = followed.jobs.size > 0;
    const started = performance.now();
    let inserted = 0;
    let duplicates = 0;
    let saved: number[] = []; // indexes of events now in the database
    let ids: (number | null)[] | undefined; // asked for only when someone follows the batch's jobs
    try {
      const r = await storage.saveBatch({ events: b.events, hostSummaries: b.summaries.flat(), streamEnds: b.ends, withIds });
      ({ inserted, duplicates } = r);
      ids = r.ids === undefined ? undefined : [...r.ids];
      saved = b.events.map((_, i) => i);
      if (b.events.length > 0) metrics.batchSize.observe(b.events.length);
    } catch (err) {
      metrics.batchErrors.inc();
      // A database that does not answer is no reason to give up on the events: the loop fails, the
      // events stay in the processing list, and the restarted loop saves them.
      await this.#databaseAnswers(err);
      // One bad event must not keep the others out: save them one by one, dead-letter what still fails.
      log.warn({ err, events: b.events.length }, 'batch insert failed; saving events one by one');
      ids = withIds ? b.events.map(() => null) : undefined;
      for (let i = 0; i < b.events.length; i++) {
        try {
          const r = await storage.saveBatch({ events: [b.events[i] as EventRow], hostSummaries: b.summaries[i] ?? [], streamEnds: [], withIds });
          inserted += r.inserted;
          duplicates += r.duplicates;
          if (ids !== undefined) ids[i] = r.ids?.[0] ?? null;
          saved.push(i);
        } catch (one) {
          await this.#databaseAnswers(one);
          b.dead.push(this.#deadLetter('insert_failed', (one as Error).message, b.payloads[i] as string, now));
        }
      }
      if (b.ends.length > 0) await storage.saveBatch({ events: [], hostSummaries: [], streamEnds: b.ends });
    }
    metrics.insertSeconds.inc((performance.now() - started) / 1000);
    metrics.eventsInserted.inc(inserted);
    metrics.duplicates.inc(duplicates);

    const jobs = [...new Set([...b.events.map((e) => e.job_id), ...b.ends.map((e) => e.job_id)])];
    const completed = await storage.completeStreams(jobs);
    void this.#o.live?.publish(followed, b.events, ids, completed);

    const savedAt = Date.now();
    let lagSum = 0;
    for (const i of saved) {
      const lag = Math.max(0, (savedAt - (b.createdMs[i] as number)) / 1000);
      lagSum += lag;
      metrics.processingLag.observe(lag);
    }
    if (saved.length > 0) metrics.processingAvgSeconds.set(lagSum / saved.length);

    const { dropped } = await this.#o.queue.done(b.dead);
    // Counted once Redis has committed them, so that the counters always match the list.
    for (const d of b.dead) metrics.deadLettered.labels(d.reason).inc();
    if (dropped > 0) metrics.deadLettersDropped.inc(dropped);
    if (b.dead.length > 0) log.warn({ events: b.dead.length, reasons: [...new Set(b.dead.map((d) => d.reason))] }, 'events dead-lettered');
    metrics.batchBytes.observe(this.#bufferBytes);
    this.#buffer = [];
    this.#bufferBytes = 0;
    metrics.eventsInMemory.set(0);
    // Last, so that whoever sees a stream counted complete sees this batch's other numbers too.
    metrics.streamsCompleted.inc(completed.length);
    if (completed.length > 0) log.info({ jobs: completed }, 'job event streams complete');
  }
}
