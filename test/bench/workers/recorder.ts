// Ours: a piscina thread of the benchmark's service. Like a real service thread it announces its
// SharedArrayBuffer region at start and records into it with plain stores; its loop records once
// (idle) or records in 1 ms slices until the pool closes (busy). The mode comes from the
// environment the pool's threads start with: OVERSEER_BENCH_MODE=idle|busy.
import { once } from 'node:events';
import { announceRegion } from '../../../src/metrics/channel.ts';
import { createRecorder } from '../../../src/metrics/recorder.ts';
import { stopSignal, type LoopTask } from '../../../src/task-messages.ts';
import { BENCH_LAYOUT, busyOps, isMode, recordOnce, runBusy, type BenchHandles } from '../lib/bench-metrics.ts';

const recorder = createRecorder('dispatcher', BENCH_LAYOUT);
announceRegion('dispatcher', recorder.buffer);
const metrics = recorder.metrics as unknown as BenchHandles;
const byKey = (key: string) => (metrics as unknown as Record<string, unknown>)[key];

const mode = process.env.OVERSEER_BENCH_MODE;
if (!isMode(mode)) throw new Error(`OVERSEER_BENCH_MODE is ${JSON.stringify(mode)}; expected idle or busy`);

/** The service loop (piscina task `loop`). */
export async function loop(task: LoopTask): Promise<void> {
  const signal = stopSignal(task.stop);
  recordOnce(byKey);
  if (mode === 'busy') await runBusy(busyOps(byKey), signal);
  else if (!signal.aborted) await once(signal, 'abort');
}
