// The callback queue with at-least-once delivery. A receiver moves events from the queue into a
// processing list of its own, atomically, and deletes that list only after the database has
// committed what was in it; a node that crashed gets its processing lists back into the queue
// when it starts again. Unlike AWX's BLPOP, a crash loses nothing.
// A take is bounded by bytes as well as events, and an event over the size limit goes from the
// queue to the dead list inside Redis, cut short, without ever reaching a receiver thread.
import type { Redis } from 'ioredis';
import { ReliableList, giveBackMatching, globEscape, type BoundedTake } from './reliable-list.ts';

export { MAX_TAKE } from './reliable-list.ts';

/** Why the callback receiver dead-lettered an event (the `reason` label of its dead-letter counter). */
export const DEAD_REASONS = ['oversized', 'invalid_json', 'invalid_event', 'missing_uuid', 'insert_failed'] as const;
export type DeadReason = (typeof DEAD_REASONS)[number];

/** The processing list of one receiver loop of one node. */
export function processingKey(queue: string, node: string, slot: number): string {
  return `${queue}:processing:${node}:${slot}`;
}

/** Where events that cannot be saved go, with the reason. */
export function deadLetterKey(queue: string): string {
  return `${queue}:dead`;
}

/** One dead-lettered event as stored in the dead-letter list (JSON). */
export interface DeadLetter {
  readonly reason: DeadReason;
  readonly detail: string;
  readonly node: string;
  readonly at: string;
  readonly payload: string;
}

/** How much of an oversized event its dead letter keeps. */
export const OVERSIZED_KEEP_BYTES = 4096;

/** The limits of one receiver's side of the queue. */
export interface EventQueueLimits {
  /** Events longer than this are dead-lettered as oversized, inside Redis. */
  readonly maxEventBytes: number;
  /** The dead list keeps its newest deadLetterMax entries; what the cap drops is reported. */
  readonly deadLetterMax: number;
}

/** The limits of a queue built without any (the config's defaults). */
export const DEFAULT_EVENT_QUEUE_LIMITS: EventQueueLimits = { maxEventBytes: 1024 * 1024, deadLetterMax: 10_000 };

/** One receiver's side of the queue. */
export class EventQueue {
  readonly #list: ReliableList;
  readonly #dead: string;
  readonly #node: string;
  readonly #limits: EventQueueLimits;

  constructor(redis: Redis, queue: string, node: string, slot: number, limits = DEFAULT_EVENT_QUEUE_LIMITS) {
    this.#list = new ReliableList(redis, { queue, processing: processingKey(queue, node, slot) });
    this.#dead = deadLetterKey(queue);
    this.#node = node;
    this.#limits = limits;
  }

  /** Moves up to n events into this receiver's processing list and returns them (see takeBounded for the rest). */
  async take(n: number): Promise<string[]> {
    return (await this.takeBounded(n, Number.MAX_SAFE_INTEGER, true)).items;
  }

  /**
   * Moves up to n events and at most `bytes` bytes of them into this receiver's processing list
   * (the first whatever its size when `firstAnyway`) and returns them, with the oversized events
   * it dead-lettered and the dead letters the cap dropped (both committed when this resolves).
   */
  async takeBounded(n: number, bytes: number, firstAnyway: boolean): Promise<BoundedTake> {
    return this.#list.takeBounded({
      count: n,
      bytes,
      firstAnyway,
      maxItemBytes: this.#limits.maxEventBytes,
      dead: this.#dead,
      deadMax: this.#limits.deadLetterMax,
      node: this.#node,
      at: new Date().toISOString(),
      keepBytes: OVERSIZED_KEEP_BYTES,
    });
  }

  /**
   * Waits up to timeoutMs for one event and moves it into the processing list; null when none
   * came, or when it was oversized: then it goes back to the head of the queue, unread, for the
   * next take to dead-letter.
   */
  async waitForOne(timeoutMs: number): Promise<string | null> {
    const bytes = await this.#list.waitForOneBytes(timeoutMs);
    if (bytes === null) return null;
    if (bytes.length > this.#limits.maxEventBytes) {
      await this.#list.returnLast();
      return null;
    }
    return bytes.toString('utf8');
  }

  /** What a previous run of this loop left in its processing list goes back to the head of the queue, to be taken again; how many. */
  async giveBackLeftover(): Promise<number> {
    return this.#list.giveBack();
  }

  /** What a previous run of this loop left in its processing list (handled again; duplicates are ignored). */
  async leftover(): Promise<string[]> {
    return this.#list.processingItems();
  }

  /**
   * Everything in the processing list is saved: dead-letter what could not be, trim the dead list
   * to its cap and empty the processing list, in one transaction; resolves, once it is committed,
   * to how many dead letters the cap dropped.
   */
  async done(deadLetters: readonly DeadLetter[]): Promise<{ dropped: number }> {
    const max = this.#limits.deadLetterMax;
    const replies = await this.#list.clear((tx) => {
      if (deadLetters.length === 0) return;
      tx.rpush(this.#dead, ...deadLetters.map((d) => JSON.stringify(d)));
      tx.ltrim(this.#dead, -max, -1);
    });
    // In the transaction, the trim right after the push removes whatever the push took past the cap.
    const length = typeof replies[0] === 'number' ? replies[0] : 0;
    return { dropped: Math.max(0, length - max) };
  }
}

/** Returns every processing list of this node to the head of the queue; the count of events given back. */
export async function giveBackProcessing(redis: Redis, queue: string, node: string): Promise<number> {
  return giveBackMatching(redis, queue, `${globEscape(`${queue}:processing:${node}:`)}*`);
}
