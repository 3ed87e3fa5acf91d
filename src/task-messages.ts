// Task shapes that cross the thread boundary between the supervisor and its pools. Both sides import this module.
import type { MessagePort } from 'node:worker_threads';

/** Starts one long-running service loop in a pool thread (piscina task `loop`). */
export interface LoopTask {
  /** The supervisor posts STOP on this port when the loop should finish its work and return. */
  readonly stop: MessagePort;
  /** Which of the service's loops this is, 0-based. */
  readonly slot: number;
  /** How many times this loop was restarted after a failure. */
  readonly restarts: number;
}

export const STOP = 'stop';

/** An AbortSignal that fires when the supervisor asks the loop to stop (worker side). */
export function stopSignal(port: MessagePort): AbortSignal {
  const controller = new AbortController();
  port.once('message', (m) => {
    if (m === STOP) controller.abort();
  });
  controller.signal.addEventListener('abort', () => port.close(), { once: true });
  return controller.signal;
}

/** What a callback receiver thread needs to know (piscina workerData of its pool). */
export interface ReceiverSettings {
  readonly nodeName: string;
  readonly logLevel: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly dataDir: string;
  readonly queue: string;
  readonly batchSize: number;
  readonly bufferMs: number;
  readonly maxEventBytes: number;
  /** The process-wide SQLite write lock (see src/storage/write-lock.ts). */
  readonly sqliteLock: SharedArrayBuffer;
}

/** What the websockets (relay) thread needs to know (piscina workerData of its pool). */
export interface RelaySettings {
  readonly nodeName: string;
  readonly logLevel: string;
  readonly redisUrl: string;
  readonly mode: 'shared_redis' | 'relay';
  readonly peers: readonly { readonly name: string; readonly url: string }[];
  readonly secret: string;
}

/** What a dispatcher thread needs to know (piscina workerData of its pool). */
export interface DispatcherSettings {
  readonly nodeName: string;
  readonly logLevel: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly dataDir: string;
  /** The process-wide SQLite write lock (see src/storage/write-lock.ts). */
  readonly sqliteLock: SharedArrayBuffer;
  /** Where jobs push their events (the callback receiver's queue). */
  readonly callbackQueue: string;
  /** This node's capacity in forks. */
  readonly capacity: number;
  /** Jobs this node runs at once at most (max_workers less one thread kept for the managers). */
  readonly maxJobs: number;
  readonly managerTimeoutMs: number;
  readonly managerGraceMs: number;
  /** The ansible-runner and git programs. */
  readonly ansibleRunner: string;
  readonly git: string;
}

/** One dispatcher task as handed to a thread: the queued task (parsed) and, for a job, a port on which the dispatcher may say CANCEL or STOP. */
export interface TaskMessage {
  readonly task: { readonly id: string; readonly args: TaskArgs };
  readonly control: MessagePort | undefined;
}

/** Sent on a running job's control port: the user canceled it. */
export const CANCEL = 'cancel';

/** What a dispatcher task is about (a job's id for run_job and run_project_update). */
export interface TaskArgs {
  readonly job_id?: number;
}
