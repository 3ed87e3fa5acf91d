// The live output's group names (AWX's: `job_events-42`, `jobs-status_changed`) and which Redis
// channel of src/live/live-messages.ts feeds each.
import { LIVE_JOBS_CHANNEL, eventsChannel } from './live-messages.ts';

/** Groups that receive a job's events, each under its own group_name (the same stream: job ids are shared by every kind of job). */
export const EVENT_GROUP_NAMES = ['job_events', 'project_update_events'] as const;

export const STATUS_GROUP = 'jobs-status_changed';
export const SUMMARY_GROUP = 'jobs-summary';
export const WORKFLOW_PREFIX = 'workflow_events-';

/** What feeds a group: a job's events channel (with the job), the status channel, or nothing here (AWX groups overseer has no source for). */
export function sourceOf(name: string): { readonly channel: string; readonly jobId?: number } | undefined {
  if (name === STATUS_GROUP || name === SUMMARY_GROUP || name.startsWith(WORKFLOW_PREFIX)) return { channel: LIVE_JOBS_CHANNEL };
  for (const g of EVENT_GROUP_NAMES) {
    if (name.startsWith(`${g}-`)) {
      const jobId = Number(name.slice(g.length + 1));
      return { channel: eventsChannel(jobId), jobId };
    }
  }
  return undefined;
}
