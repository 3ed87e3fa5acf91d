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

/** What every service thread is told (each service's settings add their own). */
export interface ThreadSettings {
  readonly nodeName: string;
  /** The node's log level, shared: it follows config reloads (see followLevel in src/logger.ts). */
  readonly logLevel: SharedArrayBuffer;
  readonly redisUrl: string;
}

/** What a dispatcher task reads of the config that a reload may change: it travels with each task. */
export interface TaskLimits {
  /** This node's capacity in forks. */
  readonly capacity: number;
  readonly managerTimeoutMs: number;
  readonly managerGraceMs: number;
  /** retention.days: finished jobs older than this are deleted (0: kept). */
  readonly retentionDays: number;
}

/**
 * One dispatcher task as handed to a thread: the queued task (parsed), the limits in force now and,
 * for a job, a port on which the dispatcher may say CANCEL or STOP.
 */
export interface TaskMessage {
  readonly task: { readonly id: string; readonly args: TaskArgs };
  readonly control: MessagePort | undefined;
  readonly limits: TaskLimits;
}

/** Sent on a running job's control port: the user canceled it. */
export const CANCEL = 'cancel';

/** What a dispatcher task is about (a job's id for run_job and run_project_update). */
export interface TaskArgs {
  readonly job_id?: number;
}
