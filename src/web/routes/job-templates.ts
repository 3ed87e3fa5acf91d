// /api/v2/job_templates/: a playbook of a project, run against an inventory; and launching one.
import { statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Project } from '../../control/model.ts';
import type { ControlStore } from '../../control/store.ts';
import { launchJob } from '../../control/launch.ts';
import { readYaml } from '../../control/yaml-text.ts';
import type { RouteOptions } from '../api-context.ts';
import { checkRef, type Form } from '../forms.ts';
import { notAMapping } from '../field-errors.ts';
import { valueProblems } from '../request-body.ts';
import { MAX_NAME, count, flag, mapping, nonBlank, object, pk, text } from '../schemas.ts';
import { JOB_TEMPLATE } from '../response-schemas.ts';
import { showJobTemplate } from '../serializers.ts';
import { launchRoute, resourceRoutes } from './resource.ts';

const BODY = object(
  {
    name: nonBlank(MAX_NAME),
    description: text(''),
    project: pk('a project'),
    inventory: pk('an inventory'),
    playbook: { ...nonBlank(), description: "a path relative to the project's directory" },
    extra_vars: { ...mapping, default: {} },
    forks: count(0),
    allow_simultaneous: flag(false),
  },
  ['name', 'project', 'inventory', 'playbook'],
);

interface JobTemplateBody {
  readonly name: string;
  readonly description: string;
  readonly project: number;
  readonly inventory: number;
  readonly playbook: string;
  readonly extra_vars: Record<string, unknown> | string;
  readonly forks: number;
  readonly allow_simultaneous: boolean;
}

const isFile = (path: string) => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/** extra_vars as JSON text, from an object or from JSON or YAML text of a mapping (as AWX takes it); undefined after adding a problem. */
function extraVars(form: Form<JobTemplateBody>): string | undefined {
  let vars: unknown = form.value('extra_vars');
  if (typeof vars === 'string') {
    const read = readYaml(vars);
    if ('error' in read) {
      form.add('extra_vars', `Not valid JSON or YAML: ${read.error}`);
      return undefined;
    }
    vars = read.value ?? {};
    if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) form.add('extra_vars', notAMapping(vars));
    for (const problem of valueProblems(vars)) form.add('extra_vars', problem);
  }
  return form.errors.has('extra_vars') ? undefined : JSON.stringify(vars);
}

/** The playbook is inside the project; in a local project it must be a file there (a git project's is checked out later). */
function checkPlaybook(form: Form<JobTemplateBody>, project: Project | undefined): void {
  const playbook = form.value('playbook');
  if (playbook === undefined) return;
  if (isAbsolute(playbook) || playbook.split(/[\\/]/).includes('..')) {
    form.add('playbook', `${JSON.stringify(playbook)} must be a path inside the project, relative to its directory and without "..".`);
  } else if (project?.scm_type === '' && !isFile(join(project.local_path, playbook))) {
    form.add('playbook', `${JSON.stringify(playbook)} is not a file in the project's directory ${project.local_path}.`);
  }
}

/** The checks of a template's references, playbook and extra_vars; resolves extra_vars as JSON text. */
async function checkTemplate(form: Form<JobTemplateBody>, store: ControlStore): Promise<string | undefined> {
  const project = await checkRef(form.errors, 'project', form.value('project'), (id) => store.project(id));
  await checkRef(form.errors, 'inventory', form.value('inventory'), (id) => store.inventory(id));
  checkPlaybook(form, project);
  return extraVars(form);
}

export async function jobTemplateRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  resourceRoutes(app, ctx, {
    path: 'job_templates',
    noun: 'job template',
    item: JOB_TEMPLATE,
    body: BODY,
    list: (store, page) => store.listJobTemplates(page),
    load: (store, id) => store.jobTemplate(id),
    show: showJobTemplate,
    check: checkTemplate,
    insert: (store, { project, inventory, ...t }: JobTemplateBody, extra_vars) =>
      store.createJobTemplate({ ...t, project_id: project, inventory_id: inventory, extra_vars: extra_vars as string }),
  });

  launchRoute(app, ctx, {
    path: 'job_templates',
    field: 'job',
    load: (store, id) => store.jobTemplate(id),
    start: async (c, t) => {
      const job = await launchJob(c.store, t, { launch_type: 'manual' });
      await c.submit('dependency_manager', {}, { once: true });
      return job;
    },
  });
}
