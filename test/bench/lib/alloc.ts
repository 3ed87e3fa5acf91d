// Bytes allocated on this thread's V8 heap while something runs: what the heap holds at the end,
// minus what it held at the start, plus what every garbage collection in between freed
// (v8.GCProfiler reports each collection's heap before and after). No flags needed.
import { GCProfiler, getHeapStatistics } from 'node:v8';

/** Starts counting what this thread's heap allocates; stop() says how much, and over how many collections. */
export function countAllocation(): { stop(): { bytes: number; collections: number } } {
  const profiler = new GCProfiler();
  const before = getHeapStatistics().used_heap_size;
  profiler.start();
  return {
    stop() {
      const after = getHeapStatistics().used_heap_size;
      const stats = profiler.stop()?.statistics ?? [];
      let freed = 0;
      for (const gc of stats) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
      return { bytes: after - before + freed, collections: stats.length };
    },
  };
}

/** Runs fn n times (sequentially, awaiting each); the heap bytes allocated per call and the time per call. */
export async function perCall(n: number, fn: () => unknown): Promise<{ bytes: number; ms: number }> {
  const counting = countAllocation();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const ms = (performance.now() - t0) / n;
  return { bytes: counting.stop().bytes / n, ms };
}

/** 163_840 → "160 KB", 900 → "0.9 KB". */
export function fmtBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
}
