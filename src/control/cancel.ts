// Canceling a job, wherever it is: a job not yet running is canceled at once; a running one is
// flagged, and the node running it is told over Redis to stop its process group; a workflow is
// flagged for the workflow manager, which cancels its nodes' jobs.
import { isFinished, type Job } from './model.ts';
import type { Submit } from './manager-env.ts';
import type { ControlStore } from './store.ts';

/** Redis channel on which nodes hear of jobs to stop (the message is the job id). */
export const CANCEL_CHANNEL = 'overseer:jobs:cancel';

export interface CancelDeps {
  readonly store: ControlStore;
  /** Publishes on CANCEL_CHANNEL. */
  readonly publish: (channel: string, message: string) => Promise<unknown>;
  readonly submit: Submit;
}

/** What came of a cancel request. */
export type CancelOutcome = 'canceled' | 'requested' | 'finished';

export async function cancelJob(deps: CancelDeps, job: Job): Promise<CancelOutcome> {
  if (isFinished(job.status)) return 'finished';
  const now = new Date().toISOString();
  if (job.type !== 'workflow_job') {
    const stopped = await deps.store.changeJob(job.id, ['pending', 'waiting'], {
      status: 'canceled',
      cancel_flag: true,
      finished: now,
      job_explanation: 'Canceled before it started.',
    });
    if (stopped) {
      if (job.workflow_job_id !== null) await deps.submit('workflow_manager', {}, { once: true });
      return 'canceled';
    }
  }
  await deps.store.changeJob(job.id, [], { cancel_flag: true });
  if (job.type === 'workflow_job') await deps.submit('workflow_manager', {}, { once: true });
  else await deps.publish(CANCEL_CHANNEL, String(job.id));
  return 'requested';
}
