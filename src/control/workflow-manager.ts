// The workflow manager (AWX's WorkflowManager): for each running workflow job, decides which
// nodes will not run, spawns the jobs of nodes whose parents took the edge to them, and finishes
// the workflow once its graph is done. A node runs when any parent "takes" the edge to it: a
// successful parent through a success or always edge, a failed, errored or canceled one through
// a failure or always edge. Unlike AWX it also runs every 20 s, not only when the task manager
// wakes it.
import { isFinished, type Job, type JobStatus, type WorkflowNode } from './model.ts';
import { launchJob } from './launch.ts';
import { secondsSince, type ManagerEnv } from './manager-env.ts';
import { parentsOf, type EdgeKind } from './workflow-graph.ts';

export interface WorkflowManagerRun {
  readonly getTasksSeconds: number;
  readonly spawnSeconds: number;
  readonly scheduleSeconds: number;
  readonly workflows: number;
  readonly timedOut: boolean;
}

/** Which edges a finished job takes. */
const takes = (status: JobStatus, edge: EdgeKind) => edge === 'always' || (status === 'successful' ? edge === 'success' : edge === 'failure');

/** The next state of a workflow's nodes: nodes decided against, and nodes to spawn now. */
export function decide(nodes: readonly WorkflowNode[], statusOf: (job: number) => JobStatus | undefined) {
  const state = new Map(nodes.map((n) => [n.identifier, { ...n }]));
  const parents = parentsOf(nodes);
  const finished = (n: WorkflowNode) => n.job !== null && isFinished(statusOf(n.job) ?? 'pending');
  const spawn: string[] = [];
  // Deciding a node can decide its children: repeat until nothing changes (the graph is acyclic).
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of state.values()) {
      if (node.job !== null || node.do_not_run || spawn.includes(node.identifier)) continue;
      const from = parents.get(node.identifier) ?? [];
      const taken = from.some(({ parent, edge }) => {
        const p = state.get(parent) as WorkflowNode;
        return !p.do_not_run && finished(p) && takes(statusOf(p.job as number) as JobStatus, edge);
      });
      if (from.length === 0 || taken) {
        spawn.push(node.identifier);
      } else if (from.every(({ parent }) => (state.get(parent) as WorkflowNode).do_not_run || finished(state.get(parent) as WorkflowNode))) {
        node.do_not_run = true;
        changed = true;
      }
    }
  }
  return { nodes: [...state.values()], spawn };
}

/** Whether a workflow whose nodes are all decided failed: a node's failure that no edge handles. */
function unhandledFailures(nodes: readonly WorkflowNode[], statusOf: (job: number) => JobStatus | undefined): string[] {
  return nodes
    .filter((n) => n.job !== null && !n.do_not_run && statusOf(n.job) !== 'successful')
    .filter((n) => n.failure_nodes.length === 0 && n.always_nodes.length === 0)
    .map((n) => `(${n.identifier},${statusOf(n.job as number)})`);
}

export async function runWorkflowManager(env: ManagerEnv): Promise<WorkflowManagerRun> {
  const { store } = env;
  const began = performance.now();
  const workflows = await store.jobsIn(['running'], "type = 'workflow_job'");
  const getTasksSeconds = secondsSince(began);

  const t = performance.now();
  let timedOut = false;
  let spawned = false;
  for (const wf of workflows) {
    if (Date.now() >= env.deadline) {
      timedOut = true;
      break;
    }
    const children = await store.jobsIn(['pending', 'waiting', 'running', 'successful', 'failed', 'error', 'canceled'], 'workflow_job_id = ?', [wf.id]);
    const statuses = new Map<number, JobStatus>(children.map((j: Job) => [j.id, j.status]));
    const statusOf = (id: number) => statuses.get(id);
    const now = new Date().toISOString();
    const elapsed = (Date.parse(now) - Date.parse(wf.started ?? now)) / 1000;

    if (wf.cancel_flag) {
      const live = children.filter((j) => !isFinished(j.status));
      for (const j of live) await env.cancel(j);
      const nodes = wf.workflow_nodes.map((n) => (n.job === null ? { ...n, do_not_run: true } : n));
      if (live.length === 0) {
        await store.changeJob(wf.id, ['running'], { status: 'canceled', workflow_nodes: nodes, finished: now, elapsed, job_explanation: 'Canceled.' });
      } else {
        await store.changeJob(wf.id, ['running'], { workflow_nodes: nodes });
      }
      continue;
    }

    const next = decide(wf.workflow_nodes, statusOf);
    const nodes = next.nodes;
    for (const identifier of next.spawn) {
      const node = nodes.find((n) => n.identifier === identifier) as { -readonly [K in keyof WorkflowNode]: WorkflowNode[K] };
      const template = await store.jobTemplate(node.job_template);
      if (template === undefined) {
        // Nothing to run: treat it like a failed node, as AWX treats a node without a template.
        node.do_not_run = true;
        continue;
      }
      const job = await launchJob(store, template, { launch_type: 'workflow', workflow_job_id: wf.id });
      node.job = job.id;
      statuses.set(job.id, job.status);
      spawned = true;
    }
    const done = nodes.every((n) => n.do_not_run || (n.job !== null && isFinished(statusOf(n.job) ?? 'pending')));
    if (!done) {
      await store.changeJob(wf.id, ['running'], { workflow_nodes: nodes });
      continue;
    }
    const failures = unhandledFailures(nodes, statusOf);
    await store.changeJob(wf.id, ['running'], {
      status: failures.length > 0 ? 'failed' : 'successful',
      workflow_nodes: nodes,
      finished: now,
      elapsed,
      job_explanation: failures.length > 0 ? `No error handling paths found, marking workflow as failed: ${failures.join(' ')}` : '',
    });
  }
  if (spawned) await env.submit('dependency_manager', {}, { once: true });
  return { getTasksSeconds, spawnSeconds: secondsSince(t), scheduleSeconds: secondsSince(began), workflows: workflows.length, timedOut };
}
