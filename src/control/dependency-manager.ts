// The dependency manager (AWX's DependencyManager): before a job of a git project starts, a
// project update checks the project out when it needs one. Each job depends only on its own
// project's update (AWX links every dependency of the run to every job), and the run stops at
// its deadline like the other managers (AWX's never does).
import { ACTIVE_STATUSES, type Job, type Project } from './model.ts';
import { PROJECT_UPDATE_IMPACT } from './launch.ts';
import { secondsSince, type ManagerEnv } from './manager-env.ts';

export interface DependencyManagerRun {
  readonly getTasksSeconds: number;
  readonly generateDependenciesSeconds: number;
  readonly scheduleSeconds: number;
  /** Jobs looked at plus updates created. */
  readonly pendingProcessed: number;
  readonly timedOut: boolean;
}

/** AWX's "should update again": none yet, or the last failed, or the last success is older than the cache timeout. */
function needsUpdate(project: Project, last: Job | undefined, lastSuccess: Job | undefined, now: number): boolean {
  if (lastSuccess === undefined) return true; // nothing checked out yet: a job could not run
  if (!project.scm_update_on_launch) return false;
  if (last === undefined || last.status !== 'successful') return true;
  return Date.parse(last.finished ?? last.modified) + project.scm_update_cache_timeout * 1000 <= now;
}

export async function runDependencyManager(env: ManagerEnv): Promise<DependencyManagerRun> {
  const { store } = env;
  const began = performance.now();
  const pending = await store.jobsIn(['pending'], 'dependencies_processed = ?', [false]);
  const getTasksSeconds = secondsSince(began);

  const t = performance.now();
  const projects = new Map<number, Project | undefined>();
  /** The update each project's jobs wait for in this run (created now, or one already in flight). */
  const updates = new Map<number, Job | null>();
  let processed = 0;
  let timedOut = false;
  for (const job of pending) {
    if (Date.now() >= env.deadline) {
      timedOut = true;
      break;
    }
    let dependency: Job | null = null;
    if (job.type === 'job' && job.project_id !== null) {
      const projectId = job.project_id;
      if (!projects.has(projectId)) projects.set(projectId, await store.project(projectId));
      const project = projects.get(projectId);
      if (project?.scm_type === 'git') {
        if (!updates.has(projectId)) {
          const last = await store.latestProjectUpdate(projectId);
          const lastSuccess = last?.status === 'successful' ? last : await store.latestProjectUpdate(projectId, 'successful');
          let update: Job | null = null;
          if (last !== undefined && ACTIVE_STATUSES.includes(last.status)) {
            update = last; // share the update in flight, as AWX does
          } else if (needsUpdate(project, last, lastSuccess, Date.now())) {
            update = await store.createJob({
              type: 'project_update',
              name: project.name,
              launch_type: 'dependency',
              project_id: projectId,
              dependencies_processed: true,
              task_impact: PROJECT_UPDATE_IMPACT,
            });
            processed += 1;
          }
          updates.set(projectId, update);
        }
        dependency = updates.get(projectId) ?? null;
      }
    }
    await store.changeJob(job.id, ['pending'], { dependencies_processed: true, dependency_id: dependency?.id ?? null });
    processed += 1;
  }
  const generateDependenciesSeconds = secondsSince(t);
  if (processed > 0) await env.submit('task_manager', {}, { once: true });
  return { getTasksSeconds, generateDependenciesSeconds, scheduleSeconds: secondsSince(began), pendingProcessed: processed, timedOut };
}
