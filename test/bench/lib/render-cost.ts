// What rendering the benchmark's port costs by itself, in this thread, without HTTP: time and heap
// bytes allocated per render, ours (the bytes a port sends, and as a string) against prom-client's
// registries writing the same families (what the ports did before), with values still and moving.
import { ServiceMetrics } from '../../../src/metrics/service-metrics.ts';
import { ServiceExposition } from '../../../src/metrics/exposition.ts';
import { createRecorder } from '../../../src/metrics/recorder.ts';
import { BENCH_LAYOUT, busyOps, recordOnce, type BusyOps } from './bench-metrics.ts';
import { perCall } from './alloc.ts';

/** One way of rendering and what it cost. */
export interface RenderCost {
  readonly name: string;
  /** Values unchanged between renders. */
  readonly still: { readonly bytes: number; readonly ms: number };
  /** The busy loop's 7 series changed before each render. */
  readonly moving: { readonly bytes: number; readonly ms: number };
}

const WARMUP = 500;
const COUNT = 2_000;

/** Renders the bench port with `regions` thread regions, each recorded once (as the bench's threads do). */
export async function renderCosts(regions: number): Promise<{ bodyBytes: number; costs: RenderCost[] }> {
  const metrics = new ServiceMetrics('dispatcher', BENCH_LAYOUT);
  let ops: BusyOps | undefined;
  for (let t = 0; t < regions; t++) {
    const recorder = createRecorder('dispatcher', BENCH_LAYOUT);
    metrics.attach(t, recorder.buffer);
    const byKey = (key: string) => (recorder.metrics as unknown as Record<string, unknown>)[key];
    recordOnce(byKey);
    ops ??= busyOps(byKey);
  }
  const busy = ops as BusyOps;
  let unit = 0;
  const move = () => {
    unit++;
    busy.c1.inc();
    busy.c2.inc();
    busy.c3.inc(2);
    busy.g1.set(unit % 1000);
    busy.g2.set((unit % 1000) / 1000);
    busy.g3.set(unit % 16);
    busy.h.observe(unit % 1000);
  };
  const exposition = new ServiceExposition(metrics.sources());
  const ways: [string, () => Promise<unknown>][] = [
    ['ours', async () => (await exposition.renderBytes(undefined)).release()],
    ['ours as a string', () => exposition.render(undefined)],
    ['prom-client', () => exposition.renderWithPromClient(undefined)],
  ];
  const costs: RenderCost[] = [];
  for (const [name, render] of ways) {
    await perCall(WARMUP, render);
    const still = await perCall(COUNT, render);
    const moving = await perCall(COUNT, () => {
      move();
      return render();
    });
    costs.push({ name, still, moving });
  }
  const bodyBytes = Buffer.byteLength((await exposition.render(undefined)).body);
  return { bodyBytes, costs };
}
