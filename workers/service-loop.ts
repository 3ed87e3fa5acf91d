import { once } from 'node:events';
import { stopSignal, type LoopTask } from '../src/task-messages.ts';

/**
 * The loop of a service whose work is not built yet: it holds its thread, with its metrics
 * region announced, until the supervisor stops it.
 */
export async function waitForStop(task: LoopTask): Promise<void> {
  const signal = stopSignal(task.stop);
  if (!signal.aborted) await once(signal, 'abort');
}
