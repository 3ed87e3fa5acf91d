// The pieces route schemas are made of. One schema per route validates its input (see
// validation.ts), documents it in the OpenAPI document, and names what a value stands for where
// the message depends on it (`x-kind`: a pk, a mapping).

export type JsonSchema = { readonly [keyword: string]: unknown };

/** The largest value of an INTEGER column in PostgreSQL (ids, counts). */
export const MAX_INT = 2_147_483_647;
/** AWX's max_length of names. */
export const MAX_NAME = 512;

const withDefault = (schema: JsonSchema, fallback: unknown): JsonSchema => (fallback === undefined ? schema : { ...schema, default: fallback });

/** A string; `fallback` when absent (required when there is none, see body()). */
export const text = (fallback?: string): JsonSchema => withDefault({ type: 'string' }, fallback);
/** A required string that is not blank. */
export const nonBlank = (maxLength?: number): JsonSchema => ({ type: 'string', pattern: '\\S', ...(maxLength === undefined ? {} : { maxLength }) });
export const flag = (fallback: boolean): JsonSchema => ({ type: 'boolean', default: fallback });
/** A whole number an INTEGER column holds, ≥ 0. */
export const count = (fallback: number): JsonSchema => ({ type: 'integer', minimum: 0, maximum: MAX_INT, default: fallback });
/** The id of another object; whether it exists is checked in code ("Invalid pk"). */
export const pk = (what: string): JsonSchema => ({ type: 'integer', 'x-kind': 'pk', description: `the id of ${what}` });
export const choice = (values: readonly string[], fallback: string): JsonSchema => ({ type: 'string', enum: values, default: fallback });
/** A mapping given as an object, or as JSON or YAML text of one (checked in code). */
export const mapping: JsonSchema = { type: ['object', 'string'], 'x-kind': 'mapping' };
export const list = (items: JsonSchema, more: JsonSchema = {}): JsonSchema => ({ type: 'array', items, ...more });

/** An object of exactly these properties; the ones without a default in `required`. */
export function object(properties: Readonly<Record<string, JsonSchema>>, required: readonly string[] = [], more: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties, required, additionalProperties: false, ...more };
}

/** A route's `:id`: 1 to MAX_INT (any other is a 404, as an unknown id is). */
export const ID_PARAMS = object({ id: { type: 'integer', minimum: 1, maximum: MAX_INT } }, ['id']);
/** A query string with no parameter: any is refused rather than ignored (a filter ignored would hand back unfiltered rows as if filtered). */
export const NO_QUERY = object({});
/** A body that may only be empty (launch, cancel). */
export const EMPTY_BODY = object({});
