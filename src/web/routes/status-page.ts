// The operator's status page at / and the files it loads: its own HTML, JavaScript and CSS from
// src/web/status-page/ and uPlot from node_modules, served as they are (no build step). The page
// reads /api/v2/metrics/, /api/v2/instances/ and /api/v2/jobs/ itself, and follows jobs through
// /websocket/, so it carries no data and needs no token.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RouteOptions } from '../api-context.ts';

const PAGE_DIR = new URL('../status-page/', import.meta.url);
const UPLOT_DIST = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** Scripts from this origin only, no inline script or style, data only from this origin, never in a frame. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' };

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const pageFile = (name: string) => readFileSync(new URL(name, PAGE_DIR));

/** Every file the page loads, by its URL under /assets/; read once, as the routes are registered. */
function assets(): ReadonlyMap<string, Asset> {
  return new Map<string, Asset>([
    ['uplot.min.js', { type: JS, body: readFileSync(join(UPLOT_DIST, 'uPlot.iife.min.js')) }],
    ['uplot.min.css', { type: CSS, body: readFileSync(join(UPLOT_DIST, 'uPlot.min.css')) }],
    ['status.css', { type: CSS, body: pageFile('status.css') }],
    ...['status.js', 'status-data.js', 'status-view.js', 'status-charts.js', 'status-live.js', 'status-jobs.js', 'status-follow.js'].map((name) => [name, { type: JS, body: pageFile(name) }] as const),
  ]);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page, with the answering node's name and version written in (the only server-side part). */
function page(node: string, version: string): string {
  return pageFile('status.html').toString('utf8').replaceAll('{{node}}', escapeHtml(node)).replaceAll('{{version}}', escapeHtml(version));
}

const sendAsset = (reply: FastifyReply, asset: Asset) => reply.headers(COMMON_HEADERS).type(asset.type).send(asset.body);

export async function statusPageRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const html = page(ctx.nodeName, ctx.version);
  app.get(
    '/',
    { schema: { summary: "The cluster's status page", response: { 200: { content: { 'text/html': { schema: { type: 'string' } } } } } }, config: { open: true } },
    (_request, reply) => reply.headers({ ...COMMON_HEADERS, 'content-security-policy': CSP }).type('text/html; charset=utf-8').send(html),
  );
  for (const [name, asset] of assets()) {
    app.get(
      `/assets/${name}`,
      { schema: { summary: `The status page's ${name}`, response: { 200: { content: { [asset.type.split(';')[0]!]: { schema: { type: 'string' } } } } } }, config: { open: true } },
      (_request, reply) => sendAsset(reply, asset),
    );
  }
}
