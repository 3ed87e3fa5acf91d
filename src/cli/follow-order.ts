// The order a followed job's output comes out in. Events reach the follower from two sources that
// overlap (the API's stored events and the live ones from /websocket/), and receiver threads may
// save a job's events out of counter order; this hands each counter out once, in counter order,
// holding back what comes after a missing counter until it arrives or is given up on.

/** What the follower needs of an event: its place and its text. */
export interface OutputEvent {
  readonly counter: number;
  readonly stdout: string;
}

/** Counters 1, 2, 3…: each event once, in order; a gap holds back what follows it. */
export class CounterOrder {
  #next = 1;
  #taken = 0;
  readonly #held = new Map<number, OutputEvent>();
  /** Counters given up on (a gap skipped): if one comes after all, it is handed out late rather than lost. */
  readonly #skipped = new Set<number>();
  readonly #late: OutputEvent[] = [];
  #gapSince: number | undefined;

  /** Takes an event from either source; one already handed out or held is ignored. */
  add(event: OutputEvent): void {
    const { counter } = event;
    if (!Number.isSafeInteger(counter) || counter < 1) return;
    if (counter < this.#next) {
      if (this.#skipped.delete(counter)) this.#late.push(event);
      return;
    }
    if (!this.#held.has(counter)) this.#held.set(counter, event);
  }

  /** The events ready to print: the late ones, then the run of consecutive counters from the next. */
  take(now = Date.now()): OutputEvent[] {
    const out = this.#late.splice(0);
    for (let e = this.#held.get(this.#next); e !== undefined; e = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      this.#next++;
      out.push(e);
    }
    this.#taken += out.length;
    this.#gapSince = this.#held.size === 0 ? undefined : (this.#gapSince ?? now);
    return out;
  }

  /** Skips the missing counters before the lowest held one (they may still come late); returns how many. */
  skipGap(): number {
    if (this.#held.size === 0) return 0;
    let lowest = Infinity;
    for (const c of this.#held.keys()) lowest = Math.min(lowest, c);
    for (let c = this.#next; c < lowest; c++) this.#skipped.add(c);
    const skipped = lowest - this.#next;
    this.#next = lowest;
    return skipped;
  }

  /** Every held event in counter order, gaps skipped: for the end, when nothing more is coming. */
  drain(): OutputEvent[] {
    const out: OutputEvent[] = [];
    for (let e = this.take(); e.length > 0 || this.#held.size > 0; e = this.take()) {
      out.push(...e);
      this.skipGap();
    }
    return out;
  }

  /** Since when events have been held behind a missing counter (ms), or undefined. */
  get gapSince(): number | undefined {
    return this.#gapSince;
  }

  /** The counter printed next. */
  get next(): number {
    return this.#next;
  }

  /**
   * How many events were handed out. All of them are stored and below `next`, so the stored events
   * in counter order hold at least this many before the next one: where an API read resumes.
   */
  get taken(): number {
    return this.#taken;
  }

  /** The highest counter handed out or held (0: none yet). */
  get highest(): number {
    let highest = this.#next - 1;
    for (const c of this.#held.keys()) highest = Math.max(highest, c);
    return highest;
  }
}
