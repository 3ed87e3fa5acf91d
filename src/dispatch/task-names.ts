// What the dispatcher runs, by name: the task queue, the dispatcher's metrics labels and the
// dispatcher threads all speak of tasks in these words.

/** A job, a project update, one of the three managers, the daily cleanup (retention), or nothing (benchmarks). */
export const TASK_NAMES = ['run_job', 'run_project_update', 'task_manager', 'dependency_manager', 'workflow_manager', 'cleanup_jobs', 'noop'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** The managers, which run under a cluster-wide lock. */
export const MANAGERS = ['task_manager', 'dependency_manager', 'workflow_manager'] as const;
export type ManagerName = (typeof MANAGERS)[number];
