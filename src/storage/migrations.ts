// Ordered, append-only schema changes, in both dialects. Never edit or reorder a released
// migration: add one. Each backend records what it applied in schema_migrations.

/** One schema change, applied once and recorded in the database's ledger. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: readonly string[];
  readonly postgres: readonly string[];
}

/** Column types that differ between the dialects, as placeholders in bothDialects' statements. */
const TYPES = {
  sqlite: { id: 'INTEGER PRIMARY KEY', ref: 'INTEGER', flag: 'INTEGER NOT NULL DEFAULT 0', time: 'TEXT NOT NULL', time_null: 'TEXT', real: 'REAL NOT NULL DEFAULT 0' },
  postgres: { id: 'BIGSERIAL PRIMARY KEY', ref: 'BIGINT', flag: 'BOOLEAN NOT NULL DEFAULT FALSE', time: 'TIMESTAMPTZ NOT NULL', time_null: 'TIMESTAMPTZ', real: 'DOUBLE PRECISION NOT NULL DEFAULT 0' },
} as const;

/** One schema written once, with {id}, {ref}, {flag}, {time}, {time_null} and {real} for the types that differ. */
function bothDialects(statements: readonly string[]): Pick<Migration, 'sqlite' | 'postgres'> {
  const fill = (types: Readonly<Record<string, string>>) =>
    statements.map((s) => s.replace(/\{(\w+)\}/g, (_, t: string) => types[t] ?? `{${t}}`));
  return { sqlite: fill(TYPES.sqlite), postgres: fill(TYPES.postgres) };
}

export const MIGRATIONS: readonly Migration[] = [
  // The ledger itself is created before any migration runs; the first version marks a baseline.
  { version: 1, name: 'baseline', sqlite: [], postgres: [] },
  {
    version: 2,
    name: 'job events, host summaries, event streams',
    sqlite: [
      `CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        uuid TEXT NOT NULL,
        counter INTEGER NOT NULL,
        event TEXT NOT NULL,
        event_data TEXT NOT NULL,
        stdout TEXT NOT NULL,
        start_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        created TEXT NOT NULL,
        modified TEXT NOT NULL,
        host_name TEXT NOT NULL,
        task TEXT NOT NULL,
        play TEXT NOT NULL,
        role TEXT NOT NULL,
        changed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        parent_uuid TEXT,
        UNIQUE (job_id, uuid)
      )`,
      'CREATE INDEX job_events_job_counter ON job_events (job_id, counter)',
      `CREATE TABLE job_host_summaries (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        host_name TEXT NOT NULL,
        ok INTEGER NOT NULL,
        changed INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        dark INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        rescued INTEGER NOT NULL,
        ignored INTEGER NOT NULL,
        processed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        UNIQUE (job_id, host_name)
      )`,
      `CREATE TABLE job_event_streams (
        job_id INTEGER PRIMARY KEY,
        final_counter INTEGER NOT NULL,
        completed_at TEXT
      )`,
    ],
    postgres: [
      `CREATE TABLE job_events (
        id BIGSERIAL PRIMARY KEY,
        job_id BIGINT NOT NULL,
        uuid TEXT NOT NULL,
        counter INTEGER NOT NULL,
        event TEXT NOT NULL,
        event_data JSON NOT NULL,
        stdout TEXT NOT NULL,
        start_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        created TIMESTAMPTZ NOT NULL,
        modified TIMESTAMPTZ NOT NULL,
        host_name TEXT NOT NULL,
        task TEXT NOT NULL,
        play TEXT NOT NULL,
        role TEXT NOT NULL,
        changed BOOLEAN NOT NULL,
        failed BOOLEAN NOT NULL,
        parent_uuid TEXT,
        UNIQUE (job_id, uuid)
      )`,
      'CREATE INDEX job_events_job_counter ON job_events (job_id, counter)',
      `CREATE TABLE job_host_summaries (
        id BIGSERIAL PRIMARY KEY,
        job_id BIGINT NOT NULL,
        host_name TEXT NOT NULL,
        ok INTEGER NOT NULL,
        changed INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        dark INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        rescued INTEGER NOT NULL,
        ignored INTEGER NOT NULL,
        processed INTEGER NOT NULL,
        failed BOOLEAN NOT NULL,
        UNIQUE (job_id, host_name)
      )`,
      `CREATE TABLE job_event_streams (
        job_id BIGINT PRIMARY KEY,
        final_counter INTEGER NOT NULL,
        completed_at TIMESTAMPTZ
      )`,
    ],
  },
  {
    version: 3,
    name: 'projects, inventories, templates, jobs, workflows',
    ...bothDialects([
      `CREATE TABLE projects (
        id {id},
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        scm_type TEXT NOT NULL,
        scm_url TEXT NOT NULL,
        scm_branch TEXT NOT NULL,
        local_path TEXT NOT NULL,
        scm_update_on_launch {flag},
        scm_update_cache_timeout INTEGER NOT NULL,
        created {time},
        modified {time}
      )`,
      `CREATE TABLE inventories (
        id {id},
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        format TEXT NOT NULL,
        content TEXT NOT NULL,
        host_count INTEGER NOT NULL,
        created {time},
        modified {time}
      )`,
      `CREATE TABLE job_templates (
        id {id},
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        project_id {ref} NOT NULL REFERENCES projects (id),
        inventory_id {ref} NOT NULL REFERENCES inventories (id),
        playbook TEXT NOT NULL,
        extra_vars TEXT NOT NULL,
        forks INTEGER NOT NULL,
        allow_simultaneous {flag},
        created {time},
        modified {time}
      )`,
      `CREATE TABLE workflow_job_templates (
        id {id},
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        allow_simultaneous {flag},
        nodes TEXT NOT NULL,
        created {time},
        modified {time}
      )`,
      // Every kind of job in one table (AWX's unified jobs): type job, project_update or workflow_job.
      `CREATE TABLE jobs (
        id {id},
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        launch_type TEXT NOT NULL,
        job_template_id {ref},
        workflow_job_template_id {ref},
        project_id {ref},
        inventory_id {ref},
        playbook TEXT NOT NULL,
        extra_vars TEXT NOT NULL,
        forks INTEGER NOT NULL,
        allow_simultaneous {flag},
        dependencies_processed {flag},
        dependency_id {ref},
        workflow_job_id {ref},
        workflow_nodes TEXT NOT NULL,
        controller_node TEXT NOT NULL,
        task_impact INTEGER NOT NULL,
        cancel_flag {flag},
        job_explanation TEXT NOT NULL,
        scm_revision TEXT NOT NULL,
        task_id TEXT NOT NULL,
        created {time},
        modified {time},
        started {time_null},
        finished {time_null},
        elapsed {real}
      )`,
      'CREATE INDEX jobs_status ON jobs (status, created)',
      'CREATE INDEX jobs_project_type ON jobs (project_id, type, created)',
      'CREATE INDEX jobs_workflow ON jobs (workflow_job_id)',
    ]),
  },
];
