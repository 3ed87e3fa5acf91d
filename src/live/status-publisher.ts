// Job status changes to live followers: every status a ControlStore writes (src/control/store.ts,
// its observer's `changed`) is published on the status channel, in AWX's shape
// (UnifiedJob._websocket_emit_status): {"group_name": "jobs", "type", "unified_job_id", "status", …}.
// A status change is rare next to events, so it is published whether or not anyone follows.
import type { JobChange } from '../control/store.ts';
import { isFinished } from '../control/model.ts';
import { LIVE_JOBS_CHANNEL, encodeStatus, type StatusMessage } from './live-messages.ts';

/** Where status changes are published: a Redis connection (ioredis' publish). */
export interface Publisher {
  publish(channel: string, message: string): Promise<unknown>;
}

/** AWX's status message for a job that has just changed. */
export function statusMessage(job: JobChange): StatusMessage {
  const template = job.type === 'job' ? job.job_template_id : job.type === 'workflow_job' ? job.workflow_job_template_id : job.project_id;
  return {
    group_name: 'jobs',
    type: job.type,
    unified_job_id: job.id,
    status: job.status,
    ...(template === null ? {} : { unified_job_template_id: template }),
    ...(job.type === 'project_update' && job.project_id !== null ? { project_id: job.project_id } : {}),
    ...(job.workflow_job_id === null ? {} : { workflow_job_id: job.workflow_job_id }),
    ...(isFinished(job.status) && job.finished !== null ? { finished: job.finished } : {}),
  };
}

/** The observer's `changed`: publishes each change, never waiting and never failing the write that made it. */
export function publishStatus(publisher: Publisher): (job: JobChange) => void {
  return (job) => {
    publisher.publish(LIVE_JOBS_CHANNEL, encodeStatus(statusMessage(job))).catch(() => {
      // The change is in the database; only its live copy is lost (Redis down: the node says so elsewhere).
    });
  };
}
