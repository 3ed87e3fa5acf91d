// The status page as an operator opens it: nodes sharing one real Redis, and a real headless
// Chromium (Debian's, driven by puppeteer-core) that records what went wrong on the page; and a
// node running real Ansible jobs, whose output the page and `status --follow` follow live.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { findProgram } from '../../src/system/programs.ts';
import { sampleValue, scrape, startNode, tempDir, writeTestConfig, type NodeUnderTest } from './node-process.ts';
import { waitFor } from './wait-for.ts';

export interface ClusterNode {
  readonly name: string;
  readonly node: NodeUnderTest;
  readonly web: number;
  readonly ports: { readonly web: number; readonly websockets: number };
}

/** Starts a node on the shared Redis and waits until it is ready. */
export async function startClusterNode(name: string, redisUrl: string, extra: Record<string, unknown> = {}): Promise<ClusterNode> {
  const { file, ports } = await writeTestConfig(tempDir(), { node_name: name, redis_url: redisUrl, snapshot_interval_ms: 500, ...extra });
  const node = startNode(['--config', file]);
  await node.waitForLog('ready');
  return { name, node, web: ports.web, ports };
}

/** Headless Chromium, or an error saying how to install it. */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = findProgram('chromium');
  if (executablePath === undefined) throw new Error('chromium is not installed (npm test installs it)');
  return puppeteer.launch({ executablePath, args: ['--no-sandbox', '--headless=new'], defaultViewport: { width: 1280, height: 900 } });
}

/** What a page did that an operator would not want: console errors, uncaught exceptions, answers of 400 and up. */
export interface PageWatch {
  readonly errors: string[];
  readonly failed: string[];
  /** The API requests with the headers Chromium actually sent (Sec-Fetch-* included), in order. */
  sent(): { url: string; headers: Record<string, string> }[];
}

/** Records errors and the API requests' real headers on a page, from now on. */
export async function watchPage(page: Page): Promise<PageWatch> {
  const urls = new Map<string, string>();
  const headers = new Map<string, Record<string, string>>();
  const watch: PageWatch = {
    errors: [],
    failed: [],
    sent: () =>
      [...urls].filter(([id, url]) => url.includes('/api/v2/') && headers.has(id)).map(([id, url]) => ({ url, headers: headers.get(id)! })),
  };
  page.on('console', (m) => {
    if (m.type() === 'error') watch.errors.push(`${m.text()} (${m.location().url ?? ''})`);
  });
  page.on('pageerror', (e) => watch.errors.push(`uncaught: ${(e as Error).message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) watch.failed.push(`${r.status()} ${r.url()}`);
  });
  // The Sec-Fetch-* headers are added below the page; only the network layer's extra info (which
  // may come before or after the request it belongs to) has them.
  const cdp = await page.createCDPSession();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
    headers.set(e.requestId, Object.fromEntries(Object.entries(e.headers).map(([k, v]) => [k.toLowerCase(), String(v)])));
  });
  await cdp.send('Network.enable');
  return watch;
}

/** The text of the first element a selector finds ('' when there is none). */
export async function textOf(page: Page, selector: string): Promise<string> {
  const found = await page.$(selector);
  if (found === null) return '';
  return found.evaluate((e) => e.textContent ?? '');
}

/** A websockets metric of a node (the live output's clients are counted there); 0 when absent. */
export async function websocketMetric(node: ClusterNode, series: string): Promise<number> {
  return sampleValue((await scrape(node.ports.websockets)).body, series) ?? 0;
}

/** The text of one number in a node's card ('' when there is none). */
export const cardText = (page: Page, node: string, metric: string) => textOf(page, `article.node[data-node="${node}"] [data-metric="${metric}"]`);

/** The text of a cluster-wide number. */
export const clusterText = (page: Page, metric: string) => textOf(page, `#cluster [data-metric="${metric}"]`);

/** A displayed count ("12,345") as a number; NaN for a dash. */
export const displayed = (text: string): number => Number(text.replace(/,/g, ''));

/** A playbook that prints a few lines and runs until the file the extra var `release` names exists in the project (what the sandboxed job sees). */
const HOLD = `- hosts: all
  gather_facts: false
  tasks:
    - name: before
      debug: msg="item {{ item }}"
      loop: [1, 2, 3]
    - name: hold
      wait_for: path="{{ playbook_dir }}/{{ release }}" timeout=120
    - name: after
      debug: msg="released"
`;
const FAIL = `- hosts: all
  gather_facts: false
  tasks:
    - name: fail
      command: /bin/false
`;
/** Waits for its release file like hold.yml, then prints 200 lines of 80,000 characters (16 MB of output, twice that in events). */
const LOUD = `- hosts: all
  gather_facts: false
  tasks:
    - name: hold
      wait_for: path="{{ playbook_dir }}/{{ release }}" timeout=120
    - name: loud
      debug: msg="{{ item }} {{ 'x' * 80000 }}"
      loop: "{{ range(0, 200) | list }}"
`;
/** Like loud.yml, but the 80,000 characters are in each event's data, not its output: 16 MB of events, short lines. */
const HEAVY = LOUD.replace('debug: msg=', 'set_fact: blob=');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A node that runs real Ansible jobs (the playbooks above) on localhost, and a client of its API. */
export interface JobNode extends ClusterNode {
  readonly file: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: Json }>;
  /** Launches a template of this playbook; for hold.yml, loud.yml and heavy.yml, release() lets it go on. */
  launch(playbook: 'hold.yml' | 'fail.yml' | 'loud.yml' | 'heavy.yml'): Promise<{ id: number; release(): void }>;
  /** Launches a workflow of one job of this playbook; release() lets the job go on. */
  workflow(playbook: 'hold.yml'): Promise<{ id: number; release(): void }>;
  /** Waits until the job's status is one of these; returns the job. */
  until(id: number, statuses: readonly string[], timeoutMs?: number): Promise<Json>;
  /** The job's output as /api/v2/jobs/N/stdout/?format=txt gives it, once every event is stored. */
  stdout(id: number): Promise<string>;
}

/** Starts a node (its own Redis unless `redis_url` is in extra) with a project of the playbooks above and an inventory of localhost. */
export async function startJobNode(name: string, extra: Record<string, unknown> = {}): Promise<JobNode> {
  const dir = tempDir('overseer-live-jobs-');
  const projectDir = join(dir, 'project');
  mkdirSync(projectDir);
  writeFileSync(join(projectDir, 'hold.yml'), HOLD);
  writeFileSync(join(projectDir, 'fail.yml'), FAIL);
  writeFileSync(join(projectDir, 'loud.yml'), LOUD);
  writeFileSync(join(projectDir, 'heavy.yml'), HEAVY);
  const services = (extra.services ?? {}) as Record<string, Record<string, unknown>>;
  const { file, ports } = await writeTestConfig(dir, {
    node_name: name,
    log_level: 'info',
    ...extra,
    services: { ...services, dispatcher: { min_workers: 1, max_workers: 2, project_roots: [dir], ...services.dispatcher } },
  });
  const node = startNode(['--config', file]);
  try {
    await node.waitForLog('ready', 90_000);
  } catch (err) {
    await node.stop();
    throw err;
  }
  const tokens = (services.web?.tokens ?? []) as string[];
  const api: JobNode['api'] = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${ports.web}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(tokens[0] === undefined ? {} : { authorization: `Bearer ${tokens[0]}` }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: (res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {}) as Json };
  };
  const create = async (path: string, body: Json) => {
    const res = await api('POST', path, body);
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${res.text}`);
    return res.json;
  };
  const inventory = await create('/api/v2/inventories/', { name: 'local', content: 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' });
  const project = await create('/api/v2/projects/', { name: 'local', local_path: projectDir });
  let made = 0;
  const until: JobNode['until'] = (id, statuses, timeoutMs = 90_000) =>
    waitFor(`job ${id} ${statuses.join('|')}`, async () => {
      const job = (await api('GET', `/api/v2/jobs/${id}/`)).json;
      return statuses.includes(job.status) ? job : undefined;
    }, timeoutMs);
  return {
    name,
    node,
    web: ports.web,
    ports,
    file,
    api,
    until,
    async launch(playbook) {
      const release = `release-${++made}`;
      const template = await create('/api/v2/job_templates/', { name: `t${made}`, project: project.id, inventory: inventory.id, playbook, extra_vars: { release }, allow_simultaneous: true });
      const res = await api('POST', `/api/v2/job_templates/${template.id}/launch/`, {});
      if (res.status !== 201) throw new Error(`launch: ${res.status} ${res.text}`);
      return { id: res.json.job as number, release: () => writeFileSync(join(projectDir, release), '') };
    },
    async workflow(playbook) {
      const release = `release-${++made}`;
      const template = await create('/api/v2/job_templates/', { name: `t${made}`, project: project.id, inventory: inventory.id, playbook, extra_vars: { release } });
      const workflow = await create('/api/v2/workflow_job_templates/', { name: `w${made}`, nodes: [{ identifier: 'only', job_template: template.id }] });
      const res = await api('POST', `/api/v2/workflow_job_templates/${workflow.id}/launch/`, {});
      if (res.status !== 201) throw new Error(`launch: ${res.status} ${res.text}`);
      return { id: res.json.workflow_job as number, release: () => writeFileSync(join(projectDir, release), '') };
    },
    async stdout(id) {
      await waitFor(`job ${id}'s events all stored`, async () => (await api('GET', `/api/v2/jobs/${id}/`)).json.event_processing_finished === true, 30_000);
      return (await api('GET', `/api/v2/jobs/${id}/stdout/?format=txt`)).text;
    },
  };
}
