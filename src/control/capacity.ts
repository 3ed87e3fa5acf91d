// A node's capacity in forks, as AWX computes it when it is not configured: 4 forks per CPU, or
// one per 100 MB of memory above 2 GB, whichever is larger (AWX's capacity_adjustment of 1).
import { availableParallelism, totalmem } from 'node:os';

const FORKS_PER_CPU = 4;
const MB_PER_FORK = 100;
const RESERVED_MB = 2048;

/** `configured`, or AWX's figure for this machine when it is 0. */
export function nodeCapacity(configured: number): number {
  if (configured > 0) return configured;
  const cpu = availableParallelism() * FORKS_PER_CPU;
  const mem = Math.floor((totalmem() / 2 ** 20 - RESERVED_MB) / MB_PER_FORK);
  return Math.max(cpu, mem, 1);
}
