// How route schemas are checked: ajv, no type coercion in bodies (42 is not a string, 1 is not
// true), no silent removal of unknown fields, every problem reported at once. Path parameters
// and query strings arrive as text: a canonical whole number becomes a number, a lone value of a
// list parameter a list; anything else is left for the schema to refuse as it was given.
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import type { JsonSchema } from './schemas.ts';

const OPTIONS: Options = {
  // Errors carry their schema and value: the field errors are phrased from them.
  verbose: true,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: true,
  allowUnionTypes: true,
  keywords: ['x-kind'],
};
/** Stops at the first problem: what every body goes through first. */
const firstProblem = new Ajv({ ...OPTIONS, allErrors: false });
/** Lists every problem. */
const everyProblem = new Ajv({ ...OPTIONS, allErrors: true });

/**
 * An invalid body of more values than this is answered with its first problem only: listing every
 * problem of a megabyte of wrong items takes ajv seconds and hundreds of megabytes (the reason
 * fastify leaves allErrors off). Bodies people write are far smaller.
 */
const MAX_VALUES_LISTED = 10_000;

/** Whether a value holds fewer than `limit` values in all; stops counting at the limit. */
function fewerValuesThan(value: unknown, limit: number): boolean {
  const stack = [value];
  let n = 0;
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (++n >= limit) return false;
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push(child);
  }
  return true;
}

/** A body's validator: valid bodies pass once; an invalid one gets every problem listed when it is small enough. */
function forBody(schema: JsonSchema): ValidateFunction {
  const first = firstProblem.compile(schema);
  const every = everyProblem.compile(schema);
  const validate = ((data: unknown) => {
    // A POST without a body (curl -X POST) is an empty object to its schema, not null.
    const body = data ?? {};
    const ok = first(body);
    validate.errors = first.errors ?? null;
    if (!ok && fewerValuesThan(body, MAX_VALUES_LISTED)) {
      every(body);
      validate.errors = every.errors ?? null;
    }
    return ok;
  }) as ValidateFunction;
  return validate;
}

type Data = Record<string, unknown>;

/** A validator of text parameters, typed as their schema says first. */
function fromText(schema: JsonSchema): ValidateFunction {
  const validate = everyProblem.compile(schema);
  const properties = Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>);
  const typed = ((data: Data) => {
    for (const [key, property] of properties) {
      const v = data[key];
      if (typeof v !== 'string') continue;
      if (property.type === 'integer' && /^\d+$/.test(v)) data[key] = Number(v);
      else if (property.type === 'array') data[key] = [v];
    }
    const ok = validate(data);
    typed.errors = validate.errors ?? null;
    return ok;
  }) as ValidateFunction;
  return typed;
}

/** The validator compiler of the web port's routes. */
export const compileValidator: FastifySchemaCompiler<JsonSchema> = ({ schema, httpPart }) => (httpPart === 'body' ? forBody(schema) : fromText(schema));
