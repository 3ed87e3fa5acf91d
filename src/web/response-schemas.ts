// What the API answers, as JSON schemas for the OpenAPI document. Answers are written with
// JSON.stringify (see web-server.ts), so a schema here documents an answer and never trims one.
import { JOB_STATUSES, JOB_TYPES } from '../control/model.ts';
import type { JsonSchema } from './schemas.ts';

const str = { type: 'string' };
const int = { type: 'integer' };
const num = { type: 'number' };
const bool = { type: 'boolean' };
const time = { type: 'string', format: 'date-time' };
const nullable = (schema: JsonSchema): JsonSchema => ({ ...schema, type: [schema.type, 'null'] });
const strings = { type: 'array', items: str };
const links = { type: 'object', additionalProperties: str };

/** An object with these properties, all present; more may be added later. */
export const shape = (properties: Readonly<Record<string, JsonSchema>>, optional: readonly string[] = []): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((p) => !optional.includes(p)),
});

/** AWX's one-message answer. */
export const DETAIL = shape({ detail: str });
/** AWX's field errors: each field with its messages. */
export const FIELD_ERRORS: JsonSchema = { type: 'object', additionalProperties: strings, description: 'every problem at once, by field' };

const HEAD = { id: int, type: str, url: str, related: links, created: time, modified: time, name: str, description: str };

export const PROJECT = shape({
  ...HEAD,
  scm_type: { type: 'string', enum: ['', 'git'] },
  scm_url: str,
  scm_branch: str,
  local_path: str,
  scm_update_on_launch: bool,
  scm_update_cache_timeout: int,
});

export const INVENTORY = shape({ ...HEAD, format: { type: 'string', enum: ['ini', 'yaml'] }, content: str, host_count: int });

export const JOB_TEMPLATE = shape({
  ...HEAD,
  project: int,
  inventory: int,
  playbook: str,
  extra_vars: { type: 'string', description: 'JSON text of a mapping' },
  forks: int,
  allow_simultaneous: bool,
});

const NODE = { identifier: str, job_template: int, success_nodes: strings, failure_nodes: strings, always_nodes: strings };
export const WORKFLOW_JOB_TEMPLATE = shape({ ...HEAD, allow_simultaneous: bool, nodes: { type: 'array', items: shape(NODE) } });

const JOB_ONLY = [
  'job_template', 'project', 'inventory', 'playbook', 'extra_vars', 'forks', 'controller_node', 'execution_node',
  'task_impact', 'dependency', 'workflow_job', 'scm_revision', 'event_processing_finished',
];
const WORKFLOW_ONLY = ['workflow_job_template', 'workflow_nodes'];
/** A job of any kind (AWX's unified job): jobs and project updates, or workflow jobs. */
export const JOB = shape(
  {
    id: int,
    type: { type: 'string', enum: JOB_TYPES },
    url: str,
    related: links,
    created: time,
    modified: time,
    name: str,
    description: str,
    status: { type: 'string', enum: JOB_STATUSES },
    failed: bool,
    launch_type: { type: 'string', enum: ['manual', 'dependency', 'workflow'] },
    can_cancel: bool,
    cancel_flag: bool,
    job_explanation: str,
    started: nullable(time),
    finished: nullable(time),
    elapsed: num,
    allow_simultaneous: bool,
    job_template: nullable(int),
    project: nullable(int),
    inventory: nullable(int),
    playbook: str,
    extra_vars: str,
    forks: int,
    controller_node: str,
    execution_node: str,
    task_impact: int,
    dependency: nullable(int),
    workflow_job: nullable(int),
    scm_revision: str,
    event_processing_finished: bool,
    workflow_job_template: nullable(int),
    workflow_nodes: { type: 'array', items: shape({ ...NODE, job: nullable(int), do_not_run: bool }) },
  },
  [...JOB_ONLY, ...WORKFLOW_ONLY],
);

/** A launch's answer: the new job, and its id once more under `field`, as AWX answers. */
export const launched = (field: string): JsonSchema => ({ allOf: [JOB, shape({ [field]: int })] });

export const EVENT = shape({
  id: int, job: int, uuid: str, counter: int, event: str, event_data: { type: 'object' }, stdout: str, start_line: int, end_line: int,
  created: time, modified: time, host_name: str, task: str, play: str, role: str, changed: bool, failed: bool, parent_uuid: nullable(str),
});

export const HOST_SUMMARY = shape({
  id: int, job: int, host_name: str, ok: int, changed: int, failures: int, dark: int, skipped: int, rescued: int, ignored: int, processed: int, failed: bool,
});

export const INSTANCE = shape({
  name: str,
  version: str,
  last_snapshot: nullable(time),
  age_seconds: nullable(num),
  status: { type: 'string', enum: ['healthy', 'stale', 'lost'] },
  capacity: nullable(int),
  consumed_capacity: int,
  remaining_capacity: nullable(int),
  percent_capacity_remaining: nullable(num),
  jobs_running: int,
});
