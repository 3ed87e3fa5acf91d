// The task, dependency and workflow managers' metrics, AWX's names. Part of the catalog (catalog.ts), in its order.
import { counter, gauge, type MetricSpec } from './metric-spec.ts';

/** Timing gauges of one manager run, AWX's `<manager>_*_seconds` (the most recent run wins). */
const lastRun = 'last' as const;

export const MANAGER_METRICS = [
  // --- task manager ---
  gauge({ key: 'tmGetTasksSeconds', service: 'dispatcher', name: 'task_manager_get_tasks_seconds', awx: 'task_manager_get_tasks_seconds', help: 'Task manager: time loading tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmStartTaskSeconds', service: 'dispatcher', name: 'task_manager_start_task_seconds', awx: 'task_manager_start_task_seconds', help: 'Task manager: time starting tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmProcessRunningSeconds', service: 'dispatcher', name: 'task_manager_process_running_tasks_seconds', awx: 'task_manager_process_running_tasks_seconds', help: 'Task manager: time accounting for running tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmProcessPendingSeconds', service: 'dispatcher', name: 'task_manager_process_pending_tasks_seconds', awx: 'task_manager_process_pending_tasks_seconds', help: 'Task manager: time deciding pending tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'tmScheduleSeconds', service: 'dispatcher', name: 'task_manager__schedule_seconds', awx: 'task_manager__schedule_seconds', help: 'Task manager: time of the whole run, most recent run.', combine: lastRun }),
  gauge({ key: 'tmCommitSeconds', service: 'dispatcher', name: 'task_manager_commit_seconds', awx: 'task_manager_commit_seconds', help: 'Task manager: time committing the run, most recent run.', combine: lastRun }),
  gauge({ key: 'tmTasksStarted', service: 'dispatcher', name: 'task_manager_tasks_started', awx: 'task_manager_tasks_started', help: 'Task manager: tasks started, most recent run.', combine: lastRun }),
  gauge({ key: 'tmTasksBlocked', service: 'dispatcher', name: 'task_manager_tasks_blocked', awx: 'task_manager_tasks_blocked', help: 'Task manager: pending tasks found blocked, most recent run.', combine: lastRun }),
  gauge({ key: 'tmRunningProcessed', service: 'dispatcher', name: 'task_manager_running_processed', awx: 'task_manager_running_processed', help: 'Task manager: waiting and running tasks loaded, most recent run.', combine: lastRun }),
  gauge({ key: 'tmPendingProcessed', service: 'dispatcher', name: 'task_manager_pending_processed', awx: 'task_manager_pending_processed', help: 'Task manager: pending tasks loaded, most recent run.', combine: lastRun }),
  gauge({ key: 'tmRecordedTimestamp', service: 'dispatcher', name: 'task_manager_recorded_timestamp_seconds', awx: 'task_manager_recorded_timestamp', help: 'Task manager: Unix time the most recent run was recorded.', combine: 'max' }),
  counter({ key: 'tmScheduleCalls', service: 'dispatcher', name: 'task_manager__schedule_calls_total', awx: 'task_manager__schedule_calls', help: 'Task manager: runs that took the lock.' }),

  // --- dependency manager ---
  gauge({ key: 'dmGetTasksSeconds', service: 'dispatcher', name: 'dependency_manager_get_tasks_seconds', awx: 'dependency_manager_get_tasks_seconds', help: 'Dependency manager: time loading tasks, most recent run.', combine: lastRun }),
  gauge({ key: 'dmGenerateDependenciesSeconds', service: 'dispatcher', name: 'dependency_manager_generate_dependencies_seconds', awx: 'dependency_manager_generate_dependencies_seconds', help: 'Dependency manager: time creating dependencies, most recent run.', combine: lastRun }),
  gauge({ key: 'dmScheduleSeconds', service: 'dispatcher', name: 'dependency_manager__schedule_seconds', awx: 'dependency_manager__schedule_seconds', help: 'Dependency manager: time of the whole run, most recent run.', combine: lastRun }),
  gauge({ key: 'dmPendingProcessed', service: 'dispatcher', name: 'dependency_manager_pending_processed', awx: 'dependency_manager_pending_processed', help: 'Dependency manager: tasks and created dependencies processed, most recent run.', combine: lastRun }),
  gauge({ key: 'dmRecordedTimestamp', service: 'dispatcher', name: 'dependency_manager_recorded_timestamp_seconds', awx: 'dependency_manager_recorded_timestamp', help: 'Dependency manager: Unix time the most recent run was recorded.', combine: 'max' }),
  counter({ key: 'dmScheduleCalls', service: 'dispatcher', name: 'dependency_manager__schedule_calls_total', awx: 'dependency_manager__schedule_calls', help: 'Dependency manager: runs that took the lock.' }),

  // --- workflow manager ---
  gauge({ key: 'wmGetTasksSeconds', service: 'dispatcher', name: 'workflow_manager_get_tasks_seconds', awx: 'workflow_manager_get_tasks_seconds', help: 'Workflow manager: time loading workflows, most recent run.', combine: lastRun }),
  gauge({ key: 'wmSpawnSeconds', service: 'dispatcher', name: 'workflow_manager_spawn_workflow_graph_jobs_seconds', awx: 'workflow_manager_spawn_workflow_graph_jobs_seconds', help: 'Workflow manager: time spawning workflow nodes, most recent run.', combine: lastRun }),
  gauge({ key: 'wmScheduleSeconds', service: 'dispatcher', name: 'workflow_manager__schedule_seconds', awx: 'workflow_manager__schedule_seconds', help: 'Workflow manager: time of the whole run, most recent run.', combine: lastRun }),
  gauge({ key: 'wmRecordedTimestamp', service: 'dispatcher', name: 'workflow_manager_recorded_timestamp_seconds', awx: 'workflow_manager_recorded_timestamp', help: 'Workflow manager: Unix time the most recent run was recorded.', combine: 'max' }),
  counter({ key: 'wmScheduleCalls', service: 'dispatcher', name: 'workflow_manager__schedule_calls_total', awx: 'workflow_manager__schedule_calls', help: 'Workflow manager: runs that took the lock.' }),
] as const satisfies readonly MetricSpec[];
