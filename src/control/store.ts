// The control plane's objects in the database, one implementation for SQLite and PostgreSQL over
// Storage.sql. Writes are single statements; a job changes state only through a guarded UPDATE
// (`WHERE status IN (...)`), so two writers racing for one job cannot both win, and the winner
// alone tells its observer that the job started or finished.
import type { Page, Sql, SqlValue } from '../storage/storage.ts';
import { FINISHED_STATUSES, isFinished } from './model.ts';
import type {
  FinishedStatus,
  Inventory,
  Job,
  JobChanges,
  JobStatus,
  JobTemplate,
  JobType,
  NewJob,
  Project,
  WorkflowJobTemplate,
} from './model.ts';

type Row = Record<string, unknown>;

export interface Listed<T> {
  readonly count: number;
  readonly results: T[];
}

const FLAGS = ['scm_update_on_launch', 'allow_simultaneous', 'dependencies_processed', 'cancel_flag'];
const JSON_COLUMNS = ['nodes', 'workflow_nodes'];

/** A row as read from either backend: flags as booleans, JSON columns parsed. */
function fromRow<T>(row: Row): T {
  const out: Row = { ...row };
  for (const f of FLAGS) if (f in out) out[f] = Boolean(out[f]);
  for (const j of JSON_COLUMNS) if (typeof out[j] === 'string') out[j] = JSON.parse(out[j]);
  return out as T;
}

/** A value as written to either backend. */
function toValue(v: unknown): SqlValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  return v as SqlValue;
}

/** A job as the UPDATE that started or finished it left it. */
export interface JobMoment {
  readonly id: number;
  readonly type: JobType;
  readonly created: string;
  readonly started: string | null;
  readonly finished: string | null;
}

/** A job whose status a store's write just set (or a job just created, pending). */
export interface JobChange extends JobMoment {
  readonly status: JobStatus;
  readonly job_template_id: number | null;
  readonly workflow_job_template_id: number | null;
  readonly project_id: number | null;
  readonly workflow_job_id: number | null;
}

/**
 * Told once of each job start (to running, with its started time) and each finish, by the store
 * whose guarded UPDATE made the change: however many writers race, a job is reported once.
 * `changed` (the live output's status messages) hears of every status this store writes, jobs
 * created included.
 */
export interface JobObserver {
  started(job: JobMoment & { readonly started: string }): void;
  finished(job: JobMoment & { readonly status: FinishedStatus }): void;
  changed?(job: JobChange): void;
}

/** Jobs by status, and when the oldest pending one was launched. */
export interface JobCounts {
  readonly byStatus: Partial<Record<JobStatus, number>>;
  /** ISO time, or null when no job is pending. */
  readonly oldestPending: string | null;
}

export type NewProject = Omit<Project, 'id' | 'created' | 'modified'>;
export type NewInventory = Omit<Inventory, 'id' | 'created' | 'modified'>;
export type NewJobTemplate = Omit<JobTemplate, 'id' | 'created' | 'modified'>;
export type NewWorkflowJobTemplate = Omit<WorkflowJobTemplate, 'id' | 'created' | 'modified'>;

/** Filters of the job lists. */
export interface JobFilter {
  readonly type?: JobType;
  readonly project_id?: number;
  readonly workflow_job_id?: number;
}

const JOB_DEFAULTS = {
  status: 'pending',
  job_template_id: null,
  workflow_job_template_id: null,
  project_id: null,
  inventory_id: null,
  playbook: '',
  extra_vars: '{}',
  forks: 0,
  allow_simultaneous: false,
  dependencies_processed: false,
  dependency_id: null,
  workflow_job_id: null,
  workflow_nodes: [],
  controller_node: '',
  task_impact: 0,
  cancel_flag: false,
  job_explanation: '',
  scm_revision: '',
  task_id: '',
  started: null,
  finished: null,
  elapsed: 0,
} as const;

const MOMENT_COLUMNS = 'id, type, status, created, started, finished, job_template_id, workflow_job_template_id, project_id, workflow_job_id';

export class ControlStore {
  readonly #sql: Sql;
  readonly #observer: JobObserver | undefined;

  /** observer: what this store's writers tell of the jobs they start and finish (the dispatcher's job metrics). */
  constructor(sql: Sql, observer?: JobObserver) {
    this.#sql = sql;
    this.#observer = observer;
  }

  async #insert<T>(table: string, values: Record<string, unknown>): Promise<T> {
    const now = new Date().toISOString();
    const row = { ...values, created: now, modified: now };
    const columns = Object.keys(row);
    const [created] = await this.#sql.returning<Row>(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) RETURNING *`,
      columns.map((c) => toValue(row[c as keyof typeof row])),
    );
    return fromRow<T>(created as Row);
  }

  async #byId<T>(table: string, id: number): Promise<T | undefined> {
    const row = await this.#sql.get<Row>(`SELECT * FROM ${table} WHERE id = ?`, [id]);
    return row === undefined ? undefined : fromRow<T>(row);
  }

  async #list<T>(table: string, page: Page, where = '', params: readonly SqlValue[] = []): Promise<Listed<T>> {
    const clause = where === '' ? '' : ` WHERE ${where}`;
    const [counted, rows] = await Promise.all([
      this.#sql.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}${clause}`, params),
      this.#sql.all<Row>(`SELECT * FROM ${table}${clause} ORDER BY id LIMIT ? OFFSET ?`, [...params, page.limit, page.offset]),
    ]);
    return { count: Number(counted?.n ?? 0), results: rows.map((r) => fromRow<T>(r)) };
  }

  /** True when a row of table has this name. */
  async nameTaken(table: 'projects' | 'inventories' | 'job_templates' | 'workflow_job_templates', name: string): Promise<boolean> {
    return (await this.#sql.get(`SELECT 1 AS x FROM ${table} WHERE name = ?`, [name])) !== undefined;
  }

  createProject(p: NewProject): Promise<Project> {
    return this.#insert('projects', p);
  }
  project(id: number): Promise<Project | undefined> {
    return this.#byId('projects', id);
  }
  listProjects(page: Page): Promise<Listed<Project>> {
    return this.#list('projects', page);
  }

  createInventory(i: NewInventory): Promise<Inventory> {
    return this.#insert('inventories', i);
  }
  inventory(id: number): Promise<Inventory | undefined> {
    return this.#byId('inventories', id);
  }
  listInventories(page: Page): Promise<Listed<Inventory>> {
    return this.#list('inventories', page);
  }

  createJobTemplate(t: NewJobTemplate): Promise<JobTemplate> {
    return this.#insert('job_templates', t);
  }
  jobTemplate(id: number): Promise<JobTemplate | undefined> {
    return this.#byId('job_templates', id);
  }
  listJobTemplates(page: Page): Promise<Listed<JobTemplate>> {
    return this.#list('job_templates', page);
  }

  createWorkflowTemplate(t: NewWorkflowJobTemplate): Promise<WorkflowJobTemplate> {
    return this.#insert('workflow_job_templates', t);
  }
  workflowTemplate(id: number): Promise<WorkflowJobTemplate | undefined> {
    return this.#byId('workflow_job_templates', id);
  }
  listWorkflowTemplates(page: Page): Promise<Listed<WorkflowJobTemplate>> {
    return this.#list('workflow_job_templates', page);
  }

  async createJob(j: NewJob): Promise<Job> {
    const job = await this.#insert<Job>('jobs', { ...JOB_DEFAULTS, ...j });
    this.#observer?.changed?.(job);
    return job;
  }
  job(id: number): Promise<Job | undefined> {
    return this.#byId('jobs', id);
  }
  listJobs(filter: JobFilter, page: Page): Promise<Listed<Job>> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    for (const [column, value] of Object.entries(filter)) {
      where.push(`${column} = ?`);
      params.push(value as SqlValue);
    }
    return this.#list('jobs', page, where.join(' AND '), params);
  }

  /** Jobs in these states, oldest first (what the managers load each run). */
  async jobsIn(statuses: readonly JobStatus[], where = '', params: readonly SqlValue[] = []): Promise<Job[]> {
    const rows = await this.#sql.all<Row>(
      `SELECT * FROM jobs WHERE status IN (${statuses.map(() => '?').join(', ')})${where === '' ? '' : ` AND ${where}`} ORDER BY created, id`,
      [...statuses, ...params],
    );
    return rows.map((r) => fromRow<Job>(r));
  }

  /** The project's newest project update, whatever its state. */
  async latestProjectUpdate(projectId: number, status?: JobStatus): Promise<Job | undefined> {
    const row = await this.#sql.get<Row>(
      `SELECT * FROM jobs WHERE project_id = ? AND type = 'project_update'${status ? ' AND status = ?' : ''} ORDER BY id DESC LIMIT 1`,
      status ? [projectId, status] : [projectId],
    );
    return row === undefined ? undefined : fromRow<Job>(row);
  }

  /**
   * Applies changes to a job that is in one of `from` states (and, given taskId, belongs to that
   * task); false when it is not, because someone else moved it first. An empty `from` applies the
   * changes whatever the state, except that a finished job never finishes again. A change to
   * running with a start time, or to a finished state, is told to the observer when it happened.
   */
  async changeJob(id: number, from: readonly JobStatus[], changes: JobChanges, taskId?: string): Promise<boolean> {
    const entries = Object.entries({ ...changes, modified: new Date().toISOString() });
    const finishing = changes.status !== undefined && isFinished(changes.status);
    const starting = changes.status === 'running' && changes.started !== undefined && changes.started !== null;
    let guard = from.length === 0 ? '' : ` AND status IN (${from.map(() => '?').join(', ')})`;
    if (finishing) guard += ` AND status NOT IN (${FINISHED_STATUSES.map(() => '?').join(', ')})`;
    if (taskId !== undefined) guard += ' AND task_id = ?';
    const sql = `UPDATE jobs SET ${entries.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?${guard}`;
    const params = [
      ...entries.map(([, v]) => toValue(v)),
      id,
      ...from,
      ...(finishing ? FINISHED_STATUSES : []),
      ...(taskId === undefined ? [] : [taskId]),
    ];
    const told = finishing || starting || (changes.status !== undefined && this.#observer?.changed !== undefined);
    if (this.#observer === undefined || !told) return (await this.#sql.run(sql, params)) > 0;
    const [moment] = await this.#sql.returning<JobChange>(`${sql} RETURNING ${MOMENT_COLUMNS}`, params);
    if (moment === undefined) return false;
    const { status } = moment;
    if (isFinished(status)) {
      if (finishing) this.#observer.finished({ ...moment, status });
    } else if (starting && moment.started !== null) this.#observer.started({ ...moment, started: moment.started });
    if (changes.status !== undefined) this.#observer.changed?.(moment);
    return true;
  }

  /** Whether the callback receiver has stored every event of the job up to its EOF (one row read, not its events counted). */
  async eventsComplete(jobId: number): Promise<boolean> {
    return (await this.#sql.get('SELECT 1 AS x FROM job_event_streams WHERE job_id = ? AND completed_at IS NOT NULL', [jobId])) !== undefined;
  }

  /**
   * Pending, waiting and running jobs by status, and the oldest pending one's launch time: a range
   * of the (status, created) index, as long as the active jobs are few.
   */
  async activeJobCounts(): Promise<JobCounts> {
    const rows = await this.#sql.all<{ status: JobStatus; n: number; oldest: string }>(
      "SELECT status, count(*) AS n, min(created) AS oldest FROM jobs WHERE status IN ('pending', 'waiting', 'running') GROUP BY status",
    );
    return {
      byStatus: Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])),
      oldestPending: rows.find((r) => r.status === 'pending')?.oldest ?? null,
    };
  }

  /**
   * Finished jobs by status: a scan of the whole (status, created) index, about 0.1 s per million
   * jobs on SQLite, where it blocks the calling thread.
   */
  async finishedJobCounts(): Promise<Partial<Record<FinishedStatus, number>>> {
    const rows = await this.#sql.all<{ status: FinishedStatus; n: number }>(
      `SELECT status, count(*) AS n FROM jobs WHERE status IN (${FINISHED_STATUSES.map(() => '?').join(', ')}) GROUP BY status`,
      FINISHED_STATUSES,
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async countJobs(status: JobStatus): Promise<number> {
    return Number((await this.#sql.get<{ n: number }>('SELECT count(*) AS n FROM jobs WHERE status = ?', [status]))?.n ?? 0);
  }

  /** Capacity taken on a node by its waiting and running jobs, and how many they are. */
  async consumedOn(node: string): Promise<{ consumed: number; jobs: number }> {
    const row = await this.#sql.get<{ consumed: number | null; jobs: number }>(
      `SELECT sum(task_impact) AS consumed, count(*) AS jobs FROM jobs WHERE controller_node = ? AND status IN ('waiting', 'running') AND type <> 'workflow_job'`,
      [node],
    );
    return { consumed: Number(row?.consumed ?? 0), jobs: Number(row?.jobs ?? 0) };
  }
}
