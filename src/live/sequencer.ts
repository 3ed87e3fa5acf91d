// Puts one job's live events in counter order, each once. Several receiver threads (and nodes)
// save a job's events in batches that commit in any order, so a batch with higher counters can
// arrive first: it is held until the lower ones come, for at most GAP_WAIT_MS; after that the gap
// is skipped (an event dead-lettered, or published before anyone followed the job) and remembered,
// so that an event of it arriving late is still given, once. A summary (the stream is complete) is
// given after the events up to its final_counter.
import type { LiveEvent } from './live-messages.ts';

/** How long a gap in the counters may hold back the events after it. */
export const GAP_WAIT_MS = 2_000;
/** Events held behind a gap at most; more and the gap is skipped at once (bounded memory). */
export const MAX_HELD = 20_000;
/** Skipped ranges remembered (the oldest are forgotten first; a late event of a forgotten one is dropped). */
const MAX_SKIPPED_RANGES = 1_000;

export interface SequencerOutput {
  event(counter: number, json: string): void;
  summary(text: string): void;
}

export class JobSequencer {
  readonly #out: SequencerOutput;
  readonly #gapWaitMs: number;
  /** Every counter below it was given or skipped. */
  #low = 1;
  readonly #held = new Map<number, string>();
  /** Inclusive ranges of counters skipped, oldest first (0: a producer that counts from 0 still gets its first event through, once). */
  #skipped: [number, number][] = [[0, 0]];
  #summary: { readonly finalCounter: number; readonly text: string } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(out: SequencerOutput, gapWaitMs = GAP_WAIT_MS) {
    this.#out = out;
    this.#gapWaitMs = gapWaitMs;
  }

  /** Events of the job, in any order, duplicates possible. */
  add(events: readonly LiveEvent[]): void {
    for (const e of events) {
      if (e.counter < this.#low) {
        if (this.#takeSkipped(e.counter)) this.#out.event(e.counter, e.json);
      } else if (!this.#held.has(e.counter)) this.#held.set(e.counter, e.json);
    }
    this.#drain();
    if (this.#held.size > MAX_HELD) this.#skipGap();
    this.#wait();
  }

  /** The job's stream is complete: give `text` once every event up to finalCounter was given or skipped. */
  summary(finalCounter: number, text: string): void {
    this.#summary = { finalCounter, text };
    this.#drain();
    this.#wait();
  }

  /** Stops its timer (nobody follows the job here any more). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #drain(): void {
    for (let json = this.#held.get(this.#low); json !== undefined; json = this.#held.get(this.#low)) {
      this.#held.delete(this.#low);
      this.#out.event(this.#low, json);
      this.#low += 1;
    }
    const s = this.#summary;
    if (s !== undefined && this.#low > s.finalCounter) {
      this.#summary = undefined;
      this.#out.summary(s.text);
    }
  }

  /** Something waits behind a gap: skip it when GAP_WAIT_MS has passed, unless it fills first. */
  #wait(): void {
    const waiting = this.#held.size > 0 || this.#summary !== undefined;
    if (!waiting) {
      this.close();
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#skipGap();
      this.#wait();
    }, this.#gapWaitMs);
    this.#timer.unref();
  }

  /** Gives up on the counters from #low to the next one held (or past the summary's final counter). */
  #skipGap(): void {
    let next = Infinity;
    for (const c of this.#held.keys()) if (c < next) next = c;
    if (next === Infinity) next = (this.#summary?.finalCounter ?? this.#low - 1) + 1;
    if (next > this.#low) {
      this.#skipped.push([this.#low, next - 1]);
      if (this.#skipped.length > MAX_SKIPPED_RANGES) this.#skipped.shift();
      this.#low = next;
    }
    this.#drain();
  }

  /** Whether counter lies in a skipped range; if so it is taken out of it (given once). */
  #takeSkipped(counter: number): boolean {
    const i = this.#skipped.findIndex(([from, to]) => counter >= from && counter <= to);
    if (i < 0) return false;
    const [from, to] = this.#skipped[i] as [number, number];
    const parts: [number, number][] = [];
    if (from < counter) parts.push([from, counter - 1]);
    if (counter < to) parts.push([counter + 1, to]);
    this.#skipped.splice(i, 1, ...parts);
    return true;
  }
}
