// The control plane's part of /api/v2 (projects, inventories, job and workflow job templates, and
// jobs of every kind with their events and output), and what every route of the API shares: the
// route table's shape, AWX's paging, and field errors collected over a whole request.
import { statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EVENT_ORDERS, type EventOrder, type Page, type Storage, type StoredEvent, type StoredHostSummary } from '../storage/storage.ts';
import { ACTIVE_STATUSES, JOB_TYPES, type Inventory, type Job, type JobTemplate, type JobType, type Project, type WorkflowJobTemplate, type WorkflowNodeSpec } from '../control/model.ts';
import type { ControlStore, Listed, NewInventory, NewJobTemplate, NewProject, NewWorkflowJobTemplate } from '../control/store.ts';
import type { Submit } from '../control/manager-env.ts';
import { launchJob, launchWorkflow } from '../control/launch.ts';
import { cancelJob } from '../control/cancel.ts';
import { countHosts } from '../control/inventory.ts';

const DEFAULT_PAGE_SIZE = 50;
/** AWX's MAX_PAGE_SIZE. */
const MAX_PAGE_SIZE = 200;
/** The largest value of an INTEGER column in PostgreSQL. */
const MAX_INT = 2_147_483_647;
/** AWX's max_length of names. */
const MAX_NAME = 512;
export const NOT_FOUND: Reply = { status: 404, body: { detail: 'Not found.' } };

/** What the API needs for projects, templates and jobs. */
export interface ControlDeps {
  readonly store: ControlStore;
  /** Queues a task on this node's dispatcher. */
  readonly submit: Submit;
  /** Publishes on Redis (cancel requests reach the node running the job). */
  readonly publish: (channel: string, message: string) => Promise<unknown>;
  /** This node's capacity in forks. */
  readonly capacity: number;
}

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  /** A body that is not JSON (Prometheus text, job output), with its content type. */
  readonly text?: { readonly contentType: string; readonly body: string };
  readonly headers?: Readonly<Record<string, string>>;
}

type FieldErrors = Record<string, string[]>;

/** A request as a route's handler sees it. */
export interface ApiRequest {
  readonly path: string;
  readonly query: URLSearchParams;
  /** The path's `:id` (0 on routes without one). */
  readonly id: number;
  /** The JSON object POSTed ({} for GET). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly accept: string | undefined;
}

type Handler = (r: ApiRequest) => Promise<Reply>;

/** One entry of the API's routing table. GET also answers HEAD. */
export interface Route {
  readonly pattern: RegExp;
  readonly get?: Handler;
  readonly post?: Handler;
  /** Answered without a token. */
  readonly open?: boolean;
}

/** The pattern of /api/v2/<template>/ (trailing slash optional); each `:id` captures one segment. */
export const at = (template: string): RegExp => new RegExp(`^/api/v2/${template.replaceAll(':id', '([^/]+)')}/?$`);

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isInteger = (v: unknown): v is number => Number.isSafeInteger(v);
const isList = (v: unknown): v is unknown[] => Array.isArray(v);
/** A JSON value's type, as messages name it. */
export const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const show = JSON.stringify;

/** Problems found in a request, reported all at once as AWX does: {"field": ["message", ...]}. */
class Problems {
  // No prototype: a field named __proto__ or constructor must be just another name.
  readonly errors: FieldErrors = Object.create(null) as FieldErrors;
  add(field: string, message: string): void {
    (this.errors[field] ??= []).push(message);
  }
  get any(): boolean {
    return Object.keys(this.errors).length > 0;
  }
  reply(): Reply {
    return { status: 400, body: this.errors };
  }
}

/** Flags every query parameter other than `known` (ignoring a filter would hand back unfiltered rows as if filtered). */
export function queryProblems(query: URLSearchParams, known: readonly string[]): Problems {
  const problems = new Problems();
  for (const key of new Set(query.keys())) {
    if (!known.includes(key)) problems.add(key, `${key} is not a query parameter here; expected ${known.length > 0 ? known.join(', ') : 'none'}`);
  }
  return problems;
}

/** Reads page, page_size and (for events) order_by; every problem is reported. */
function parsePaging(query: URLSearchParams, withOrder: boolean): { page: number; pageSize: number; order: EventOrder } | Problems {
  const problems = queryProblems(query, withOrder ? ['page', 'page_size', 'order_by'] : ['page', 'page_size']);
  for (const key of ['page', 'page_size', 'order_by']) {
    const n = query.getAll(key).length;
    if (n > 1) problems.add(key, `${key} was given ${n} times; expected it once`);
  }

  const pageText = query.get('page');
  let page = 1;
  if (pageText !== null) {
    // Beyond a safe integer it is still a whole number, and simply past the end.
    if (/^\d+$/.test(pageText) && Number(pageText) >= 1) page = Number(pageText);
    else problems.add('page', `page must be a whole number ≥ 1; got ${show(pageText)}`);
  }

  const sizeText = query.get('page_size');
  let pageSize = DEFAULT_PAGE_SIZE;
  if (sizeText !== null) {
    const n = Number(sizeText);
    if (/^\d+$/.test(sizeText) && n >= 1 && n <= MAX_PAGE_SIZE) pageSize = n;
    else problems.add('page_size', `page_size must be a whole number from 1 to ${MAX_PAGE_SIZE}; got ${show(sizeText)}`);
  }

  const orderText = query.get('order_by');
  let order: EventOrder = 'counter';
  if (withOrder && orderText !== null) {
    const found = EVENT_ORDERS.find((o) => o === orderText);
    if (found !== undefined) order = found;
    else problems.add('order_by', `order_by must be one of ${EVENT_ORDERS.join(', ')}; got ${show(orderText)}`);
  }
  return problems.any ? problems : { page, pageSize, order };
}

/** The request's URL with `page` replaced; the other parameters are kept as the client gave them. */
function pageLink(path: string, query: URLSearchParams, page: number): string {
  const params = new URLSearchParams([['page', String(page)], ...[...query].filter(([key]) => key !== 'page')]);
  return `${path}?${params.toString()}`;
}

type Load = (page: Page, order: EventOrder) => Promise<{ count: number; results: unknown[] }>;

/** One page of a list in AWX's shape {count, next, previous, results}; `load` reads its rows. */
export async function pageOf(r: ApiRequest, load: Load, withOrder = false): Promise<Reply> {
  const paging = parsePaging(r.query, withOrder);
  if (paging instanceof Problems) return paging.reply();
  const { page, pageSize, order } = paging;
  // OFFSET must stay an integer for SQLite; any page that far out is past the end anyway.
  const offset = Math.min((page - 1) * pageSize, Number.MAX_SAFE_INTEGER);
  const { count, results } = await load({ limit: pageSize, offset }, order);
  // An empty first page is an empty list; any later empty page is a client error.
  if (page > 1 && offset >= count) return { status: 404, body: { detail: 'Invalid page.' } };
  return {
    status: 200,
    body: {
      count,
      next: page * pageSize < count ? pageLink(r.path, r.query, page + 1) : null,
      previous: page > 1 ? pageLink(r.path, r.query, page - 1) : null,
      results,
    },
  };
}

/** One object: 404 when `load` finds none. */
async function detail<T>(r: ApiRequest, load: (id: number) => Promise<T | undefined>, view: (t: T) => unknown): Promise<Reply> {
  const problems = queryProblems(r.query, []);
  if (problems.any) return problems.reply();
  const found = await load(r.id);
  return found === undefined ? NOT_FOUND : { status: 200, body: await view(found) };
}

type NamedTable = Parameters<ControlStore['nameTaken']>[0];
const NOUNS: Readonly<Record<NamedTable, string>> = {
  projects: 'project',
  inventories: 'inventory',
  job_templates: 'job template',
  workflow_job_templates: 'workflow job template',
};
const nameTaken = (table: NamedTable) => `${NOUNS[table]} with this name already exists.`;

/** A POST body read field by field; each problem is added, and the field's value is then undefined. */
class Body extends Problems {
  readonly #body: Readonly<Record<string, unknown>>;

  /** `fields`: what may be given; anything else is a problem. */
  constructor(body: Readonly<Record<string, unknown>>, fields: readonly string[]) {
    super();
    this.#body = body;
    for (const key of Object.keys(body)) {
      if (!fields.includes(key)) this.add(key, `Unknown field; expected ${fields.length > 0 ? `one of ${fields.join(', ')}` : 'none'}.`);
    }
  }

  /** The field's value; `fallback` when it is absent (required when there is none). */
  #read<T>(field: string, fallback: T | undefined, is: (v: unknown) => v is T, wrongType: string): T | undefined {
    if (!Object.hasOwn(this.#body, field)) {
      if (fallback === undefined) this.add(field, 'This field is required.');
      return fallback;
    }
    const v = this.#body[field];
    if (v === null) this.add(field, 'This field may not be null.');
    else if (is(v)) return v;
    else this.add(field, wrongType);
    return undefined;
  }

  text(field: string, fallback?: string): string | undefined {
    return this.#read(field, fallback, isString, `Not a valid string; got ${typeName(this.#body[field])}.`);
  }

  /** A required string that is not blank. */
  required(field: string): string | undefined {
    const v = this.text(field);
    if (v?.trim() !== '') return v;
    this.add(field, 'This field may not be blank.');
    return undefined;
  }

  flag(field: string, fallback: boolean): boolean | undefined {
    return this.#read(field, fallback, isBoolean, `Must be a valid boolean; got ${typeName(this.#body[field])}.`);
  }

  /** A whole number ≥ 0 that an INTEGER column holds. */
  count(field: string, fallback: number): number | undefined {
    const n = this.#read(field, fallback, isInteger, 'A valid integer is required.');
    if (n === undefined || (n >= 0 && n <= MAX_INT)) return n;
    this.add(field, n < 0 ? 'Ensure this value is greater than or equal to 0.' : `Ensure this value is less than or equal to ${MAX_INT}.`);
    return undefined;
  }

  choice<T extends string>(field: string, choices: readonly T[], fallback: T): T | undefined {
    const v = this.text(field, fallback);
    const found = choices.find((c) => c === v);
    if (v !== undefined && found === undefined) this.add(field, `${show(v)} is not a valid choice; expected one of ${choices.map((c) => show(c)).join(', ')}.`);
    return found;
  }

  list(field: string): unknown[] | undefined {
    return this.#read(field, undefined, isList, `Expected a list of items but got type "${typeName(this.#body[field])}".`);
  }

  /** The object a required id field names. */
  async ref<T>(field: string, find: (id: number) => Promise<T | undefined>): Promise<T | undefined> {
    const id = this.#read(field, undefined, isInteger, `Incorrect type. Expected pk value, received ${typeName(this.#body[field])}.`);
    if (id === undefined) return undefined;
    const found = await find(id);
    if (found === undefined) this.add(field, `Invalid pk "${id}" - object does not exist.`);
    return found;
  }

  /** A required name that no other object of the table has. */
  async uniqueName(store: ControlStore, table: NamedTable): Promise<string | undefined> {
    const name = this.required('name');
    if (name === undefined) return undefined;
    if (name.length > MAX_NAME) this.add('name', `Ensure this field has no more than ${MAX_NAME} characters.`);
    else if (await store.nameTaken(table, name)) this.add('name', nameTaken(table));
    else return name;
    return undefined;
  }

  /** extra_vars as JSON text: given as an object, or as JSON or YAML text of a mapping (as AWX takes it). */
  extraVars(): string | undefined {
    if (!Object.hasOwn(this.#body, 'extra_vars')) return '{}';
    let vars = this.#body.extra_vars;
    if (typeof vars === 'string') {
      try {
        vars = (parseYaml(vars) as unknown) ?? {};
      } catch (err) {
        this.add('extra_vars', `Not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
        return undefined;
      }
    }
    if (isMapping(vars)) return JSON.stringify(vars);
    this.add('extra_vars', `Must be a mapping (an object, or JSON or YAML text of one); got ${typeName(vars)}.`);
    return undefined;
  }

  /** The values read, when no field had a problem. */
  valid<T>(values: { [K in keyof T]: T[K] | undefined }): T | undefined {
    return this.any ? undefined : (values as T);
  }
}

/** 201 with the new object; a name another request took meanwhile is the same field error as one taken before. */
async function created<T>(store: ControlStore, table: NamedTable, name: string, insert: () => Promise<T>, view: (t: T) => unknown): Promise<Reply> {
  try {
    return { status: 201, body: view(await insert()) };
  } catch (err) {
    if (await store.nameTaken(table, name)) return { status: 400, body: { name: [nameTaken(table)] } };
    throw err;
  }
}

const statOf = (path: string) => {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
};

/** The fields every template and project shows first. */
function head(type: string, path: string, o: { id: number; name: string; description: string; created: string; modified: string }, related: Record<string, string> = {}) {
  const url = `/api/v2/${path}/${o.id}/`;
  const links = Object.fromEntries(Object.entries(related).map(([k, v]) => [k, `${url}${v}/`]));
  return { id: o.id, type, url, related: links, created: o.created, modified: o.modified, name: o.name, description: o.description };
}

const showProject = (p: Project) => ({
  ...head('project', 'projects', p, { project_updates: 'project_updates' }),
  scm_type: p.scm_type,
  scm_url: p.scm_url,
  scm_branch: p.scm_branch,
  local_path: p.local_path,
  scm_update_on_launch: p.scm_update_on_launch,
  scm_update_cache_timeout: p.scm_update_cache_timeout,
});

const showInventory = (i: Inventory) => ({ ...head('inventory', 'inventories', i), format: i.format, content: i.content, host_count: i.host_count });

const showJobTemplate = (t: JobTemplate) => ({
  ...head('job_template', 'job_templates', t, { launch: 'launch' }),
  project: t.project_id,
  inventory: t.inventory_id,
  playbook: t.playbook,
  extra_vars: t.extra_vars,
  forks: t.forks,
  allow_simultaneous: t.allow_simultaneous,
});

const showWorkflowTemplate = (t: WorkflowJobTemplate) => ({
  ...head('workflow_job_template', 'workflow_job_templates', t, { launch: 'launch' }),
  allow_simultaneous: t.allow_simultaneous,
  nodes: t.nodes,
});

const JOB_PATHS: Readonly<Record<JobType, string>> = { job: 'jobs', project_update: 'project_updates', workflow_job: 'workflow_jobs' };
const canCancel = (j: Job) => ACTIVE_STATUSES.includes(j.status);

/** A job of any kind as AWX shows its unified jobs (plus `dependency`: the project update it waited for). */
async function showJob(store: ControlStore, j: Job): Promise<Record<string, unknown>> {
  const url = `/api/v2/${JOB_PATHS[j.type]}/${j.id}/`;
  const common = {
    id: j.id,
    type: j.type,
    url,
    related: {} as Record<string, string>,
    created: j.created,
    modified: j.modified,
    name: j.name,
    description: '',
    status: j.status,
    failed: j.status === 'failed' || j.status === 'error',
    launch_type: j.launch_type,
    can_cancel: canCancel(j),
    cancel_flag: j.cancel_flag,
    job_explanation: j.job_explanation,
    started: j.started,
    finished: j.finished,
    elapsed: j.elapsed,
    allow_simultaneous: j.allow_simultaneous,
  };
  if (j.type === 'workflow_job') {
    return {
      ...common,
      related: { cancel: `${url}cancel/` },
      workflow_job_template: j.workflow_job_template_id,
      workflow_nodes: j.workflow_nodes.map((n) => ({
        identifier: n.identifier,
        job_template: n.job_template,
        job: n.job,
        do_not_run: n.do_not_run,
        success_nodes: n.success_nodes,
        failure_nodes: n.failure_nodes,
        always_nodes: n.always_nodes,
      })),
    };
  }
  const eventsComplete = await store.eventsComplete(j.id);
  const events = `/api/v2/jobs/${j.id}/`;
  return {
    ...common,
    related: {
      stdout: `${url}stdout/`,
      cancel: `${url}cancel/`,
      ...(j.type === 'job' ? { job_events: `${events}job_events/`, job_host_summaries: `${events}job_host_summaries/` } : {}),
    },
    job_template: j.job_template_id,
    project: j.project_id,
    inventory: j.inventory_id,
    playbook: j.playbook,
    extra_vars: j.extra_vars,
    forks: j.forks,
    controller_node: j.controller_node,
    execution_node: j.controller_node,
    task_impact: j.task_impact,
    dependency: j.dependency_id,
    workflow_job: j.workflow_job_id,
    scm_revision: j.scm_revision,
    event_processing_finished: eventsComplete,
  };
}

async function createProject(store: ControlStore, body: ApiRequest['body']): Promise<Reply> {
  const f = new Body(body, ['name', 'description', 'scm_type', 'scm_url', 'scm_branch', 'local_path', 'scm_update_on_launch', 'scm_update_cache_timeout']);
  const name = await f.uniqueName(store, 'projects');
  const scm_type = f.choice('scm_type', ['', 'git'] as const, '');
  const scm_url = f.text('scm_url', '');
  const local_path = f.text('local_path', '');
  if (scm_type === 'git') {
    if (scm_url?.trim() === '') f.add('scm_url', 'A git project needs the URL of its repository.');
    if (local_path !== undefined && local_path !== '') f.add('local_path', "A git project has no local_path: its project updates check it out into the node's data dir.");
  } else if (scm_type === '' && local_path !== undefined) {
    if (local_path === '') f.add('local_path', 'A project without an scm_type runs from a directory of this node: local_path is required.');
    else if (!isAbsolute(local_path)) f.add('local_path', `${show(local_path)} is not an absolute path; expected a directory of this node such as /srv/playbooks.`);
    else if (!statOf(local_path)?.isDirectory()) f.add('local_path', `${show(local_path)} is not an existing directory on this node.`);
  }
  const p = f.valid<NewProject>({
    name,
    description: f.text('description', ''),
    scm_type,
    scm_url,
    scm_branch: f.text('scm_branch', ''),
    local_path,
    scm_update_on_launch: f.flag('scm_update_on_launch', false),
    scm_update_cache_timeout: f.count('scm_update_cache_timeout', 0),
  });
  return p === undefined ? f.reply() : created(store, 'projects', p.name, () => store.createProject(p), showProject);
}

async function createInventory(store: ControlStore, body: ApiRequest['body']): Promise<Reply> {
  const f = new Body(body, ['name', 'description', 'format', 'content']);
  const name = await f.uniqueName(store, 'inventories');
  const format = f.choice('format', ['ini', 'yaml'] as const, 'ini');
  const content = f.text('content');
  let host_count: number | undefined;
  if (format !== undefined && content !== undefined) {
    const counted = countHosts(format, content);
    if ('error' in counted) f.add('content', counted.error);
    else if (counted.hosts === 0) f.add('content', 'the inventory has no hosts');
    else host_count = counted.hosts;
  }
  const i = f.valid<NewInventory>({ name, description: f.text('description', ''), format, content, host_count });
  return i === undefined ? f.reply() : created(store, 'inventories', i.name, () => store.createInventory(i), showInventory);
}

async function createJobTemplate(store: ControlStore, body: ApiRequest['body']): Promise<Reply> {
  const f = new Body(body, ['name', 'description', 'project', 'inventory', 'playbook', 'extra_vars', 'forks', 'allow_simultaneous']);
  const name = await f.uniqueName(store, 'job_templates');
  const project = await f.ref('project', (id) => store.project(id));
  const inventory = await f.ref('inventory', (id) => store.inventory(id));
  const playbook = f.required('playbook');
  if (playbook !== undefined) {
    if (isAbsolute(playbook) || playbook.split(/[\\/]/).includes('..')) {
      f.add('playbook', `${show(playbook)} must be a path inside the project, relative to its directory and without "..".`);
    } else if (project?.scm_type === '' && !statOf(join(project.local_path, playbook))?.isFile()) {
      f.add('playbook', `${show(playbook)} is not a file in the project's directory ${project.local_path}.`);
    }
  }
  const t = f.valid<NewJobTemplate>({
    name,
    description: f.text('description', ''),
    project_id: project?.id,
    inventory_id: inventory?.id,
    playbook,
    extra_vars: f.extraVars(),
    forks: f.count('forks', 0),
    allow_simultaneous: f.flag('allow_simultaneous', false),
  });
  return t === undefined ? f.reply() : created(store, 'job_templates', t.name, () => store.createJobTemplate(t), showJobTemplate);
}

const EDGES = ['success_nodes', 'failure_nodes', 'always_nodes'] as const;
const NODE_FIELDS = ['identifier', 'job_template', ...EDGES];

/**
 * A workflow's nodes: unique identifiers, existing job templates, edges to other nodes of the
 * workflow, and no cycle. Every problem goes to the `nodes` field, naming the node.
 */
async function readNodes(f: Body, store: ControlStore): Promise<WorkflowNodeSpec[] | undefined> {
  const items = f.list('nodes');
  if (items === undefined) return undefined;
  const problems = new Problems();
  const bad = (message: string) => problems.add('nodes', message);
  if (items.length === 0) bad('A workflow needs at least one node.');
  const nodes: WorkflowNodeSpec[] = [];
  const identifiers = new Set<string>();
  items.forEach((item, i) => {
    const at = `nodes[${i}]`;
    if (!isMapping(item)) return bad(`${at}: expected an object; got ${typeName(item)}.`);
    for (const key of Object.keys(item)) if (!NODE_FIELDS.includes(key)) bad(`${at}.${key}: unknown field; expected one of ${NODE_FIELDS.join(', ')}.`);
    const { identifier, job_template } = item;
    const named = typeof identifier === 'string' && identifier.trim() !== '';
    if (!named) bad(`${at}.identifier: expected a non-empty string; got ${show(identifier) ?? 'nothing'}.`);
    else if (identifiers.has(identifier)) bad(`${at}.identifier: ${show(identifier)} is the identifier of an earlier node.`);
    else identifiers.add(identifier);
    if (!isInteger(job_template)) bad(`${at}.job_template: expected the id of a job template; got ${show(job_template) ?? 'nothing'}.`);
    const edges = EDGES.map((edge) => {
      const to = item[edge] ?? [];
      if (isList(to) && to.every(isString)) return to;
      bad(`${at}.${edge}: expected a list of node identifiers.`);
      return [];
    });
    if (named && isInteger(job_template)) {
      nodes.push({ identifier, job_template, success_nodes: edges[0] ?? [], failure_nodes: edges[1] ?? [], always_nodes: edges[2] ?? [] });
    }
  });

  const templates = [...new Set(nodes.map((n) => n.job_template))];
  const found = await Promise.all(templates.map((id) => store.jobTemplate(id)));
  const missing = new Set(templates.filter((_, i) => found[i] === undefined));
  nodes.forEach((n) => {
    if (missing.has(n.job_template)) bad(`node ${show(n.identifier)}: job_template: Invalid pk "${n.job_template}" - object does not exist.`);
    for (const edge of EDGES) {
      for (const to of n[edge]) {
        if (to === n.identifier) bad(`node ${show(n.identifier)}: ${edge}: a node cannot follow itself.`);
        else if (!identifiers.has(to)) bad(`node ${show(n.identifier)}: ${edge}: ${show(to)} is not the identifier of a node of this workflow.`);
      }
    }
  });
  if (!problems.any) {
    const cycle = findCycle(nodes);
    if (cycle !== undefined) bad(`The nodes form a cycle (${cycle.join(' → ')}); a workflow's graph must be acyclic.`);
  }
  for (const message of problems.errors.nodes ?? []) f.add('nodes', message);
  return problems.any ? undefined : nodes;
}

/** A cycle of the graph (its identifiers, the first repeated at the end), or undefined when it has none. */
function findCycle(nodes: readonly WorkflowNodeSpec[]): string[] | undefined {
  const children = new Map(nodes.map((n) => [n.identifier, new Set(EDGES.flatMap((edge) => n[edge]))]));
  const parents = new Map(nodes.map((n) => [n.identifier, new Set<string>()]));
  for (const [id, to] of children) for (const child of to) parents.get(child)?.add(id);
  // Peel off nodes whose parents are all gone (Kahn); what stays is on a cycle or after one.
  const ready = [...parents].filter(([, from]) => from.size === 0).map(([id]) => id);
  for (let id = ready.pop(); id !== undefined; id = ready.pop()) {
    parents.delete(id);
    for (const child of children.get(id) ?? []) {
      const from = parents.get(child);
      if (from?.delete(id) && from.size === 0) ready.push(child);
    }
  }
  // Every node left has a parent left: walking up from one must come back to a node already seen.
  const walk = new Map<string, number>();
  for (let at = parents.keys().next().value; at !== undefined; at = parents.get(at)?.values().next().value) {
    if (walk.has(at)) return [...[...walk.keys()].slice(walk.get(at)), at].reverse();
    walk.set(at, walk.size);
  }
  return undefined;
}

async function createWorkflowTemplate(store: ControlStore, body: ApiRequest['body']): Promise<Reply> {
  const f = new Body(body, ['name', 'description', 'allow_simultaneous', 'nodes']);
  const t = f.valid<NewWorkflowJobTemplate>({
    name: await f.uniqueName(store, 'workflow_job_templates'),
    description: f.text('description', ''),
    allow_simultaneous: f.flag('allow_simultaneous', false),
    nodes: await readNodes(f, store),
  });
  return t === undefined ? f.reply() : created(store, 'workflow_job_templates', t.name, () => store.createWorkflowTemplate(t), showWorkflowTemplate);
}

/** Launches a template (the body may not set anything); 201 with the new job and `field`: its id, as AWX answers. */
async function launch<T>(
  r: ApiRequest,
  load: (id: number) => Promise<T | undefined>,
  start: (t: T) => Promise<Job>,
  field: 'job' | 'workflow_job',
  store: ControlStore,
): Promise<Reply> {
  const template = await load(r.id);
  if (template === undefined) return NOT_FOUND;
  const f = new Body(r.body, []);
  if (f.any) return f.reply();
  const job = await start(template);
  return { status: 201, body: { [field]: job.id, ...(await showJob(store, job)) } };
}

/** 202 with the job when it is canceled or asked to stop; 405 when it has finished (AWX's answer). */
async function cancel(c: ControlDeps, r: ApiRequest, load: (id: number) => Promise<Job | undefined>): Promise<Reply> {
  const job = await load(r.id);
  if (job === undefined) return NOT_FOUND;
  const f = new Body(r.body, []);
  if (f.any) return f.reply();
  if ((await cancelJob(c, job)) === 'finished') {
    return { status: 405, body: { detail: `Method "POST" not allowed: the job has already finished (${job.status}).` }, headers: { allow: 'GET, HEAD' } };
  }
  return { status: 202, body: await showJob(c.store, (await c.store.job(job.id)) ?? job) };
}

/** ANSI escape sequences (CSI), which format=txt strips as AWX does. */
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;
const STDOUT_FORMATS = ['txt', 'ansi', 'json'];

/** A job's output: its events' stdout in counter order, one line each. */
async function stdout(storage: Storage, r: ApiRequest, load: (id: number) => Promise<Job | undefined>): Promise<Reply> {
  const problems = queryProblems(r.query, ['format']);
  const format = r.query.get('format') ?? 'txt';
  if (!STDOUT_FORMATS.includes(format)) problems.add('format', `format must be one of ${STDOUT_FORMATS.join(', ')}; got ${show(format)}`);
  if (problems.any) return problems.reply();
  const job = await load(r.id);
  if (job === undefined) return NOT_FOUND;
  let content = '';
  for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
    const { results } = await storage.listJobEvents(job.id, { limit: MAX_PAGE_SIZE, offset }, 'counter');
    for (const e of results) if (e.stdout !== '') content += `${e.stdout}\n`;
    if (results.length < MAX_PAGE_SIZE) break;
  }
  if (format === 'json') {
    const lines = content.split('\n').length - 1;
    return { status: 200, body: { range: { start: 0, end: lines, absolute_end: lines }, content } };
  }
  return { status: 200, body: null, text: { contentType: 'text/plain; charset=utf-8', body: format === 'txt' ? content.replace(ANSI, '') : content } };
}

/** Rows of a store list, shown. */
const shown = async <T>(listed: Promise<Listed<T>>, view: (t: T) => unknown) => {
  const { count, results } = await listed;
  return { count, results: await Promise.all(results.map(view)) };
};

/** List, detail, cancel (and for jobs and project updates, stdout) of one type of job. */
function jobRoutes(c: ControlDeps, storage: Storage, type: JobType): Route[] {
  const path = JOB_PATHS[type];
  const view = (j: Job) => showJob(c.store, j);
  const load = async (id: number) => {
    const job = await c.store.job(id);
    return job?.type === type ? job : undefined;
  };
  return [
    { pattern: at(path), get: (r) => pageOf(r, (page) => shown(c.store.listJobs({ type }, page), view)) },
    { pattern: at(`${path}/:id`), get: (r) => detail(r, load, view) },
    { pattern: at(`${path}/:id/cancel`), get: (r) => detail(r, load, (j) => ({ can_cancel: canCancel(j) })), post: (r) => cancel(c, r, load) },
    ...(type === 'workflow_job' ? [] : [{ pattern: at(`${path}/:id/stdout`), get: (r: ApiRequest) => stdout(storage, r, load) }]),
  ];
}

/** The list (GET, POST) and detail routes of projects, inventories and templates. */
function objectRoutes<T>(
  path: string,
  list: (page: Page) => Promise<Listed<T>>,
  load: (id: number) => Promise<T | undefined>,
  view: (t: T) => unknown,
  create: (body: ApiRequest['body']) => Promise<Reply>,
): Route[] {
  return [
    { pattern: at(path), get: (r) => pageOf(r, (page) => shown(list(page), view)), post: (r) => create(r.body) },
    { pattern: at(`${path}/:id`), get: (r) => detail(r, load, view) },
  ];
}

const showEvent = ({ id, job_id, ...event }: StoredEvent) => ({ id, job: job_id, ...event });
const showHostSummary = (h: StoredHostSummary) => ({
  id: h.id,
  job: h.job_id,
  host_name: h.host_name,
  ok: h.ok,
  changed: h.changed,
  failures: h.failures,
  dark: h.dark,
  skipped: h.skipped,
  rescued: h.rescued,
  ignored: h.ignored,
  processed: h.processed,
  failed: h.failed,
});

/** The control plane's routes. */
export function controlRoutes(c: ControlDeps, storage: Storage): Route[] {
  const { store } = c;
  return [
    ...objectRoutes('projects', (p) => store.listProjects(p), (id) => store.project(id), showProject, (b) => createProject(store, b)),
    {
      pattern: at('projects/:id/project_updates'),
      get: async (r) => ((await store.project(r.id)) === undefined ? NOT_FOUND : pageOf(r, (page) => shown(store.listJobs({ type: 'project_update', project_id: r.id }, page), (j) => showJob(store, j)))),
    },
    ...objectRoutes('inventories', (p) => store.listInventories(p), (id) => store.inventory(id), showInventory, (b) => createInventory(store, b)),
    ...objectRoutes('job_templates', (p) => store.listJobTemplates(p), (id) => store.jobTemplate(id), showJobTemplate, (b) => createJobTemplate(store, b)),
    {
      pattern: at('job_templates/:id/launch'),
      post: (r) =>
        launch(r, (id) => store.jobTemplate(id), async (t) => {
          const job = await launchJob(store, t, { launch_type: 'manual' });
          await c.submit('dependency_manager', {}, { once: true });
          return job;
        }, 'job', store),
    },
    ...objectRoutes('workflow_job_templates', (p) => store.listWorkflowTemplates(p), (id) => store.workflowTemplate(id), showWorkflowTemplate, (b) => createWorkflowTemplate(store, b)),
    {
      pattern: at('workflow_job_templates/:id/launch'),
      post: (r) =>
        launch(r, (id) => store.workflowTemplate(id), async (t) => {
          const job = await launchWorkflow(store, t);
          await c.submit('task_manager', {}, { once: true });
          return job;
        }, 'workflow_job', store),
    },
    ...JOB_TYPES.flatMap((type) => jobRoutes(c, storage, type)),
    // Events are stored by job id whatever the job: an id with none stored has an empty first page.
    { pattern: at('jobs/:id/job_events'), get: (r) => pageOf(r, (page, order) => shown(storage.listJobEvents(r.id, page, order), showEvent), true) },
    { pattern: at('jobs/:id/job_host_summaries'), get: (r) => pageOf(r, (page) => shown(storage.listHostSummaries(r.id, page), showHostSummary)) },
  ];
}
