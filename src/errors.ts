// Every error overseer raises carries a stable code; the codes live here and are never reused.

/** Error codes, each with what it means. */
export const ERROR_CODES = {
  OVERSEER_CONFIG: 'the configuration is invalid; every problem is listed',
  OVERSEER_START: 'the node could not start (port taken, Redis unreachable, a program missing)',
  OVERSEER_METRIC_NEGATIVE: 'a counter was given a negative increment',
  OVERSEER_METRIC_LABEL: 'a label value the catalog does not declare',
  OVERSEER_METRIC_REGION: 'a thread announced a metrics region that does not match the layout',
  OVERSEER_STOPPED: 'the node was asked to stop before its start had finished; what had started is stopped',
  OVERSEER_REDIS_START: 'the private redis-server did not start',
  OVERSEER_MIGRATION: 'a database migration failed',
  OVERSEER_API_STORAGE: 'the database failed while answering an API request; the client got 500',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code; `problems` lists each item when one error reports several. */
export class OverseerError extends Error {
  readonly code: ErrorCode;
  readonly problems: readonly string[];
  constructor(code: ErrorCode, message: string, problems: readonly string[] = []) {
    super(message);
    this.name = 'OverseerError';
    this.code = code;
    this.problems = problems;
  }
}
