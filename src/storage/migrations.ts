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
  {
    // A job's event count read from one row rather than counted over its events: a job output page
    // polls it. SQLite: saveBatch and deleteJobEvents keep it in their transaction (a row trigger cost
    // a tenth of the insert time). PostgreSQL, where several nodes (of two versions, during an
    // upgrade) write: statement triggers, one aggregate per statement, whoever writes. Rows are
    // upserted in job order so that two writers never wait on each other's rows in a circle.
    version: 4,
    name: 'per-job event counts',
    sqlite: [
      'CREATE TABLE job_event_counts (job_id INTEGER PRIMARY KEY, events INTEGER NOT NULL)',
      'INSERT INTO job_event_counts (job_id, events) SELECT job_id, count(*) FROM job_events GROUP BY job_id',
    ],
    postgres: [
      // Writers wait until the counts and their triggers are in place: none is missed or counted twice.
      'LOCK TABLE job_events IN SHARE ROW EXCLUSIVE MODE',
      'CREATE TABLE job_event_counts (job_id BIGINT PRIMARY KEY, events BIGINT NOT NULL)',
      'INSERT INTO job_event_counts (job_id, events) SELECT job_id, count(*) FROM job_events GROUP BY job_id',
      `CREATE FUNCTION overseer_count_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'TRUNCATE' THEN
          DELETE FROM job_event_counts;
        ELSE
          INSERT INTO job_event_counts AS c (job_id, events)
            SELECT job_id, CASE TG_OP WHEN 'INSERT' THEN count(*) ELSE -count(*) END FROM changed GROUP BY job_id ORDER BY job_id
            ON CONFLICT (job_id) DO UPDATE SET events = c.events + excluded.events;
        END IF;
        RETURN NULL;
      END $$`,
      `CREATE TRIGGER job_events_count_inserted AFTER INSERT ON job_events REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION overseer_count_job_events()`,
      `CREATE TRIGGER job_events_count_deleted AFTER DELETE ON job_events REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION overseer_count_job_events()`,
      'CREATE TRIGGER job_events_count_truncated AFTER TRUNCATE ON job_events FOR EACH STATEMENT EXECUTE FUNCTION overseer_count_job_events()',
    ],
  },
];
