// A thin facade over one piscina pool per service. It hands each thread's metrics region to the
// service's aggregator, keeps the service's long-running loops running (restarting a failed one
// with backoff), counts threads and restarts, and drains on close.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { STORAGE_MODULES } from './storage/open.ts';
import { releaseStartupGarbage } from './startup-garbage.ts';
import { isRegionMessage } from './metrics/channel.ts';
import type { POOLED_SERVICES } from './services/names.ts';
import type { Handles } from './metrics/recorder.ts';
import type { ServiceMetrics } from './metrics/service-metrics.ts';

/** What a pool needs of its service's metrics: where thread regions come and go. */
type RegionSink = Pick<ServiceMetrics, 'attach' | 'detach'>;
import { STOP, type LoopTask } from './task-messages.ts';
import { OverseerError } from './errors.ts';
import type { Logger } from './logger.ts';

export type PooledService = (typeof POOLED_SERVICES)[number];

/** How a service's pool is built. */
export interface PoolSpec {
  readonly service: PooledService;
  /** The worker module (absolute path); it exports `loop(task: LoopTask)` when loops > 0. */
  readonly filename: string;
  readonly minThreads: number;
  readonly maxThreads: number;
  /** Long-running loops kept running, one per thread (0 for a pool that only runs tasks). */
  readonly loops: number;
  readonly idleTimeoutMs: number;
  /** Settings every thread of the pool reads at start (structured-cloned; SharedArrayBuffers are shared). */
  readonly workerData?: unknown;
}

/**
 * A loop holds its thread for good, so a loop pool's threads are never idle, except one whose loop
 * was retired by a shrink: it ends this long after.
 */
const RETIRED_THREAD_MS = 1_000;
const idleTimeoutOf = (size: PoolSize) => (size.loops > 0 ? RETIRED_THREAD_MS : size.idleTimeoutMs);

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A loop that ran this long before failing starts its backoff over. */
const BACKOFF_RESET_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;
/**
 * Pool threads run this much nicer than the supervisor's main thread, which serves every metrics
 * port and the API: with busy threads on few cores, a scrape otherwise waits for a CPU.
 */
export const THREAD_NICE = 10;

interface LoopSlot {
  /** Asked to stop for good: the pool shrank. */
  retired: boolean;
  stop: MessagePort | undefined;
  running: Promise<unknown> | undefined;
  restarts: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

// --- TypeScript in threads ----------------------------------------------------------------------
// Node strips a .ts module's types with a WebAssembly compiler that each thread instantiates on first
// use: about 11 MB per thread (npm run bench -- module-cost). Pool threads read their modules,
// stripped and compiled, from Node's compile cache instead, filled before the pool starts by a
// throwaway thread that loads the worker module's whole import graph without running any of it.
// The cache lives with the code (node_modules/.cache): whoever can write there can change the code.

const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/overseer-compile', import.meta.url));
/** A warm-up taking longer than this does not hold the start: threads then strip what is not cached. */
const WARM_UP_TIMEOUT_MS = 15_000;
/** Runs in the throwaway thread: the root's first import throws when run, before anything else runs. */
const WARM_UP = `
const { workerData } = require('node:worker_threads');
const { flushCompileCache } = require('node:module');
const root = "import 'data:text/javascript,throw 0';" + workerData.map((url) => ' import ' + JSON.stringify(url) + ';').join('');
import('data:text/javascript,' + encodeURIComponent(root)).catch(() => {}).finally(() => flushCompileCache());
`;
/** What threads load later than at start, and so outside their worker module's import graph. */
const LOADED_LATER = [...STORAGE_MODULES];

const warmed = new Map<string, Promise<void>>();

/** Fills the compile cache with a worker module's import graph, once per module and process. */
function warmUp(filename: string, env: NodeJS.ProcessEnv): Promise<void> {
  const url = filename.startsWith('file:') ? filename : pathToFileURL(filename).href;
  let done = warmed.get(url);
  if (done === undefined) {
    done = new Promise<void>((resolve) => {
      const worker = new Worker(WARM_UP, { eval: true, workerData: [url, ...LOADED_LATER], env });
      const timer = setTimeout(() => void worker.terminate(), WARM_UP_TIMEOUT_MS);
      worker.once('error', () => {}); // a module that does not load fails again, and is reported, in the pool
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    warmed.set(url, done);
  }
  return done;
}

/** The environment of a pool's threads, with the compile cache warmed for its worker module; undefined: as Node has it. */
async function threadEnv(filename: string): Promise<NodeJS.ProcessEnv | undefined> {
  if (process.env.NODE_DISABLE_COMPILE_CACHE !== undefined) return undefined;
  const dir = process.env.NODE_COMPILE_CACHE ?? CACHE_DIR;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
  } catch {
    return undefined; // a read-only install: threads strip their modules themselves
  }
  const env = { ...process.env, NODE_COMPILE_CACHE: dir };
  await warmUp(filename, env);
  return env;
}

const newSlot = (): LoopSlot => ({ retired: false, stop: undefined, running: undefined, restarts: 0, failures: 0, timer: undefined });

/** How large a pool is: what resize() changes while it runs. */
export type PoolSize = Pick<PoolSpec, 'minThreads' | 'maxThreads' | 'loops' | 'idleTimeoutMs'>;

/** One service's thread pool. */
export class ServicePool {
  /** How it was built, with its size as it is now. */
  spec: PoolSpec;
  #pool: Piscina | undefined;
  readonly #metrics: RegionSink;
  readonly #supervisor: Handles<'web'>;
  readonly #log: Logger;
  readonly #threads = new Set<number>();
  readonly #threadListeners: ((threads: number) => void)[] = [];
  readonly #loops: LoopSlot[];
  /** Loops a shrink retired, by slot, until they have ended. */
  readonly #retiring = new Map<number, Promise<void>>();
  #closing = false;
  #ready: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(spec: PoolSpec, metrics: RegionSink, supervisor: Handles<'web'>, log: Logger) {
    this.spec = spec;
    this.#metrics = metrics;
    this.#supervisor = supervisor;
    this.#log = log.child({ service: spec.service });
    this.#loops = Array.from({ length: spec.loops }, newSlot);
  }

  /** The piscina pool, made by start(): its threads read the worker module's compiled graph from the compile cache. */
  async #open(): Promise<Piscina> {
    const env = await threadEnv(this.spec.filename);
    if (this.#closing) throw new OverseerError('OVERSEER_START', `${this.spec.service}: stopped while starting`);
    const pool = new Piscina({
      filename: this.spec.filename,
      minThreads: this.spec.minThreads,
      maxThreads: this.spec.maxThreads,
      idleTimeout: idleTimeoutOf(this.spec),
      concurrentTasksPerWorker: 1,
      recordTiming: false,
      niceIncrement: THREAD_NICE,
      workerData: this.spec.workerData,
      ...(env === undefined ? {} : { env }),
    });
    pool.on('message', (m: unknown) => this.#onMessage(m));
    // A destroyed worker's id reads -1 by then, and piscina drops it from pool.threads just after
    // the event: reconcile on the next turn instead of trusting the event's id.
    pool.on('workerDestroy', () => setImmediate(() => this.#reconcile()));
    pool.on('error', (err: Error) => this.#onError(err));
    this.#pool = pool;
    return pool;
  }

  get #piscina(): Piscina {
    if (this.#pool === undefined) throw new OverseerError('OVERSEER_START', `${this.spec.service}: the pool has not started`);
    return this.#pool;
  }

  /** Threads alive now. */
  get threads(): number {
    return this.#threads.size;
  }

  /** Starts the loops and resolves once minThreads threads are up; rejects when a thread cannot start. */
  async start(): Promise<void> {
    await this.#open();
    const ready = new Promise<void>((resolve, reject) => (this.#ready = { resolve, reject }));
    const timer = setTimeout(
      () => this.#ready?.reject(new OverseerError('OVERSEER_START', `${this.spec.service}: threads not up within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    this.#loops.forEach((_, i) => this.#runLoop(i));
    this.#checkReady();
    try {
      await ready;
    } finally {
      clearTimeout(timer);
      this.#ready = undefined;
    }
    // The supervisor has loaded nearly all it will by now: it too gives back what loading left.
    releaseStartupGarbage();
  }

  /**
   * Runs one task in the pool (for task pools such as the dispatcher's). Aborting `signal` while
   * the task runs stops its thread.
   */
  run(task: unknown, name: string, options: { transferList?: readonly object[]; signal?: AbortSignal } = {}): Promise<unknown> {
    return this.#piscina.run(task, { name, ...(options.transferList ? { transferList: options.transferList as never } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  }

  /**
   * Changes the pool's size while it runs. More loops start at once, on new threads; loops beyond
   * the new count finish their work (a batch) and return, and their threads end. A task pool
   * grows to minThreads at once and, above it, with its tasks; threads above minThreads end after
   * idleTimeoutMs without a task.
   */
  resize(size: PoolSize): void {
    const was = this.spec;
    this.spec = { ...was, ...size };
    if (this.#pool === undefined) {
      // Not started: start() lays out the pool and its loops from the spec.
      this.#loops.length = Math.min(this.#loops.length, size.loops);
      while (this.#loops.length < size.loops) this.#loops.push(newSlot());
      return;
    }
    // piscina reads these live, at each spawn and each idle check.
    const options = this.#piscina.options as { minThreads: number; maxThreads: number; idleTimeout: number };
    options.maxThreads = size.maxThreads;
    options.minThreads = size.minThreads;
    options.idleTimeout = idleTimeoutOf(size);
    while (this.#loops.length < size.loops) {
      const state = newSlot();
      const slot = this.#loops.push(state) - 1;
      // A slot's processing list is its own: a new loop in it waits for the retiring one to end.
      const retiring = this.#retiring.get(slot);
      if (retiring === undefined) this.#runLoop(slot);
      else {
        void retiring.then(() => {
          if (!this.#closing && !state.retired && this.#loops[slot] === state) this.#runLoop(slot);
        });
      }
    }
    this.#loops.slice(size.loops).forEach((state, i) => {
      state.retired = true;
      clearTimeout(state.timer);
      state.stop?.postMessage(STOP);
      const slot = size.loops + i;
      const ended = Promise.resolve(state.running).then(() => {
        if (this.#retiring.get(slot) === ended) this.#retiring.delete(slot);
      });
      this.#retiring.set(slot, ended);
    });
    this.#loops.length = Math.min(this.#loops.length, size.loops);
    // A thread is reaped only as a task ends on it: one short task on each thread starts the
    // idle clock of those above the minimum, and spawns threads up to it.
    if (size.loops === 0 && (size.minThreads !== was.minThreads || size.idleTimeoutMs !== was.idleTimeoutMs)) {
      const touches = Math.min(size.maxThreads, Math.max(size.minThreads, this.#threads.size));
      for (let i = 0; i < touches; i++) this.#piscina.run(null, { name: 'noop' }).catch(() => {});
    }
    this.#log.info({ min_threads: size.minThreads, max_threads: size.maxThreads, loops: size.loops, idle_timeout_ms: size.idleTimeoutMs }, 'pool resized');
  }

  /** Calls listener with the thread count whenever a thread comes or goes. */
  onThreads(listener: (threads: number) => void): void {
    this.#threadListeners.push(listener);
  }

  #checkReady(): void {
    if (this.#threads.size >= this.spec.minThreads) this.#ready?.resolve();
  }

  // A thread is up once it has announced its metrics region (every worker module does so as it loads).
  #onMessage(message: unknown): void {
    if (!isRegionMessage(message)) {
      this.#log.warn({ message }, 'unexpected message from a thread');
      return;
    }
    try {
      this.#metrics.attach(message.threadId, message.buffer);
    } catch (err) {
      this.#log.error({ err }, 'thread metrics region rejected');
      return;
    }
    this.#threads.add(message.threadId);
    this.#log.debug({ thread: message.threadId, threads: this.#threads.size }, 'thread started');
    this.#reconcile(); // the announcement may arrive after its thread has already ended (and tells the listeners)
    this.#checkReady();
  }

  /** Forgets threads that are no longer in the pool, keeping what they counted. */
  #reconcile(): void {
    const live = new Set((this.#pool?.threads ?? []).map((t) => t.threadId));
    for (const id of this.#threads) {
      if (live.has(id)) continue;
      this.#threads.delete(id);
      this.#metrics.detach(id);
      this.#log.debug({ thread: id, threads: this.#threads.size }, 'thread ended');
    }
    this.#supervisor.threads.labels(this.spec.service).set(this.#threads.size);
    for (const listener of this.#threadListeners) listener(this.#threads.size);
  }

  #onError(err: Error): void {
    this.#log.error({ err }, 'thread failed');
    // A thread that fails while the pool starts would fail again: that is a start error.
    this.#ready?.reject(new OverseerError('OVERSEER_START', `${this.spec.service}: a thread failed to start: ${err.message}`));
  }

  #runLoop(slot: number): void {
    const state = this.#loops[slot] as LoopSlot;
    const { port1, port2 } = new MessageChannel();
    state.stop = port1;
    const task: LoopTask = { stop: port2, slot, restarts: state.restarts };
    const startedAt = Date.now();
    const settle = (err: unknown) => {
      port1.close();
      state.stop = undefined;
      state.running = undefined;
      if (this.#closing) return;
      if (state.retired) {
        this.#log.info({ slot }, 'service loop retired');
        return;
      }
      this.#loopFailed(slot, err ?? new Error('the loop returned without being asked to stop'), Date.now() - startedAt);
    };
    state.running = this.#piscina.run(task, { name: 'loop', transferList: [port2] as never }).then(
      () => settle(undefined),
      (err: unknown) => settle(err),
    );
  }

  #loopFailed(slot: number, err: unknown, ranMs: number): void {
    const state = this.#loops[slot] as LoopSlot;
    state.failures = ranMs >= BACKOFF_RESET_MS ? 1 : state.failures + 1;
    const wait = Math.min(BACKOFF_FIRST_MS * 2 ** (state.failures - 1), BACKOFF_MAX_MS);
    state.restarts += 1;
    this.#supervisor.threadRestarts.labels(this.spec.service).inc();
    this.#log.error({ err, slot, restarts: state.restarts, retry_in_ms: wait }, 'service loop failed; restarting it');
    if (this.#ready && this.#threads.size === 0) {
      // No thread ever came up: the worker module itself is broken, and retrying will not mend it.
      this.#ready.reject(new OverseerError('OVERSEER_START', `${this.spec.service}: threads cannot start: ${(err as Error)?.message ?? err}`));
      return;
    }
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!this.#closing) this.#runLoop(slot);
    }, wait);
  }

  /**
   * Asks the loops to stop and waits for running work to finish, up to timeoutMs; then stops the
   * threads. Resolves true when everything finished in time. Idempotent.
   */
  async close(timeoutMs: number): Promise<boolean> {
    if (this.#closing) return true;
    this.#closing = true;
    // A start still waiting for threads (another pool failed first) ends now, not at its timeout.
    this.#ready?.reject(new OverseerError('OVERSEER_START', `${this.spec.service}: stopped while starting`));
    for (const state of this.#loops) {
      clearTimeout(state.timer);
      state.stop?.postMessage(STOP);
    }
    const work = Promise.allSettled([
      ...this.#loops.map((s) => s.running),
      ...this.#retiring.values(),
      this.#pool?.close({ force: false }),
    ]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([work, timedOut]);
    clearTimeout(timer);
    if (!drained) this.#log.warn({ timeout_ms: timeoutMs }, 'threads did not finish in time; stopping them');
    await this.#pool?.destroy();
    this.#reconcile(); // every thread has ended: what they counted is folded in now, not on a later turn
    return drained;
  }
}
