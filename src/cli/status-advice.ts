// What `npm run status` advises, from the figures of each node: one rule per situation, each
// naming the metric and the threshold it read, and the config key (or the action) that helps.
import type { NodeStatus } from './cluster-status.ts';

/** The thresholds behind the advice, in one place (the README lists them). */
export const THRESHOLDS = {
  /** Event lag p99 above this, with a growing queue, means the receiver falls behind. */
  lagP99Seconds: 2,
  /** CPU below this share of the machine's CPUs counts as idle: more threads can use it. */
  cpuIdleShare: 0.5,
  /** CPU at or above this share of the machine's CPUs counts as saturated. */
  cpuSaturatedShare: 0.85,
  /** dispatcher_availability below this over the window: no idle thread to take a task. */
  dispatcherAvailability: 0.1,
} as const;

const s = (n: number, digits = 1) => n.toFixed(digits);
/** A rate as people read it: 0.4, 12, 1,500. */
const perS = (n: number) => (Math.abs(n) < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));

/** The advice for these nodes; cpus is the machine's CPU count when known (status on the node's own machine, or --cpus). */
export function statusAdvice(nodes: readonly NodeStatus[], cpus: number | undefined): string[] {
  const advice: string[] = [];
  for (const n of nodes) {
    const at = `${n.name}:`;
    if (n.status !== 'healthy') {
      advice.push(
        `${at} check the node: /api/v2/instances/ says ${n.status} (${n.ageSeconds === null ? 'no snapshot ever' : `newest snapshot ${s(n.ageSeconds)} s old`}; healthy is a snapshot within 2 snapshot intervals). Is it running, and does it reach the cluster's Redis${n.status === 'lost' ? '' : ' (or its relay peers)'}?`,
      );
      continue;
    }
    const cpuShare = cpus === undefined || n.cpuCores === null ? null : n.cpuCores / cpus;
    const cpuText = n.cpuCores === null ? '' : `process_cpu_seconds_total rate ${s(n.cpuCores, 2)} cores${cpus === undefined ? '' : ` of ${cpus} CPUs`}`;
    const saturated = cpuShare !== null && cpuShare >= THRESHOLDS.cpuSaturatedShare;
    if (saturated) {
      advice.push(`${at} CPU is saturated (${cpuText}, ≥ ${THRESHOLDS.cpuSaturatedShare * 100}%): more threads will not help; add a node (and spread the jobs across the cluster).`);
    }
    const growing = n.queueGrowthPerSecond !== null && n.queueGrowthPerSecond > 0 && (n.queue ?? 0) > 0;
    const slow = n.lagP99Seconds !== null && n.lagP99Seconds > THRESHOLDS.lagP99Seconds;
    if (growing && slow && !saturated) {
      const workers = n.threads.callback_receiver;
      const idle = cpuShare === null ? '(CPU not checked: give --cpus N for a node on another machine)' : cpuShare < THRESHOLDS.cpuIdleShare ? `while CPU is idle (${cpuText}, < ${THRESHOLDS.cpuIdleShare * 100}%)` : `with CPU to spare (${cpuText})`;
      advice.push(
        `${at} the callback receiver falls behind: callback_receiver_events_queue_size_redis grows ${perS(n.queueGrowthPerSecond ?? 0)}/s (now ${Math.round(n.queue ?? 0).toLocaleString('en-US')}) and callback_receiver_event_processing_lag_seconds p99 is ${s(n.lagP99Seconds ?? 0)} s (> ${THRESHOLDS.lagP99Seconds} s) ${idle}: raise services.callback_receiver.workers${workers === undefined ? '' : ` (now ${workers})`}.`,
      );
    }
    if (n.dispatcherAvailability !== null && n.dispatcherAvailability < THRESHOLDS.dispatcherAvailability) {
      advice.push(
        `${at} the dispatcher has no idle thread: dispatcher_availability ${s(n.dispatcherAvailability, 2)} (< ${THRESHOLDS.dispatcherAvailability}) at both readings${saturated ? '' : `: raise services.dispatcher.max_workers${n.dispatcherMaxThreads === null ? '' : ` (now ${n.dispatcherMaxThreads})`}`}.`,
      );
    }
    if ((n.jobsPending ?? 0) > 0 && n.capacity !== null && n.consumedCapacity !== null && n.consumedCapacity >= n.capacity) {
      advice.push(
        `${at} jobs wait for capacity: dispatcher_jobs{status="pending"} ${n.jobsPending} with instance_consumed_capacity ${n.consumedCapacity} ≥ instance_capacity ${n.capacity}: raise services.dispatcher.capacity${saturated ? '' : ' (if CPU and memory allow)'} or add a node.`,
      );
    }
  }
  return advice;
}
