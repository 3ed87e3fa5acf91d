import type { ServiceName } from '../src/metrics/catalog.ts';
import { announceRegion } from '../src/metrics/channel.ts';
import { createRecorder, type Handles } from '../src/metrics/recorder.ts';

/** This thread's recording handles for a service; the supervisor is told where they write. */
export function threadMetrics<S extends ServiceName>(service: S): Handles<S> {
  const recorder = createRecorder(service);
  announceRegion(service, recorder.buffer);
  return recorder.metrics;
}
