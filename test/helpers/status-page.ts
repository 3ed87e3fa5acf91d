// The status page as an operator opens it: nodes sharing one real Redis, and a real headless
// Chromium (Debian's, driven by puppeteer-core) that records what went wrong on the page.
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { findProgram } from '../../src/system/programs.ts';
import { startNode, tempDir, writeTestConfig, type NodeUnderTest } from './node-process.ts';

export interface ClusterNode {
  readonly name: string;
  readonly node: NodeUnderTest;
  readonly web: number;
}

/** Starts a node on the shared Redis and waits until it is ready. */
export async function startClusterNode(name: string, redisUrl: string, extra: Record<string, unknown> = {}): Promise<ClusterNode> {
  const { file, ports } = await writeTestConfig(tempDir(), { node_name: name, redis_url: redisUrl, snapshot_interval_ms: 500, ...extra });
  const node = startNode(['--config', file]);
  await node.waitForLog('ready');
  return { name, node, web: ports.web };
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

/** The text of one number in a node's card ('' when there is none). */
export const cardText = (page: Page, node: string, metric: string) => textOf(page, `article.node[data-node="${node}"] [data-metric="${metric}"]`);

/** The text of a cluster-wide number. */
export const clusterText = (page: Page, metric: string) => textOf(page, `#cluster [data-metric="${metric}"]`);

/** A displayed count ("12,345") as a number; NaN for a dash. */
export const displayed = (text: string): number => Number(text.replace(/,/g, ''));
