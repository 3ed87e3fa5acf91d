// A dispatcher pool thread. Its tasks (jobs, the task, dependency and workflow managers) arrive
// with the dispatcher issue; the thread announces its metrics region at start.
import { threadMetrics } from './thread-metrics.ts';

export const metrics = threadMetrics('dispatcher');
