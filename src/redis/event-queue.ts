// The callback queue with at-least-once delivery. A receiver moves events from the queue into a
// processing list of its own, atomically, and deletes that list only after the database has
// committed what was in it; a node that crashed gets its processing lists back into the queue
// when it starts again. Unlike AWX's BLPOP, a crash loses nothing.
import type { Redis } from 'ioredis';
import { ReliableList, giveBackMatching, globEscape } from './reliable-list.ts';

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

/** One receiver's side of the queue. */
export class EventQueue {
  readonly #list: ReliableList;
  readonly #dead: string;

  constructor(redis: Redis, queue: string, node: string, slot: number) {
    this.#list = new ReliableList(redis, { queue, processing: processingKey(queue, node, slot) });
    this.#dead = deadLetterKey(queue);
  }

  /** Moves up to n events into this receiver's processing list and returns them; [] when the queue is empty. */
  async take(n: number): Promise<string[]> {
    return this.#list.take(n);
  }

  /** Waits up to timeoutMs for one event and moves it into the processing list. */
  async waitForOne(timeoutMs: number): Promise<string | null> {
    return this.#list.waitForOne(timeoutMs);
  }

  /** What a previous run of this loop left in its processing list (handled again; duplicates are ignored). */
  async leftover(): Promise<string[]> {
    return this.#list.processingItems();
  }

  /** Everything in the processing list is saved: dead-letter what could not be, and empty the list, in one step. */
  async done(deadLetters: readonly DeadLetter[]): Promise<void> {
    await this.#list.clear((tx) => {
      if (deadLetters.length > 0) tx.rpush(this.#dead, ...deadLetters.map((d) => JSON.stringify(d)));
    });
  }
}

/** Returns every processing list of this node to the head of the queue; the count of events given back. */
export async function giveBackProcessing(redis: Redis, queue: string, node: string): Promise<number> {
  return giveBackMatching(redis, queue, `${globEscape(`${queue}:processing:${node}:`)}*`);
}
