import type { ServiceName } from '../src/services/names.ts';
import { announceRegion } from '../src/metrics/channel.ts';
import { layoutOf } from '../src/metrics/layout.ts';
import { createRecorder, type Handles } from '../src/metrics/recorder.ts';

/**
 * This thread's recording handles for a service; the supervisor is told where they write.
 * `peers` (the names of cluster.peers) must be what the supervisor was configured with.
 */
export function threadMetrics<S extends ServiceName>(service: S, peers: readonly string[] = []): Handles<S> {
  const recorder = createRecorder(service, layoutOf(service, peers));
  announceRegion(service, recorder.buffer);
  return recorder.metrics;
}
