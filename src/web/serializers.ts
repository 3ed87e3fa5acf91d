// How the API shows what it stores, in AWX's shapes: the fields every object shows first, then
// each kind's own; jobs of every kind as AWX's unified jobs.
import type { StoredEvent, StoredHostSummary } from '../storage/storage.ts';
import { ACTIVE_STATUSES, type Inventory, type Job, type JobTemplate, type JobType, type Project, type WorkflowJobTemplate } from '../control/model.ts';
import type { ControlStore } from '../control/store.ts';

/** Where each kind of job is listed. */
export const JOB_PATHS: Readonly<Record<JobType, string>> = { job: 'jobs', project_update: 'project_updates', workflow_job: 'workflow_jobs' };

export const canCancel = (j: Job): boolean => ACTIVE_STATUSES.includes(j.status);

interface Named {
  readonly id: number;
  readonly name: string;
  readonly description: string;
  readonly created: string;
  readonly modified: string;
}

/** The fields every template and project shows first; `related` names sub-paths of its URL. */
function head(type: string, path: string, o: Named, related: readonly string[] = []) {
  const url = `/api/v2/${path}/${o.id}/`;
  const links = Object.fromEntries(related.map((r) => [r, `${url}${r}/`]));
  return { id: o.id, type, url, related: links, created: o.created, modified: o.modified, name: o.name, description: o.description };
}

export const showProject = (p: Project) => ({
  ...head('project', 'projects', p, ['project_updates']),
  scm_type: p.scm_type,
  scm_url: p.scm_url,
  scm_branch: p.scm_branch,
  local_path: p.local_path,
  scm_update_on_launch: p.scm_update_on_launch,
  scm_update_cache_timeout: p.scm_update_cache_timeout,
});

export const showInventory = (i: Inventory) => ({ ...head('inventory', 'inventories', i), format: i.format, content: i.content, host_count: i.host_count });

export const showJobTemplate = (t: JobTemplate) => ({
  ...head('job_template', 'job_templates', t, ['launch']),
  project: t.project_id,
  inventory: t.inventory_id,
  playbook: t.playbook,
  extra_vars: t.extra_vars,
  forks: t.forks,
  allow_simultaneous: t.allow_simultaneous,
});

export const showWorkflowTemplate = (t: WorkflowJobTemplate) => ({
  ...head('workflow_job_template', 'workflow_job_templates', t, ['launch']),
  allow_simultaneous: t.allow_simultaneous,
  nodes: t.nodes,
});

/** A job of any kind as AWX shows its unified jobs (plus `dependency`: the project update it waited for). */
export async function showJob(store: ControlStore, j: Job): Promise<Record<string, unknown>> {
  const url = `/api/v2/${JOB_PATHS[j.type]}/${j.id}/`;
  const common = {
    id: j.id,
    type: j.type,
    url,
    related: {} as Record<string, string>,
    created: j.created,
    modified: j.modified,
    name: j.name,
    description: '',
    status: j.status,
    failed: j.status === 'failed' || j.status === 'error',
    launch_type: j.launch_type,
    can_cancel: canCancel(j),
    cancel_flag: j.cancel_flag,
    job_explanation: j.job_explanation,
    started: j.started,
    finished: j.finished,
    elapsed: j.elapsed,
    allow_simultaneous: j.allow_simultaneous,
  };
  if (j.type === 'workflow_job') {
    return {
      ...common,
      related: { cancel: `${url}cancel/` },
      workflow_job_template: j.workflow_job_template_id,
      workflow_nodes: j.workflow_nodes.map((n) => ({
        identifier: n.identifier,
        job_template: n.job_template,
        job: n.job,
        do_not_run: n.do_not_run,
        success_nodes: n.success_nodes,
        failure_nodes: n.failure_nodes,
        always_nodes: n.always_nodes,
      })),
    };
  }
  const events = `/api/v2/jobs/${j.id}/`;
  return {
    ...common,
    related: {
      stdout: `${url}stdout/`,
      cancel: `${url}cancel/`,
      ...(j.type === 'job' ? { job_events: `${events}job_events/`, job_host_summaries: `${events}job_host_summaries/` } : {}),
    },
    job_template: j.job_template_id,
    project: j.project_id,
    inventory: j.inventory_id,
    playbook: j.playbook,
    extra_vars: j.extra_vars,
    forks: j.forks,
    controller_node: j.controller_node,
    execution_node: j.controller_node,
    task_impact: j.task_impact,
    dependency: j.dependency_id,
    workflow_job: j.workflow_job_id,
    scm_revision: j.scm_revision,
    event_processing_finished: await store.eventsComplete(j.id),
  };
}

export const showEvent = ({ id, job_id, ...event }: StoredEvent) => ({ id, job: job_id, ...event });

export const showHostSummary = (h: StoredHostSummary) => ({
  id: h.id,
  job: h.job_id,
  host_name: h.host_name,
  ok: h.ok,
  changed: h.changed,
  failures: h.failures,
  dark: h.dark,
  skipped: h.skipped,
  rescued: h.rescued,
  ignored: h.ignored,
  processed: h.processed,
  failed: h.failed,
});
