// The dispatcher's durable task queue: one Redis list per node. A task moves atomically into the
// node's processing list when the dispatcher takes it and leaves it only when it has finished, so
// a task survives a crash of the supervisor (it is given back at the next start) and, taken by
// one dispatcher at a time, never runs twice at once. Unlike AWX's pg_notify, nothing is lost
// when nobody listens, and there is no 8 KB limit.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TASK_NAMES, type TaskName } from './task-names.ts';
import { ReliableList } from '../redis/reliable-list.ts';
import type { TaskArgs } from '../task-messages.ts';

/** One task as queued (JSON). */
export interface Task {
  readonly id: string;
  readonly name: TaskName;
  readonly args: TaskArgs;
  /** Unix ms when it was queued. */
  readonly queued_at: number;
  /** Set for tasks queued at most once at a time (the managers): a later request while it waits is folded into it. */
  readonly once?: true;
}

/** How long a "queued once" marker lives at most, should its task be lost with its Redis. */
const ONCE_TTL_MS = 600_000;

/** Redis keys of one node's queue. */
export function queueKeys(node: string) {
  const queue = `overseer:dispatcher:${node}`;
  return {
    queue,
    processing: `${queue}:processing`,
    oncePrefix: `${queue}:once:`,
    once: (name: string) => `${queue}:once:${name}`, // oncePrefix + name, as a take builds it
  };
}

/** Parses a queued task; undefined when it is not one. */
export function parseTask(raw: string): Task | undefined {
  try {
    const t = JSON.parse(raw) as Partial<Task>;
    if (typeof t.id !== 'string' || !TASK_NAMES.includes(t.name as TaskName) || typeof t.args !== 'object' || t.args === null) return undefined;
    return t as Task;
  } catch {
    return undefined;
  }
}

/** A node's task queue. Producers (API, managers, jobs) submit; the node's dispatcher takes. */
export class TaskQueue {
  readonly #list: ReliableList;

  constructor(redis: Redis, node: string) {
    const k = queueKeys(node);
    this.#list = new ReliableList(redis, { queue: k.queue, processing: k.processing, oncePrefix: k.oncePrefix });
  }

  /**
   * Queues a task (with `id`, or a new one). `once`: skipped (resolves false) when the same task
   * already waits to run.
   */
  async submit(name: TaskName, args: TaskArgs = {}, options: { once?: boolean; id?: string } = {}): Promise<boolean> {
    const task: Task = { id: options.id ?? randomUUID(), name, args, queued_at: Date.now(), ...(options.once ? { once: true as const } : {}) };
    return this.#list.push(JSON.stringify(task), options.once ? { name, ttlMs: ONCE_TTL_MS } : undefined);
  }

  /**
   * Moves up to max tasks into the processing list and returns them; when the queue is empty,
   * waits up to timeoutMs for one (a blocking connection). [] when none came. The "queued once"
   * marker of a task taken is cleared: from then on, another request for it queues another run.
   */
  async take(max: number, timeoutMs: number): Promise<string[]> {
    if (max < 1) return [];
    const taken = await this.#list.take(max);
    if (taken.length > 0) return taken;
    const raw = await this.#list.waitForOne(timeoutMs);
    return raw === null ? [] : [raw];
  }

  /** The task has finished: it leaves the processing list. */
  async done(raw: string): Promise<void> {
    await this.#list.remove(raw);
  }

  /** Tasks waiting to be taken. */
  async length(): Promise<number> {
    return this.#list.length();
  }

  /** At start: what a stopped run was running goes back to the head of the queue; returns how many. */
  async giveBack(): Promise<number> {
    // A marker whose task was given back still stands for it; one whose task was lost would only delay a run until its TTL.
    return this.#list.giveBack();
  }
}
