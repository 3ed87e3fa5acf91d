// What the port shows at its root: a small page naming the node, AWX's index of the API at
// /api/v2/, and the OpenAPI document of every route.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../api-context.ts';
import type { RouteTable } from '../route-table.ts';
import { openApiDocument } from '../openapi.ts';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page at /: the node's name and where things are; it shows no data, so it needs no token. */
function page(node: string, version: string): string {
  const links = [
    ['/api/v2/', 'the API'],
    ['/api/v2/openapi.json', 'its OpenAPI document'],
    ['/metrics', "this port's metrics"],
    ['/api/v2/metrics/', "every node's metrics"],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>overseer ${escapeHtml(node)}</title></head>
<body><h1>overseer node ${escapeHtml(node)}</h1><p>version ${escapeHtml(version)}</p>
<ul>${links.map(([href, text]) => `<li><a href="${href}">${href}</a>: ${text}</li>`).join('')}</ul>
</body></html>
`;
}

/** The API's collections, by name, as AWX lists them at /api/v2/. */
function index(table: RouteTable): Record<string, string> {
  const names = table.paths.map((p) => /^\/api\/v2\/(\w+)\/$/.exec(p.url)?.[1]).filter((n) => n !== undefined);
  return Object.fromEntries(names.map((n) => [n, `/api/v2/${n}/`]));
}

export async function rootRoutes(app: FastifyInstance, { ctx, table }: RouteOptions & { readonly table: RouteTable }): Promise<void> {
  app.get('/', { schema: { summary: 'A page naming the node', response: { 200: { content: { 'text/html': { schema: { type: 'string' } } } } } }, config: { open: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(page(ctx.nodeName, ctx.version)),
  );
  app.get('/api/v2/', { schema: { summary: "The API's collections", response: { 200: { type: 'object', additionalProperties: { type: 'string' } } } } }, () => index(table));
  let document: object | undefined;
  app.get('/api/v2/openapi.json', { schema: { summary: 'This document', response: { 200: { type: 'object', description: 'OpenAPI 3.1' } } } }, () => {
    // Made on first request: every route is registered by then.
    document ??= openApiDocument(table.paths, ctx.version);
    return document;
  });
}
