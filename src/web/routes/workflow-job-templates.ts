// /api/v2/workflow_job_templates/: job templates as the nodes of a graph, given inline; and
// launching one. The graph is checked as a whole: known identifiers and templates, no cycle.
import type { FastifyInstance } from 'fastify';
import type { WorkflowNodeSpec } from '../../control/model.ts';
import type { ControlStore, NewWorkflowJobTemplate } from '../../control/store.ts';
import { launchWorkflow } from '../../control/launch.ts';
import { EDGE_FIELDS, findCycle } from '../../control/workflow-graph.ts';
import type { RouteOptions } from '../api-context.ts';
import { invalidPk, lookUp, type Form } from '../forms.ts';
import { MAX_NAME, flag, list, nonBlank, object, pk, text } from '../schemas.ts';
import { WORKFLOW_JOB_TEMPLATE } from '../response-schemas.ts';
import { showWorkflowTemplate } from '../serializers.ts';
import { launchRoute, resourceRoutes } from './resource.ts';

const edges = list(text(), { default: [], description: 'identifiers of the nodes that follow' });
const NODE = object(
  { identifier: nonBlank(), job_template: pk('a job template'), success_nodes: edges, failure_nodes: edges, always_nodes: edges },
  ['identifier', 'job_template'],
  { title: 'node' },
);
const BODY = object({ name: nonBlank(MAX_NAME), description: text(''), allow_simultaneous: flag(false), nodes: list(NODE, { minItems: 1 }) }, ['name', 'nodes']);

const show = JSON.stringify;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * The nodes well-formed enough to check as a graph (the schema reports the others), and every
 * identifier given; a repeated identifier is reported here.
 */
function wellFormed(form: Form<NewWorkflowJobTemplate>): { nodes: WorkflowNodeSpec[]; identifiers: Set<string> } {
  const nodes: WorkflowNodeSpec[] = [];
  const identifiers = new Set<string>();
  (form.raw('nodes') as unknown[]).forEach((item, i) => {
    if (!isObject(item)) return;
    const { identifier, job_template } = item;
    if (typeof identifier !== 'string' || identifier.trim() === '') return;
    if (identifiers.has(identifier)) form.add('nodes', `nodes[${i}].identifier: ${show(identifier)} is the identifier of an earlier node.`);
    identifiers.add(identifier);
    if (!Number.isSafeInteger(job_template)) return;
    const [success_nodes = [], failure_nodes = [], always_nodes = []] = EDGE_FIELDS.map((edge) => (isStrings(item[edge]) ? item[edge] : []));
    nodes.push({ identifier, job_template: job_template as number, success_nodes, failure_nodes, always_nodes });
  });
  return { nodes, identifiers };
}

/** Every node's template exists, every edge leads to another node of the workflow, and the graph has no cycle. */
async function checkGraph(form: Form<NewWorkflowJobTemplate>, store: ControlStore): Promise<void> {
  if (!Array.isArray(form.raw('nodes'))) return;
  const { nodes, identifiers } = wellFormed(form);
  const bad = (message: string) => form.add('nodes', message);
  const templates = [...new Set(nodes.map((n) => n.job_template))];
  const found = await Promise.all(templates.map((id) => lookUp(id, (t) => store.jobTemplate(t))));
  const missing = new Set(templates.filter((_, i) => found[i] === undefined));
  for (const n of nodes) {
    if (missing.has(n.job_template)) bad(`node ${show(n.identifier)}: job_template: ${invalidPk(n.job_template)}`);
    for (const edge of EDGE_FIELDS) {
      for (const to of n[edge]) {
        if (to === n.identifier) bad(`node ${show(n.identifier)}: ${edge}: a node cannot follow itself.`);
        else if (!identifiers.has(to)) bad(`node ${show(n.identifier)}: ${edge}: ${show(to)} is not the identifier of a node of this workflow.`);
      }
    }
  }
  if (form.errors.has('nodes')) return;
  const cycle = findCycle(nodes);
  if (cycle !== undefined) bad(`The nodes form a cycle (${cycle.join(' → ')}); a workflow's graph must be acyclic.`);
}

export async function workflowJobTemplateRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  resourceRoutes(app, ctx, {
    path: 'workflow_job_templates',
    noun: 'workflow job template',
    item: WORKFLOW_JOB_TEMPLATE,
    body: BODY,
    list: (store, page) => store.listWorkflowTemplates(page),
    load: (store, id) => store.workflowTemplate(id),
    show: showWorkflowTemplate,
    check: checkGraph,
    insert: (store, t: NewWorkflowJobTemplate) => store.createWorkflowTemplate(t),
  });

  launchRoute(app, ctx, {
    path: 'workflow_job_templates',
    field: 'workflow_job',
    load: (store, id) => store.workflowTemplate(id),
    start: async (c, t) => {
      const job = await launchWorkflow(c.store, t);
      await c.submit('task_manager', {}, { once: true });
      return job;
    },
  });
}
