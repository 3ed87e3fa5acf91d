import type { ServiceName } from '../src/services/names.ts';
import { announceRegion } from '../src/metrics/channel.ts';
import { layoutOf } from '../src/metrics/layout.ts';
import { createRecorder, type Handles } from '../src/metrics/recorder.ts';
import { releaseStartupGarbage } from '../src/startup-garbage.ts';

/**
 * This thread's recording handles for a service; the supervisor is told where they write.
 * `peers` (the names of cluster.peers) must be what the supervisor was configured with.
 * Called once, by each thread's worker module as it loads: the thread's modules are loaded by
 * then, and it gives back the memory their loading left behind.
 */
export function threadMetrics<S extends ServiceName>(service: S, peers: readonly string[] = []): Handles<S> {
  const recorder = createRecorder(service, layoutOf(service, peers));
  announceRegion(service, recorder.buffer);
  releaseStartupGarbage();
  return recorder.metrics;
}
