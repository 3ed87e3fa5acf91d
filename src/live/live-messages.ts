// What carries the live job output inside a node and between nodes: the callback receivers and the
// job state writers publish these texts on Redis pub/sub; the web port's hub (src/live/hub.ts)
// subscribes to the channels its websocket clients need; in relay mode the websockets thread sends
// the same texts, signed, to the peers that asked for them. Every side imports this module.
//
// A message is text: a header line, then its body.
//   events <job id>\n<counter> <event JSON>\n<counter> <event JSON>…   one job's events saved by one batch
//   status\n<JSON>                                                    a job's status changed (AWX's shape)
//   summary\n<JSON>                                                   a job's event stream is complete
// The event JSON is the event as GET /api/v2/jobs/<id>/job_events/ shows it (without group_name,
// which the hub adds per group), written here once by the receiver: the hub splits lines and never
// parses an event. JSON.stringify escapes newlines, so an event is always one line.
import type { EventRow } from '../storage/storage.ts';
import type { JobType } from '../control/model.ts';

/** Status changes and summaries of every job. */
export const LIVE_JOBS_CHANNEL = 'overseer:live:jobs';
const EVENTS_PREFIX = 'overseer:live:events:';
/** One job's saved events (a channel per job: Redis routes them only to who asked). */
export const eventsChannel = (jobId: number): string => `${EVENTS_PREFIX}${jobId}`;

/** A job's status change as AWX sends it to the `jobs-status_changed` group. */
export interface StatusMessage {
  readonly group_name: 'jobs';
  readonly type: JobType;
  readonly unified_job_id: number;
  readonly status: string;
  readonly unified_job_template_id?: number;
  /** Project updates: AWX's clients tell them from jobs by this. */
  readonly project_id?: number;
  /** A job spawned by a workflow: its status goes to `workflow_events-<workflow_job_id>` too. */
  readonly workflow_job_id?: number;
  readonly finished?: string;
}

/** AWX's `jobs-summary`: the job's event stream is complete (here: its EOF and every event up to final_counter are stored). */
export interface SummaryMessage {
  readonly group_name: 'jobs';
  readonly unified_job_id: number;
  readonly final_counter: number;
}

/** One event line of an events message. */
export interface LiveEvent {
  readonly counter: number;
  /** The event's JSON object text, without group_name. */
  readonly json: string;
}

export type LiveMessage =
  | { readonly kind: 'events'; readonly jobId: number; readonly events: readonly LiveEvent[] }
  | { readonly kind: 'status'; readonly status: StatusMessage; readonly text: string }
  | { readonly kind: 'summary'; readonly summary: SummaryMessage; readonly text: string };

const q = JSON.stringify;

/** A saved event as the job_events API shows it (src/web/serializers.ts showEvent), as JSON text; event_data is already JSON text. */
export function eventJson(id: number, e: EventRow): string {
  return (
    `{"id":${id},"job":${e.job_id},"uuid":${q(e.uuid)},"counter":${e.counter},"event":${q(e.event)},"event_data":${e.event_data},` +
    `"stdout":${q(e.stdout)},"start_line":${e.start_line},"end_line":${e.end_line},"created":${q(e.created)},"modified":${q(e.modified)},` +
    `"host_name":${q(e.host_name)},"task":${q(e.task)},"play":${q(e.play)},"role":${q(e.role)},"changed":${e.changed},"failed":${e.failed},` +
    `"parent_uuid":${q(e.parent_uuid)}}`
  );
}

/** The events message of one job: lines of `<counter> <json>`. */
export function encodeEvents(jobId: number, events: readonly LiveEvent[]): string {
  let text = `events ${jobId}`;
  for (const e of events) text += `\n${e.counter} ${e.json}`;
  return text;
}

export const encodeStatus = (s: StatusMessage): string => `status\n${q(s)}`;
export const encodeSummary = (s: SummaryMessage): string => `summary\n${q(s)}`;

const isId = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

/** Reads a live message; undefined when the text is not one (a newer sender, or garbage). */
export function decodeLive(text: string): LiveMessage | undefined {
  const eol = text.indexOf('\n');
  const header = eol < 0 ? text : text.slice(0, eol);
  if (header.startsWith('events ')) {
    const jobId = Number(header.slice(7));
    if (!isId(jobId)) return undefined;
    const events: LiveEvent[] = [];
    let at = eol;
    while (at >= 0) {
      const next = text.indexOf('\n', at + 1);
      const line = next < 0 ? text.slice(at + 1) : text.slice(at + 1, next);
      at = next;
      const space = line.indexOf(' ');
      const counter = Number(line.slice(0, space));
      if (space <= 0 || !Number.isSafeInteger(counter) || counter < 0) return undefined;
      events.push({ counter, json: line.slice(space + 1) });
    }
    return { kind: 'events', jobId, events };
  }
  if (eol < 0 || (header !== 'status' && header !== 'summary')) return undefined;
  const body = text.slice(eol + 1);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || !isId((value as { unified_job_id?: unknown }).unified_job_id)) return undefined;
  if (header === 'status') {
    const s = value as StatusMessage;
    return typeof s.status === 'string' && typeof s.type === 'string' ? { kind: 'status', status: s, text: body } : undefined;
  }
  const s = value as SummaryMessage;
  return Number.isSafeInteger(s.final_counter) ? { kind: 'summary', summary: s, text: body } : undefined;
}
