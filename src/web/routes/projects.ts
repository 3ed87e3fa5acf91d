// /api/v2/projects/: a directory on this node (scm_type "") or a git repository that project
// updates check out; and each project's updates.
import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { NewProject } from '../../control/store.ts';
import { insideProjectRoots, outsideRootsMessage, type ProjectRoots } from '../../control/project-roots.ts';
import type { RouteOptions } from '../api-context.ts';
import type { Form } from '../forms.ts';
import { PAGE_QUERY, pageOf, pageSchema } from '../paging.ts';
import { ID_PARAMS, MAX_NAME, choice, count, flag, nonBlank, object, text } from '../schemas.ts';
import { JOB, PROJECT } from '../response-schemas.ts';
import { showJob, showProject } from '../serializers.ts';
import { found, idOf, resourceRoutes, shown } from './resource.ts';

const BODY = object(
  {
    name: nonBlank(MAX_NAME),
    description: text(''),
    scm_type: choice(['', 'git'], ''),
    scm_url: text(''),
    scm_branch: text(''),
    local_path: text(''),
    scm_update_on_launch: flag(false),
    scm_update_cache_timeout: count(0),
  },
  ['name'],
);

const isDirectory = (path: string) => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** What only code can check: a local project's directory on this node (inside a project root), a git project's URL. */
function checkSource(form: Form<NewProject>, roots: ProjectRoots): void {
  const scmType = form.value('scm_type');
  const url = form.value('scm_url');
  const path = form.value('local_path');
  const show = JSON.stringify;
  if (scmType === 'git') {
    if (url?.trim() === '') form.add('scm_url', 'A git project needs the URL of its repository.');
    if (path !== undefined && path !== '') form.add('local_path', "A git project has no local_path: its project updates check it out into the node's data dir.");
  } else if (scmType === '' && path !== undefined) {
    if (path === '') form.add('local_path', 'A project without an scm_type runs from a directory of this node: local_path is required.');
    else if (!isAbsolute(path)) form.add('local_path', `${show(path)} is not an absolute path; expected a directory of this node such as /srv/playbooks.`);
    else if (!isDirectory(path)) form.add('local_path', `${show(path)} is not an existing directory on this node.`);
    else if (!insideProjectRoots(path, roots)) form.add('local_path', `${outsideRootsMessage(path, roots)}.`);
  }
}

export async function projectRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  resourceRoutes(app, ctx, {
    path: 'projects',
    noun: 'project',
    item: PROJECT,
    body: BODY,
    list: (store, page) => store.listProjects(page),
    load: (store, id) => store.project(id),
    show: showProject,
    check: (form: Form<NewProject>) => checkSource(form, ctx.deps().control.projectRoots),
    insert: (store, p: NewProject) => store.createProject(p),
  });

  app.get(
    '/api/v2/projects/:id/project_updates/',
    { schema: { summary: "A project's updates", params: ID_PARAMS, querystring: PAGE_QUERY, response: { 200: pageSchema(JOB) } } },
    async (request) => {
      const { store } = ctx.deps().control;
      const project = await found(store.project(idOf(request)));
      return pageOf(request, (page) => shown(store.listJobs({ type: 'project_update', project_id: project.id }, page), (j) => showJob(store, j)));
    },
  );
}
