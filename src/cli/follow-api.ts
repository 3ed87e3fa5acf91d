// What the status command reads from a node's web port: JSON with the token as a bearer token,
// failures said the way an operator fixes them, and (for --follow) a job and its stored events.
import { CommandError } from './command-line.ts';
import type { OutputEvent } from './follow-order.ts';

/** GET a JSON answer from the node; a CommandError that says what to do when it cannot be had. */
export async function getJson<T>(base: string, path: string, token: string | undefined): Promise<T> {
  const res = await request(base, path, token);
  if (!res.ok) throw await refusal(base, path, res);
  return (await res.json()) as T;
}

async function request(base: string, path: string, token: string | undefined): Promise<Response> {
  try {
    return await fetch(new URL(path, base), { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CommandError(`cannot reach the node at ${base} (${cause?.code ?? cause?.message ?? (err as Error).message}): is it running, and is that its web port?`);
  }
}

async function refusal(base: string, path: string, res: Response): Promise<CommandError> {
  if (res.status === 401) return new CommandError(`the node at ${base} wants a token (401): give --token T or OVERSEER_API_TOKEN`);
  return new CommandError(`the node at ${base} answered ${path} with ${res.status}: ${(await res.text()).slice(0, 200)}`);
}

/** The kinds of job a follower can follow, where the API lists each, and the live group of its events. */
export const FOLLOWED_KINDS = [
  { type: 'job', path: 'jobs', events: 'job_events' },
  { type: 'project_update', path: 'project_updates', events: 'project_update_events' },
  { type: 'workflow_job', path: 'workflow_jobs', events: 'workflow_events' },
] as const;
export type FollowedKind = (typeof FOLLOWED_KINDS)[number];

/** A job as the follower sees it (the fields of GET /api/v2/<kind>/N/ it uses). */
export interface JobState {
  readonly id: number;
  readonly name: string;
  readonly status: string;
  readonly started: string | null;
  readonly finished: string | null;
  readonly elapsed: number;
  readonly job_explanation: string;
  /** True once every event up to the job's EOF is stored (workflow jobs have no events: undefined). */
  readonly event_processing_finished?: boolean;
}

/** The statuses a job ends in. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['successful', 'failed', 'error', 'canceled']);

/** The job of any kind with this id, and its kind; undefined when no kind has it. */
export async function findJob(base: string, id: number, token: string | undefined): Promise<{ kind: FollowedKind; job: JobState } | undefined> {
  for (const kind of FOLLOWED_KINDS) {
    const path = `/api/v2/${kind.path}/${id}/`;
    const res = await request(base, path, token);
    if (res.status === 404) continue;
    if (!res.ok) throw await refusal(base, path, res);
    return { kind, job: (await res.json()) as JobState };
  }
  return undefined;
}

/** One page size for every read of events: AWX's largest. */
const PAGE_SIZE = 200;

/**
 * Reads a job's stored events in counter order from the page that holds the `skip`-th one on, to
 * the end, giving each page to `each` (the next page is read once it is done with this one).
 * Events before the `skip`-th may come again; the caller drops them.
 */
export async function readEvents(base: string, id: number, token: string | undefined, skip: number, each: (events: readonly OutputEvent[]) => void | Promise<void>): Promise<void> {
  for (let page = Math.floor(skip / PAGE_SIZE) + 1; ; page++) {
    const path = `/api/v2/jobs/${id}/job_events/?order_by=counter&page_size=${PAGE_SIZE}&page=${page}`;
    const res = await request(base, path, token);
    // A page past the end (events deleted meanwhile, or none yet beyond the first page): nothing more.
    if (res.status === 404 && page > 1) return;
    if (!res.ok) throw await refusal(base, path, res);
    const answer = (await res.json()) as { next: string | null; results: OutputEvent[] };
    await each(answer.results);
    if (answer.next === null) return;
  }
}
