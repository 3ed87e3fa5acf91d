// The dispatcher's job metrics, recorded by whichever store's guarded UPDATE started or finished a
// job: a dispatcher thread running it, a manager, a cancel from the API, the restart recovery.
import type { Handles } from '../metrics/recorder.ts';
import type { JobObserver } from '../control/store.ts';
import { publishStatus, type Publisher } from '../live/status-publisher.ts';

/** Seconds from one ISO time to another; undefined when either is missing or unreadable. */
function secondsBetween(from: string | null, to: string | null): number | undefined {
  if (from === null || to === null) return undefined;
  const s = (Date.parse(to) - Date.parse(from)) / 1000;
  // A clock stepped back between the two writes must not make a negative observation.
  return Number.isFinite(s) ? Math.max(0, s) : undefined;
}

/** A job observer that counts finishes by type and status, and observes run times and start delays. */
export function jobMetrics(metrics: Handles<'dispatcher'>): JobObserver {
  return {
    started(job) {
      const delay = secondsBetween(job.created, job.started);
      if (delay !== undefined) metrics.jobStartDelay.labels(job.type).observe(delay);
    },
    finished(job) {
      metrics.jobsFinished.labels(job.type, job.status).inc();
      // A job canceled or failed before it started has no run time.
      const ran = secondsBetween(job.started, job.finished);
      if (ran !== undefined) metrics.jobDuration.labels(job.type).observe(ran);
    },
  };
}

/**
 * What every ControlStore of a node observes: the job metrics above, and every status change
 * published to live followers (websocket clients of any node) through `publisher`, a Redis
 * connection of the node (its command connection, not a subscriber).
 */
export function jobObservers(metrics: Handles<'dispatcher'>, publisher: Publisher): JobObserver {
  return { ...jobMetrics(metrics), changed: publishStatus(publisher) };
}
