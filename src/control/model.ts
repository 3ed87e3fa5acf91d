// What the control plane knows about: projects, inventories, job templates, workflow job
// templates, and jobs of every kind (AWX's unified jobs), as the managers and the API see them.

export const JOB_TYPES = ['job', 'project_update', 'workflow_job'] as const;
export type JobType = (typeof JOB_TYPES)[number];

/** AWX's job states: pending (launched) → waiting (handed to a dispatcher) → running → a finished state. */
export const JOB_STATUSES = ['pending', 'waiting', 'running', 'successful', 'failed', 'error', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const ACTIVE_STATUSES: readonly JobStatus[] = ['pending', 'waiting', 'running'];
/** The states a job ends in; a job reaches one once and stays in it. */
export const FINISHED_STATUSES = ['successful', 'failed', 'error', 'canceled'] as const satisfies readonly JobStatus[];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];
export const isFinished = (s: JobStatus): s is FinishedStatus => (FINISHED_STATUSES as readonly JobStatus[]).includes(s);

/** How a job came to be: launched by a user, spawned as a dependency, or by a workflow. */
export type LaunchType = 'manual' | 'dependency' | 'workflow';

export interface Project {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  /** '' for a directory on the node (local_path), 'git' for a repository that project updates check out. */
  readonly scm_type: '' | 'git';
  readonly scm_url: string;
  readonly scm_branch: string;
  readonly local_path: string;
  readonly scm_update_on_launch: boolean;
  /** Seconds a successful update stays fresh for update-on-launch; 0 updates at every launch. */
  readonly scm_update_cache_timeout: number;
  readonly created: string;
  readonly modified: string;
}

export interface Inventory {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly format: 'ini' | 'yaml';
  readonly content: string;
  readonly host_count: number;
  readonly created: string;
  readonly modified: string;
}

export interface JobTemplate {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly project_id: number;
  readonly inventory_id: number;
  readonly playbook: string;
  /** JSON text of a mapping. */
  readonly extra_vars: string;
  /** ansible's --forks; 0 is ansible's default (5). */
  readonly forks: number;
  readonly allow_simultaneous: boolean;
  readonly created: string;
  readonly modified: string;
}

/** One node of a workflow: a job template, and which nodes follow on success, failure or either. */
export interface WorkflowNodeSpec {
  readonly identifier: string;
  readonly job_template: number;
  readonly success_nodes: readonly string[];
  readonly failure_nodes: readonly string[];
  readonly always_nodes: readonly string[];
}

export interface WorkflowJobTemplate {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly allow_simultaneous: boolean;
  readonly nodes: readonly WorkflowNodeSpec[];
  readonly created: string;
  readonly modified: string;
}

/** A node of a running workflow job: its spec, the job spawned for it, or do_not_run once decided against. */
export interface WorkflowNode extends WorkflowNodeSpec {
  readonly job: number | null;
  readonly do_not_run: boolean;
}

export interface Job {
  readonly id: number;
  readonly type: JobType;
  readonly name: string;
  readonly status: JobStatus;
  readonly launch_type: LaunchType;
  readonly job_template_id: number | null;
  readonly workflow_job_template_id: number | null;
  readonly project_id: number | null;
  readonly inventory_id: number | null;
  readonly playbook: string;
  readonly extra_vars: string;
  readonly forks: number;
  readonly allow_simultaneous: boolean;
  /** The dependency manager has looked at it (a project update it needs exists, or none is needed). */
  readonly dependencies_processed: boolean;
  /** The project update this job waits for, if any. */
  readonly dependency_id: number | null;
  /** The workflow job that spawned it. */
  readonly workflow_job_id: number | null;
  /** A workflow job's nodes and their jobs. */
  readonly workflow_nodes: readonly WorkflowNode[];
  /** The node that runs it, once the task manager started it. */
  readonly controller_node: string;
  /** Capacity it takes while waiting or running. */
  readonly task_impact: number;
  readonly cancel_flag: boolean;
  readonly job_explanation: string;
  readonly scm_revision: string;
  /** The dispatcher task that may run it (set as it goes to waiting): a task given back after a crash cannot run it twice. */
  readonly task_id: string;
  readonly created: string;
  readonly modified: string;
  readonly started: string | null;
  readonly finished: string | null;
  /** Seconds from started to finished. */
  readonly elapsed: number;
}

/** Columns a job is created with; the rest take their defaults. */
export type NewJob = Pick<Job, 'type' | 'name' | 'launch_type'> &
  Partial<Pick<Job, 'job_template_id' | 'workflow_job_template_id' | 'project_id' | 'inventory_id' | 'playbook' | 'extra_vars' | 'forks' | 'allow_simultaneous' | 'dependencies_processed' | 'workflow_job_id' | 'workflow_nodes' | 'status' | 'task_impact'>>;

/** Columns a state change or a manager may set. */
export type JobChanges = Partial<
  Pick<Job, 'status' | 'dependencies_processed' | 'dependency_id' | 'workflow_nodes' | 'controller_node' | 'task_impact' | 'cancel_flag' | 'job_explanation' | 'scm_revision' | 'task_id' | 'started' | 'finished' | 'elapsed'>
>;
