/** What every storage backend offers the supervisor and the services. */
export interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  /** Where the data lives, for logs (never contains a password). */
  readonly location: string;
  /** Applies pending migrations; returns the versions applied now and the schema version after. */
  migrate(): Promise<{ readonly applied: readonly number[]; readonly version: number }>;
  close(): Promise<void>;
}
