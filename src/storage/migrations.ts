// Ordered, append-only schema changes. Never edit or reorder a released migration: add one.

/** One schema change, applied once and recorded in the database's ledger. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  // The ledger itself is created before any migration runs; the first version marks a baseline.
  { version: 1, name: 'baseline', sqlite: [] },
];
