// A callback receiver thread. Moving events from Redis into the database arrives with the
// callback receiver issue; until then the thread records into its announced region and waits.
import { threadMetrics } from './thread-metrics.ts';
import { waitForStop } from './service-loop.ts';
import type { LoopTask } from '../src/task-messages.ts';

export const metrics = threadMetrics('callback_receiver');

/** The receiver loop (piscina task `loop`). */
export async function loop(task: LoopTask): Promise<void> {
  await waitForStop(task);
}
