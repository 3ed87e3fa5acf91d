// What a manager run is given: the database, this node, a way to queue tasks, and a deadline.
import type { TaskName } from '../dispatch/task-names.ts';
import type { TaskArgs } from '../task-messages.ts';
import type { ControlStore } from './store.ts';
import type { Job } from './model.ts';

export type Submit = (name: TaskName, args?: TaskArgs, options?: { once?: boolean; id?: string }) => Promise<boolean>;

export interface ManagerEnv {
  readonly store: ControlStore;
  /** This node's name: the task manager starts jobs here. */
  readonly node: string;
  /** This node's capacity in forks. */
  readonly capacity: number;
  readonly submit: Submit;
  /** Cancels a job (see cancel.ts). */
  readonly cancel: (job: Job) => Promise<unknown>;
  /** Unix ms by which a run stops early, keeping what it did (AWX's TASK_MANAGER_TIMEOUT). */
  readonly deadline: number;
}

/** Seconds since `from` (a performance.now() reading). */
export const secondsSince = (from: number): number => (performance.now() - from) / 1000;
