// The task manager (AWX's TaskManager): starts pending jobs that are not blocked and fit this
// node's remaining capacity. Unlike AWX it runs no long transaction: each start is one guarded
// UPDATE (pending → waiting, with the task that may run it), then the task is queued.
import { randomUUID } from 'node:crypto';
import { isFinished, type Job } from './model.ts';
import { secondsSince, type ManagerEnv } from './manager-env.ts';
import type { TaskName } from '../dispatch/task-names.ts';

export interface TaskManagerRun {
  readonly getTasksSeconds: number;
  readonly processRunningSeconds: number;
  readonly processPendingSeconds: number;
  readonly startTaskSeconds: number;
  readonly commitSeconds: number;
  readonly scheduleSeconds: number;
  readonly tasksStarted: number;
  readonly tasksBlocked: number;
  readonly runningProcessed: number;
  readonly pendingProcessed: number;
  readonly timedOut: boolean;
}

/** What blocks a job of this kind: the first active job registered under one of these keys. */
function blockingKeys(job: Job): string[] {
  switch (job.type) {
    case 'project_update':
      return [`project_update:${job.project_id}`];
    case 'job':
      return [`project_update:${job.project_id}`, ...(job.allow_simultaneous ? [] : [`job_template:${job.job_template_id}`])];
    case 'workflow_job':
      return job.allow_simultaneous ? [] : [`workflow:${job.workflow_job_template_id}`];
  }
}

/** The keys an active job holds (what it blocks). */
function heldKeys(job: Job): string[] {
  switch (job.type) {
    case 'project_update':
      return [`project_update:${job.project_id}`];
    case 'job':
      return job.allow_simultaneous ? [] : [`job_template:${job.job_template_id}`];
    case 'workflow_job':
      return job.allow_simultaneous ? [] : [`workflow:${job.workflow_job_template_id}`];
  }
}

const describe = (job: Job) => `${job.type}-${job.id}`;

export async function runTaskManager(env: ManagerEnv): Promise<TaskManagerRun> {
  const { store, node } = env;
  const began = performance.now();
  const tasks = await store.jobsIn(['pending', 'waiting', 'running'], 'dependencies_processed = ?', [true]);
  const getTasksSeconds = secondsSince(began);

  let t = performance.now();
  const holders = new Map<string, Job>();
  const hold = (job: Job) => {
    for (const key of heldKeys(job)) if (!holders.has(key)) holders.set(key, job);
  };
  let consumed = 0;
  let workflows = false;
  const running = tasks.filter((j) => j.status !== 'pending');
  const pending = tasks.filter((j) => j.status === 'pending');
  for (const job of running) {
    hold(job);
    if (job.type === 'workflow_job') workflows = true;
    else if (job.controller_node === node) consumed += job.task_impact;
  }
  const processRunningSeconds = secondsSince(t);

  t = performance.now();
  let startTaskSeconds = 0;
  let tasksStarted = 0;
  let tasksBlocked = 0;
  let timedOut = false;
  const toQueue: { name: TaskName; job: Job; id: string }[] = [];
  const active = new Map(tasks.map((j) => [j.id, j]));
  const explain = async (job: Job, why: string) => {
    if (job.job_explanation !== why) await store.changeJob(job.id, ['pending'], { job_explanation: why });
  };

  for (const job of pending) {
    if (Date.now() >= env.deadline) {
      timedOut = true;
      break;
    }
    const finishedAt = new Date().toISOString();
    if (job.cancel_flag) {
      await store.changeJob(job.id, ['pending'], { status: 'canceled', finished: finishedAt, job_explanation: 'Canceled before it started.' });
      continue;
    }
    if (job.dependency_id !== null) {
      const dep = active.get(job.dependency_id) ?? (await store.job(job.dependency_id));
      if (dep !== undefined && isFinished(dep.status) && dep.status !== 'successful') {
        const what = JSON.stringify({ job_type: dep.type, job_name: dep.name, job_id: dep.id });
        // A canceled update cancels the jobs waiting for it; a failed one fails them (AWX handles the first elsewhere).
        const status = dep.status === 'canceled' ? 'canceled' : 'failed';
        await store.changeJob(job.id, ['pending'], {
          status,
          finished: finishedAt,
          job_explanation: `Previous Task ${status === 'canceled' ? 'Canceled' : 'Failed'}: ${what}`,
        });
        continue;
      }
      if (dep !== undefined && !isFinished(dep.status)) {
        tasksBlocked += 1;
        await explain(job, `waiting for ${describe(dep)} to finish`);
        continue;
      }
    }
    const blocker = blockingKeys(job)
      .map((k) => holders.get(k))
      .find((h) => h !== undefined && h.id !== job.id);
    if (blocker !== undefined) {
      tasksBlocked += 1;
      await explain(job, `waiting for ${describe(blocker)} to finish`);
      continue;
    }
    if (job.type === 'workflow_job') {
      // A workflow takes no capacity: its nodes' jobs do.
      if (await store.changeJob(job.id, ['pending'], { status: 'running', started: finishedAt, controller_node: node, job_explanation: '' })) {
        hold(job);
        workflows = true;
        tasksStarted += 1;
      }
      continue;
    }
    const remaining = env.capacity - consumed;
    if (job.task_impact > remaining) {
      await explain(job, `not enough capacity on ${node}: needs ${job.task_impact}, ${remaining} of ${env.capacity} remaining`);
      continue;
    }
    const s = performance.now();
    const id = randomUUID();
    // The task id goes with the state: only this task may take the job to running.
    const started = await store.changeJob(job.id, ['pending'], { status: 'waiting', controller_node: node, task_id: id, job_explanation: '' });
    startTaskSeconds += secondsSince(s);
    if (!started) continue; // canceled meanwhile, or another node's run took it
    toQueue.push({ name: job.type === 'project_update' ? 'run_project_update' : 'run_job', job, id });
    hold(job);
    consumed += job.task_impact;
    tasksStarted += 1;
  }
  const processPendingSeconds = secondsSince(t) - startTaskSeconds;

  // What AWX does on commit: hand the started jobs to the dispatcher, and wake the workflow manager.
  t = performance.now();
  for (const { name, job, id } of toQueue) {
    try {
      await env.submit(name, { job_id: job.id }, { id });
    } catch (err) {
      // Not queued: give the job back to a later run rather than leave it waiting for nothing.
      await store.changeJob(job.id, ['waiting'], { status: 'pending', controller_node: '', task_id: '' }, id).catch(() => false);
      throw err;
    }
  }
  if (workflows) await env.submit('workflow_manager', {}, { once: true });
  const commitSeconds = secondsSince(t);

  return {
    getTasksSeconds,
    processRunningSeconds,
    processPendingSeconds,
    startTaskSeconds,
    commitSeconds,
    scheduleSeconds: secondsSince(began),
    tasksStarted,
    tasksBlocked,
    runningProcessed: running.length,
    pendingProcessed: pending.length,
    timedOut,
  };
}
