// How route schemas are checked: ajv with allErrors (every problem is reported at once), no type
// coercion in bodies (42 is not a string, 1 is not true), no silent removal of unknown fields. Path
// parameters and query strings arrive as text: a canonical whole number becomes a number, a lone
// value of a list parameter a list; anything else is left for the schema to refuse as it was given.
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import type { JsonSchema } from './schemas.ts';

const ajv = new Ajv({
  allErrors: true,
  // Errors carry their schema and value: the field errors are phrased from them.
  verbose: true,
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: true,
  allowUnionTypes: true,
  keywords: ['x-kind'],
});

type Data = Record<string, unknown>;

/** Text parameters as their schema types them. */
function fromText(schema: JsonSchema, validate: ValidateFunction): ValidateFunction {
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

/** A POST without a body (curl -X POST) is an empty object to its schema, not null. */
function orEmpty(validate: ValidateFunction): ValidateFunction {
  const checked = ((data: unknown) => {
    const ok = validate(data ?? {});
    checked.errors = validate.errors ?? null;
    return ok;
  }) as ValidateFunction;
  return checked;
}

/** The validator compiler of the web port's routes. */
export const compileValidator: FastifySchemaCompiler<JsonSchema> = ({ schema, httpPart }) => {
  const validate = ajv.compile(schema);
  return httpPart === 'body' ? orEmpty(validate) : fromText(schema, validate);
};
