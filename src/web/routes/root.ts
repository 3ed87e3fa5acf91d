// What describes the API: AWX's index of its collections at /api/v2/ and the OpenAPI document of
// every route (the status page at / is in status-page.ts).
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from '../api-context.ts';
import type { RouteTable } from '../route-table.ts';
import { openApiDocument } from '../openapi.ts';

/** The API's collections, by name, as AWX lists them at /api/v2/. */
function index(table: RouteTable): Record<string, string> {
  const names = table.paths.map((p) => /^\/api\/v2\/(\w+)\/$/.exec(p.url)?.[1]).filter((n) => n !== undefined);
  return Object.fromEntries(names.map((n) => [n, `/api/v2/${n}/`]));
}

export async function rootRoutes(app: FastifyInstance, { ctx, table }: RouteOptions & { readonly table: RouteTable }): Promise<void> {
  app.get('/api/v2/', { schema: { summary: "The API's collections", response: { 200: { type: 'object', additionalProperties: { type: 'string' } } } } }, () => index(table));
  let document: object | undefined;
  app.get('/api/v2/openapi.json', { schema: { summary: 'This document', response: { 200: { type: 'object', description: 'OpenAPI 3.1' } } } }, () => {
    // Made on first request: every route is registered by then.
    document ??= openApiDocument(table.paths, ctx.version);
    return document;
  });
}
