// The control plane's objects in the database, one implementation for SQLite and PostgreSQL over
// Storage.sql. Writes are single statements; a job changes state only through a guarded UPDATE
// (`WHERE status IN (...)`), so two writers racing for one job cannot both win.
import type { Page, Sql, SqlValue } from '../storage/storage.ts';
import type {
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

export class ControlStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
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

  createJob(j: NewJob): Promise<Job> {
    return this.#insert('jobs', { ...JOB_DEFAULTS, ...j });
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
   * changes whatever the state.
   */
  async changeJob(id: number, from: readonly JobStatus[], changes: JobChanges, taskId?: string): Promise<boolean> {
    const entries = Object.entries({ ...changes, modified: new Date().toISOString() });
    let guard = from.length === 0 ? '' : ` AND status IN (${from.map(() => '?').join(', ')})`;
    if (taskId !== undefined) guard += ' AND task_id = ?';
    const n = await this.#sql.run(`UPDATE jobs SET ${entries.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?${guard}`, [
      ...entries.map(([, v]) => toValue(v)),
      id,
      ...from,
      ...(taskId === undefined ? [] : [taskId]),
    ]);
    return n > 0;
  }

  /** Whether the callback receiver has stored every event of the job up to its EOF (one row read, not its events counted). */
  async eventsComplete(jobId: number): Promise<boolean> {
    return (await this.#sql.get('SELECT 1 AS x FROM job_event_streams WHERE job_id = ? AND completed_at IS NOT NULL', [jobId])) !== undefined;
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
