// The dispatcher's durable task queue: one Redis list per node. A task moves atomically into the
// node's processing list when the dispatcher takes it and leaves it only when it has finished, so
// a task survives a crash of the supervisor (it is given back at the next start) and, taken by
// one dispatcher at a time, never runs twice at once. Unlike AWX's pg_notify, nothing is lost
// when nobody listens, and there is no 8 KB limit.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TASK_NAMES, type TaskName } from './task-names.ts';
import { giveBackList } from '../redis/event-queue.ts';
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

/** Lua unpack() has a limit on arguments; a take stays well under it. */
const MAX_TAKE = 1000;

/** How long a "queued once" marker lives at most, should its task be lost with its Redis. */
const ONCE_TTL_MS = 600_000;

// Queues a task; with ARGV[2] = '1' only when no such task waits already (the marker KEYS[2] says).
const SUBMIT = `
if ARGV[2] == '1' and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1`;

// Moves up to ARGV[1] tasks from the head of KEYS[1] to the tail of KEYS[2] in one step, and
// clears the "queued once" marker (ARGV[2] .. name) of each it takes.
const TAKE = `
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
  for _, item in ipairs(items) do
    local ok, task = pcall(cjson.decode, item)
    if ok and type(task) == 'table' and task.once and type(task.name) == 'string' then redis.call('DEL', ARGV[2] .. task.name) end
  end
end
return items`;

/** Redis keys of one node's queue. */
export function queueKeys(node: string) {
  const queue = `overseer:dispatcher:${node}`;
  return {
    queue,
    processing: `${queue}:processing`,
    oncePrefix: `${queue}:once:`,
    once: (name: string) => `${queue}:once:${name}`, // oncePrefix + name, as the TAKE script builds it
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
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof queueKeys>;

  constructor(redis: Redis, node: string) {
    this.#redis = redis;
    this.#keys = queueKeys(node);
  }

  /**
   * Queues a task (with `id`, or a new one). `once`: skipped (resolves false) when the same task
   * already waits to run.
   */
  async submit(name: TaskName, args: TaskArgs = {}, options: { once?: boolean; id?: string } = {}): Promise<boolean> {
    const task: Task = { id: options.id ?? randomUUID(), name, args, queued_at: Date.now(), ...(options.once ? { once: true as const } : {}) };
    const done = await this.#redis.eval(SUBMIT, 2, this.#keys.queue, this.#keys.once(name), JSON.stringify(task), options.once ? '1' : '0', ONCE_TTL_MS);
    return done === 1;
  }

  /**
   * Moves up to max tasks into the processing list and returns them; when the queue is empty,
   * waits up to timeoutMs for one (a blocking connection). [] when none came.
   */
  async take(max: number, timeoutMs: number): Promise<string[]> {
    const k = this.#keys;
    const taken = (await this.#redis.eval(TAKE, 2, k.queue, k.processing, Math.min(max, MAX_TAKE), k.oncePrefix)) as string[];
    if (taken.length > 0) return taken;
    const raw = await this.#redis.blmove(k.queue, k.processing, 'LEFT', 'RIGHT', Math.max(timeoutMs, 1) / 1000);
    if (raw === null) return [];
    const task = parseTask(raw);
    // From now on, another request for it must queue another run.
    if (task?.once) await this.#redis.del(k.once(task.name));
    return [raw];
  }

  /** The task has finished: it leaves the processing list. */
  async done(raw: string): Promise<void> {
    await this.#redis.lrem(this.#keys.processing, 1, raw);
  }

  async length(): Promise<number> {
    return this.#redis.llen(this.#keys.queue);
  }

  /** At start: what a stopped run was running goes back to the head of the queue; returns how many. */
  async giveBack(): Promise<number> {
    // A marker whose task was given back still stands for it; one whose task was lost would only delay a run until its TTL.
    return giveBackList(this.#redis, this.#keys.queue, this.#keys.processing);
  }
}
