// Plumbing shared by the job runners: a child in its own process group read line by line, and an in-order event pusher.
import { spawn } from 'node:child_process';
import type { Redis } from 'ioredis';
import { resolveProgram, sandboxArgs, sandboxProcesses, type Sandbox } from './sandbox.ts';

/** How long a process group gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 5000;
/** How often a stop looks again for a sandboxed command that bwrap has not started yet. */
const SANDBOX_LOOK_MS = 50;

/** How a process ended. */
export interface Exit {
  /** Exit code; null when it never started or was killed by a signal. */
  readonly code: number | null;
  /** The signal that killed it, if one did. */
  readonly signal: NodeJS.Signals | null;
  /** Why it could not be started (ENOENT, EACCES, ...). */
  readonly error?: NodeJS.ErrnoException;
  /** The abort signal fired before or while it ran. */
  readonly canceled: boolean;
}

/** A process started by {@link runInGroup}. */
export interface GroupProcess {
  /** Resolves once the process has ended and every line of its output was handed to onLine. */
  readonly exit: Promise<Exit>;
  /** SIGTERM to the process group, then SIGKILL if it still runs after a grace period. */
  stop(): void;
}

export interface GroupOptions {
  /** Variables added to the inherited environment (unsandboxed runs only: a sandbox has its own). */
  readonly env?: Readonly<Record<string, string>>;
  /** Runs the program in this sandbox, with nothing of the node's environment. */
  readonly sandbox?: Sandbox;
  /** Aborting it stops the process (or keeps it from starting). */
  readonly signal: AbortSignal;
  /** Each output line, stdout and stderr in order of arrival, without its line end; progress rewritten with \r keeps its last state. */
  readonly onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Called with the pid (= the process group id) once started. */
  readonly onSpawn?: (pid: number) => void;
}

/** Starts program in its own process group (detached), stdin ignored, output read line by line. */
export function runInGroup(program: string, args: readonly string[], options: GroupOptions): GroupProcess {
  if (options.signal.aborted) return { exit: Promise.resolve({ code: null, signal: null, canceled: true }), stop: () => {} };
  const { sandbox } = options;
  // In a sandbox a missing program would only show as bwrap's exit code: say it as spawn would.
  const resolved = sandbox ? resolveProgram(program) : program;
  if (resolved === undefined) {
    const error: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${program} ENOENT`), { code: 'ENOENT' });
    return { exit: Promise.resolve({ code: null, signal: null, error, canceled: false }), stop: () => {} };
  }
  const child = sandbox
    ? spawn(sandbox.bwrap, sandboxArgs(sandbox, resolved, args), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } })
    : spawn(program, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let running = child.pid !== undefined;
  let canceled = false;
  let killTimer: NodeJS.Timeout | undefined;
  let lookTimer: NodeJS.Timeout | undefined;
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      if (running) process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  };
  // In a sandbox SIGTERM goes to the command bwrap started, so that ansible-runner ends the
  // playbook itself as it would unsandboxed. Never to bwrap while it sets the sandbox up: killed
  // then, it can leave its init running on its own, holding the output open.
  const terminate = () => {
    if (!sandbox) return signal(-(child.pid as number), 'SIGTERM');
    const { command } = sandboxProcesses(child.pid as number);
    if (command !== undefined) signal(command, 'SIGTERM');
    else if (running) {
      lookTimer = setTimeout(terminate, SANDBOX_LOOK_MS);
      lookTimer.unref();
    }
  };
  // SIGKILL to the sandbox's init (pid 1 of its namespace) takes every process in it down; to the
  // group, bwrap itself (or the unsandboxed program's whole group).
  const kill = () => {
    clearTimeout(lookTimer);
    const init = sandbox ? sandboxProcesses(child.pid as number).init : undefined;
    if (init !== undefined) signal(init, 'SIGKILL');
    signal(-(child.pid as number), 'SIGKILL');
  };
  const stop = () => {
    if (!running || killTimer) return;
    terminate();
    killTimer = setTimeout(kill, KILL_GRACE_MS);
    killTimer.unref();
  };
  const onAbort = () => {
    canceled = true;
    stop();
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  readLines(child.stdout, (line) => options.onLine(line, 'stdout'));
  readLines(child.stderr, (line) => options.onLine(line, 'stderr'));
  const exit = new Promise<Exit>((resolve) => {
    const done = (result: Exit) => {
      running = false;
      clearTimeout(killTimer);
      clearTimeout(lookTimer);
      options.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) done({ code: null, signal: null, error, canceled });
    });
    child.once('close', (code, signal) => done({ code, signal, canceled }));
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  return { exit, stop };
}

/** Explains why a program could not be started, with the packages that bring it. */
export function cannotStart(what: string, program: string, packages: string, error: NodeJS.ErrnoException): string {
  const problem = error.code === 'ENOENT' ? 'not found' : error.code === 'EACCES' ? 'not executable' : `not startable (${error.message})`;
  return `${what} ${problem} ("${program}"): install it with apt-get install ${packages}`;
}

/** Calls onLine for each line of a text stream, including an unterminated last one. */
function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  const emit = (raw: string) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    onLine(line.slice(line.lastIndexOf('\r') + 1));
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    // Only scan the new chunk: a long line arriving in many chunks stays linear.
    if (!chunk.includes('\n')) {
      pending += chunk;
      return;
    }
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) emit(line);
  });
  stream.on('end', () => {
    if (pending !== '') emit(pending);
  });
}

/**
 * Pushes one job's events to the callback queue in order: one RPUSH in flight at a time, carrying every
 * event that arrived meanwhile. The first failed push stops it and is reported to onError.
 */
export class EventPusher {
  readonly #redis: Redis;
  readonly #queue: string;
  readonly #jobId: number;
  readonly #onError: (err: unknown) => void;
  #pending: string[] = [];
  #sending: Promise<void> | undefined;
  #failure: { readonly error: unknown } | undefined;

  constructor(redis: Redis, queue: string, jobId: number, onError: (err: unknown) => void = () => {}) {
    this.#redis = redis;
    this.#queue = queue;
    this.#jobId = jobId;
    this.#onError = onError;
  }

  /** Queues one event (JSON text) for pushing. */
  push(payload: string): void {
    if (this.#failure) return;
    this.#pending.push(payload);
    this.#sending ??= this.#drain();
  }

  async #drain(): Promise<void> {
    // Let the rest of the current output chunk join the first RPUSH.
    await null;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        await this.#redis.rpush(this.#queue, ...batch);
      }
    } catch (error) {
      this.#failure = { error };
      this.#pending = [];
      this.#onError(error);
    } finally {
      this.#sending = undefined;
    }
  }

  /** Waits for the queued events, then pushes the EOF; rejects with the first push error. */
  async end(finalCounter: number): Promise<void> {
    await this.#sending;
    if (this.#failure) throw this.#failure.error;
    await this.#redis.rpush(this.#queue, JSON.stringify({ event: 'EOF', job_id: this.#jobId, final_counter: finalCounter }));
  }
}

/** Keeps the last `max` characters of the lines given to it. */
export class Tail {
  readonly #max: number;
  #text = '';

  constructor(max: number) {
    this.#max = max;
  }

  add(line: string): void {
    this.#text = (this.#text + line + '\n').slice(-this.#max);
  }

  /** The kept text without its last line end, ANSI colour codes removed. */
  toString(): string {
    return this.#text.trimEnd().replace(/\x1b\[[0-9;]*m/g, '');
  }
}
