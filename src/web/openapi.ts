// The OpenAPI 3.1 document of the web port, made from the routes as registered: each route's path
// parameters, query parameters, body and answers come from the schemas that validate them, so the
// document cannot drift from what the port does. The answers every route shares (field errors,
// 401, 404, 413, 415, 503) are added here by what the route takes.
import type { FastifySchema } from 'fastify';
import type { RoutePath } from './route-table.ts';
import { isApiPath } from './answers.ts';
import { DETAIL, FIELD_ERRORS } from './response-schemas.ts';
import type { JsonSchema } from './schemas.ts';

type Json = Record<string, unknown>;

const REASONS: Readonly<Record<string, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  400: 'Bad input: every problem at once, by field',
  401: 'No token, or not a configured one',
  404: 'Not found',
  405: 'Not allowed on this object now',
  413: 'The body is larger than 1 MiB',
  415: 'The body is not application/json',
  500: 'Failed; the log has why',
  503: 'The node is starting or stopping, or Redis or the database does not answer',
};

const json = (schema: unknown) => ({ 'application/json': { schema } });
const answer = (status: string, content: Json) => ({ description: REASONS[status] ?? status, content });

/** `/api/v2/projects/:id/` as OpenAPI writes it: `/api/v2/projects/{id}/`. */
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

function parameters(schema: JsonSchema | undefined, where: 'path' | 'query'): Json[] {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = (schema?.required ?? []) as string[];
  return Object.entries(properties).map(([name, s]) => ({ name, in: where, required: where === 'path' || required.includes(name), schema: s }));
}

function responses(schema: FastifySchema, route: RoutePath): Json {
  const own = Object.entries((schema.response ?? {}) as Record<string, JsonSchema>).map(([status, s]) => {
    const content = s.content as Record<string, Json> | undefined;
    return [status, answer(status, content ?? json(s))];
  });
  const shared: [string, unknown][] = [];
  if (schema.body !== undefined || schema.querystring !== undefined) shared.push(['400', FIELD_ERRORS]);
  if (isApiPath(route.url) && route.open !== true) shared.push(['401', DETAIL]);
  if (schema.params !== undefined) shared.push(['404', DETAIL]);
  if (schema.body !== undefined) shared.push(['413', DETAIL], ['415', DETAIL]);
  if (isApiPath(route.url)) shared.push(['500', DETAIL], ['503', DETAIL]);
  return Object.fromEntries([...shared.map(([status, s]) => [status, answer(status, json(s))]), ...own].sort(([a], [b]) => String(a).localeCompare(String(b))));
}

function operation(method: string, schema: FastifySchema, route: RoutePath): Json {
  const op: Json = {
    operationId: `${method.toLowerCase()}${route.url.replace(/[^a-z0-9]+/gi, '_').replace(/_$/, '')}`,
    summary: (schema as { summary?: string }).summary ?? `${method} ${route.url}`,
    parameters: [...parameters(schema.params as JsonSchema | undefined, 'path'), ...parameters(schema.querystring as JsonSchema | undefined, 'query')],
    responses: responses(schema, route),
    security: route.open === true ? [] : [{ bearer: [] }],
  };
  if (schema.body !== undefined) op.requestBody = { required: false, content: json(schema.body) };
  return op;
}

/** The document of every route of the port. */
export function openApiDocument(routes: readonly RoutePath[], version: string): Json {
  const paths = routes.map((route) => {
    const operations = [...route.schemas].map(([method, schema]) => [method.toLowerCase(), operation(method, schema, route)]);
    return [openApiPath(route.url), Object.fromEntries(operations)];
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'overseer',
      version,
      description:
        "A control-plane node after Ansible AWX: AWX's /api/v2 shapes (paging, field errors, `detail` messages). " +
        'State changes take Content-Type: application/json; requests from another site, or naming a host that is not this node, are refused.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'one of services.web.tokens, when any is configured' } } },
    paths: Object.fromEntries(paths),
  };
}
