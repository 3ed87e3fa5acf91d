// Ordered, append-only schema changes, in both dialects. Never edit or reorder a released
// migration: add one. Each backend records what it applied in schema_migrations.

/** One schema change, applied once and recorded in the database's ledger. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: readonly string[];
  readonly postgres: readonly string[];
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
];
