// The callback queue with at-least-once delivery. A receiver moves events from the queue into a
// processing list of its own, atomically, and deletes that list only after the database has
// committed what was in it; a node that crashed gets its processing lists back into the queue
// when it starts again. Unlike AWX's BLPOP, a crash loses nothing.
import type { Redis } from 'ioredis';

// Moves up to ARGV[1] events from the head of KEYS[1] to the tail of KEYS[2], in one step.
const TAKE = `
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items`;

// Puts a processing list back at the head of the queue, in its order, and deletes it.
const GIVE_BACK = `
local items = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
redis.call('DEL', KEYS[2])
return #items`;

/** Why the callback receiver dead-lettered an event (the `reason` label of its dead-letter counter). */
export const DEAD_REASONS = ['oversized', 'invalid_json', 'invalid_event', 'missing_uuid', 'insert_failed'] as const;
export type DeadReason = (typeof DEAD_REASONS)[number];

/** Lua unpack() has a limit on arguments; batches stay well under it. */
export const MAX_TAKE = 5000;

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
  readonly #redis: Redis;
  readonly #queue: string;
  readonly #processing: string;
  readonly #dead: string;

  constructor(redis: Redis, queue: string, node: string, slot: number) {
    this.#redis = redis;
    this.#queue = queue;
    this.#processing = processingKey(queue, node, slot);
    this.#dead = deadLetterKey(queue);
  }

  /** Moves up to n events into this receiver's processing list and returns them; [] when the queue is empty. */
  async take(n: number): Promise<string[]> {
    return (await this.#redis.eval(TAKE, 2, this.#queue, this.#processing, Math.min(n, MAX_TAKE))) as string[];
  }

  /** Waits up to timeoutMs for one event and moves it into the processing list. */
  async waitForOne(timeoutMs: number): Promise<string | null> {
    return this.#redis.blmove(this.#queue, this.#processing, 'LEFT', 'RIGHT', Math.max(timeoutMs, 1) / 1000);
  }

  /** What a previous run of this loop left in its processing list (handled again; duplicates are ignored). */
  async leftover(): Promise<string[]> {
    return this.#redis.lrange(this.#processing, 0, -1);
  }

  /** Everything in the processing list is saved: dead-letter what could not be, and empty the list, in one step. */
  async done(deadLetters: readonly DeadLetter[]): Promise<void> {
    const tx = this.#redis.multi();
    if (deadLetters.length > 0) tx.rpush(this.#dead, ...deadLetters.map((d) => JSON.stringify(d)));
    tx.del(this.#processing);
    await tx.exec();
  }
}

/** Puts one processing list back at the head of its queue, in order, and deletes it; how many items went back. */
export async function giveBackList(redis: Redis, queue: string, processing: string): Promise<number> {
  return (await redis.eval(GIVE_BACK, 2, queue, processing)) as number;
}

/** Returns every processing list of this node to the head of the queue; the count of events given back. */
export async function giveBackProcessing(redis: Redis, queue: string, node: string): Promise<number> {
  let given = 0;
  const pattern = `${queue}:processing:${node}:*`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 100);
    cursor = next;
    for (const key of keys) given += await giveBackList(redis, queue, key);
  } while (cursor !== '0');
  return given;
}
