// Creating jobs: from a job template (a launch, or a workflow node), and workflow jobs from their
// templates. The API and the workflow manager both launch through here.
import type { Job, JobTemplate, LaunchType, WorkflowJobTemplate } from './model.ts';
import type { ControlStore } from './store.ts';

/** ansible's default --forks. */
const DEFAULT_FORKS = 5;

/** AWX's task impact of a job: one fork per host it can run at once, plus one for ansible itself. */
export function jobImpact(hosts: number, forks: number): number {
  return Math.min(hosts, forks > 0 ? forks : DEFAULT_FORKS) + 1;
}

/** A project update takes one fork; a workflow job none (its nodes' jobs take theirs). */
export const PROJECT_UPDATE_IMPACT = 1;

/** A new pending job of the template. Throws when its project or inventory is gone. */
export async function launchJob(
  store: ControlStore,
  template: JobTemplate,
  how: { launch_type: LaunchType; workflow_job_id?: number },
): Promise<Job> {
  const inventory = await store.inventory(template.inventory_id);
  if (inventory === undefined) throw new Error(`inventory ${template.inventory_id} of job template ${template.id} does not exist`);
  return store.createJob({
    type: 'job',
    name: template.name,
    launch_type: how.launch_type,
    job_template_id: template.id,
    project_id: template.project_id,
    inventory_id: template.inventory_id,
    playbook: template.playbook,
    extra_vars: template.extra_vars,
    forks: template.forks,
    allow_simultaneous: template.allow_simultaneous,
    task_impact: jobImpact(inventory.host_count, template.forks),
    ...(how.workflow_job_id === undefined ? {} : { workflow_job_id: how.workflow_job_id }),
  });
}

/** A new pending workflow job of the template, every node still to run. */
export function launchWorkflow(store: ControlStore, template: WorkflowJobTemplate): Promise<Job> {
  return store.createJob({
    type: 'workflow_job',
    name: template.name,
    launch_type: 'manual',
    workflow_job_template_id: template.id,
    allow_simultaneous: template.allow_simultaneous,
    // Nothing to check out first: the dependency manager looks at each node's job instead.
    dependencies_processed: true,
    workflow_nodes: template.nodes.map((n) => ({ ...n, job: null, do_not_run: false })),
  });
}
