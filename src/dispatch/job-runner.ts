// Runs jobs and project updates on the dispatcher's main side, in the supervisor: a running job is
// an ansible-runner (or git) child process, and starting and watching it is I/O, so one event loop
// supervises any number of them and no job holds a thread. How many run at once is the task
// manager's business (capacity, AWX's rule); this module only runs what it is handed.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { runPlaybook, type RunOutcome } from '../jobs/run-playbook.ts';
import { updateProject } from '../jobs/update-project.ts';
import type { ControlStore } from '../control/store.ts';
import type { Job, JobStatus } from '../control/model.ts';
import { insideProjectRoots, outsideRootsMessage, type ProjectRoots } from '../control/project-roots.ts';
import { stopLeftovers } from '../system/leftovers.ts';
import type { TaskQueue, Task } from './task-queue.ts';
import type { Logger } from '../logger.ts';

/** What running jobs reads of the config (fixed while the node runs). */
export interface JobSettings {
  readonly nodeName: string;
  /** Jobs run in <dataDir>/jobs/<id>; git checkouts live in <dataDir>/projects/<id>. */
  readonly dataDir: string;
  /** Where jobs push their events (the callback receiver's queue). */
  readonly callbackQueue: string;
  /** The ansible-runner and git programs. */
  readonly ansibleRunner: string;
  readonly git: string;
  /** bubblewrap, which isolates every job and project update. */
  readonly bwrap: string;
  /** The directories local projects must lie in. */
  readonly projectRoots: ProjectRoots;
}

export interface JobRunnerOptions {
  readonly settings: JobSettings;
  readonly store: ControlStore;
  /** Events are pushed on it; it must not block (no BLPOP on it). */
  readonly redis: Redis;
  /** Where the managers are queued when a job ends. */
  readonly queue: TaskQueue;
  readonly log: Logger;
}

/** A job being run: how to tell it to stop, and its end (the status it finished with, or 'skipped'). */
export interface RunningJob {
  /** The user canceled it: it ends canceled. */
  cancel(): void;
  /** The node stops: it ends failed, saying so. */
  stop(): void;
  readonly done: Promise<string>;
}

/** The tasks this module runs. */
export const JOB_TASKS: readonly string[] = ['run_job', 'run_project_update'];

type Execute = (job: Job, signal: AbortSignal) => Promise<RunOutcome & { revision?: string }>;

const failure = (status: JobStatus & RunOutcome['status'], explanation: string): RunOutcome => ({ status, rc: null, events: 0, explanation });

export class JobRunner {
  readonly #o: JobRunnerOptions;
  readonly #s: JobSettings;

  constructor(options: JobRunnerOptions) {
    this.#o = options;
    this.#s = options.settings;
  }

  /** Starts the job of a run_job or run_project_update task. */
  run(task: Task): RunningJob {
    const stop = new AbortController();
    let why: 'canceled' | 'stopped' | '' = '';
    const tell = (reason: 'canceled' | 'stopped') => {
      why ||= reason;
      stop.abort();
    };
    const execute: Execute = task.name === 'run_project_update' ? (job, signal) => this.#updateProject(job, signal) : (job, signal) => this.#runPlaybook(job, signal);
    const done = this.#runUnified(task, execute, stop, () => why, () => tell('canceled'));
    return { cancel: () => tell('canceled'), stop: () => tell('stopped'), done };
  }

  #privateDir(jobId: number): string {
    return join(this.#s.dataDir, 'jobs', String(jobId));
  }

  /** Where a git project's checkout lives on this node. */
  #checkoutDir(projectId: number): string {
    return join(this.#s.dataDir, 'projects', String(projectId));
  }

  async #runPlaybook(job: Job, signal: AbortSignal): Promise<RunOutcome> {
    const { store } = this.#o;
    const s = this.#s;
    const project = job.project_id === null ? undefined : await store.project(job.project_id);
    const inventory = job.inventory_id === null ? undefined : await store.inventory(job.inventory_id);
    if (project === undefined || inventory === undefined) {
      return failure('error', `the job's ${project === undefined ? 'project' : 'inventory'} no longer exists`);
    }
    const projectDir = project.scm_type === 'git' ? this.#checkoutDir(project.id) : project.local_path;
    if (!existsSync(projectDir)) {
      const why = project.scm_type === 'git' ? `no checkout of project ${project.id} on ${s.nodeName} (checkouts are per node; its updates ran elsewhere or failed)` : `the project directory ${projectDir} does not exist on ${s.nodeName}`;
      return failure('failed', why);
    }
    // Checked again at launch: the roots may have changed since, or a symlink on the way.
    if (project.scm_type !== 'git' && !insideProjectRoots(projectDir, s.projectRoots)) {
      return failure('failed', `the project directory ${outsideRootsMessage(projectDir, s.projectRoots)}`);
    }
    let extraVars: Record<string, unknown> = {};
    try {
      extraVars = JSON.parse(job.extra_vars) as Record<string, unknown>;
    } catch {
      return failure('error', 'the job has extra_vars that are not JSON');
    }
    return runPlaybook({
      jobId: job.id,
      privateDataDir: this.#privateDir(job.id),
      projectDir,
      playbook: job.playbook,
      inventory: { format: inventory.format, content: inventory.content },
      extraVars,
      forks: job.forks,
      runner: s.ansibleRunner,
      bwrap: s.bwrap,
      redis: this.#o.redis,
      queue: s.callbackQueue,
      signal,
    });
  }

  async #updateProject(job: Job, signal: AbortSignal): Promise<RunOutcome & { revision?: string }> {
    const project = job.project_id === null ? undefined : await this.#o.store.project(job.project_id);
    if (project === undefined) return failure('error', 'the project no longer exists');
    return updateProject({
      jobId: job.id,
      url: project.scm_url,
      branch: project.scm_branch,
      dir: this.#checkoutDir(project.id),
      git: this.#s.git,
      bwrap: this.#s.bwrap,
      privateDir: this.#privateDir(job.id),
      redis: this.#o.redis,
      queue: this.#s.callbackQueue,
      signal,
    });
  }

  /**
   * Takes the job from waiting to running (only the task the task manager chose may), runs it until
   * it ends, is canceled or the node stops, records how it ended, and wakes the managers.
   */
  async #runUnified(task: Task, execute: Execute, stop: AbortController, why: () => string, cancel: () => void): Promise<string> {
    const { store, queue, log } = this.#o;
    const node = this.#s.nodeName;
    const jobId = task.args.job_id ?? 0;
    const job = await store.job(jobId);
    const started = new Date().toISOString();
    if (job === undefined || !(await store.changeJob(jobId, ['waiting'], { status: 'running', started }, task.id))) {
      log.info({ job: jobId, task: task.id }, 'job no longer waits for this task; nothing to run');
      return 'skipped';
    }
    log.info({ job: jobId, type: job.type, name: job.name }, 'job running');
    // A cancel that came before this job was watched for: the flag is already set.
    if ((await store.job(jobId))?.cancel_flag) cancel();
    let outcome: RunOutcome & { revision?: string };
    try {
      outcome = await execute(job, stop.signal);
    } catch (err) {
      outcome = failure('error', `the job could not run to its end: ${(err as Error).message}`);
    }
    // ansible-playbook runs in a session of its own: a runner stopped early can leave it behind.
    stopLeftovers(this.#privateDir(jobId));
    // What the API serves of a job is in the database (stdout is made from the stored events):
    // the private dir, with the inventory and extra vars, goes.
    try {
      rmSync(this.#privateDir(jobId), { recursive: true, force: true });
    } catch (err) {
      log.warn({ job: jobId, err }, 'could not remove the private data dir');
    }
    if (why() === 'stopped') {
      outcome = { ...outcome, status: 'failed', explanation: `Node ${node} stopped while the job was running.` };
    } else if (why() === 'canceled') {
      outcome = { ...outcome, status: 'canceled', explanation: outcome.explanation || 'Canceled.' };
    }
    const finished = new Date().toISOString();
    await store.changeJob(jobId, ['running'], {
      status: outcome.status,
      finished,
      elapsed: (Date.parse(finished) - Date.parse(started)) / 1000,
      job_explanation: outcome.explanation,
      ...(outcome.revision ? { scm_revision: outcome.revision } : {}),
    });
    log.info({ job: jobId, status: outcome.status, events: outcome.events, explanation: outcome.explanation || undefined }, 'job finished');
    // A job that ends frees capacity and unblocks others: start what can start now (AWX waits for the next 20 s run).
    await queue.submit('task_manager', {}, { once: true });
    if (job.workflow_job_id !== null) await queue.submit('workflow_manager', {}, { once: true });
    return outcome.status;
  }
}
