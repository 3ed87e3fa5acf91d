// The websockets service thread: relays this node's metrics to its peers (cluster metrics issue).
import { threadMetrics } from './thread-metrics.ts';
import { waitForStop } from './service-loop.ts';
import type { LoopTask } from '../src/task-messages.ts';

export const metrics = threadMetrics('websockets');

/** The relay loop (piscina task `loop`). */
export async function loop(task: LoopTask): Promise<void> {
  await waitForStop(task);
}
