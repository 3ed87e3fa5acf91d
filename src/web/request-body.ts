// A request's JSON body, read before any schema sees it: an empty body is {}, anything but a JSON
// object is refused, and so is what the database or a later step could not take. JSON.parse copes
// with any nesting, but JSON.stringify, YAML and the checks after it recurse and would overflow
// the stack; PostgreSQL text cannot hold a NUL character (SQLite could, and both answer alike).
import { Refusal, detail } from './answers.ts';
import { FieldErrors, typeName } from './field-errors.ts';

/** The largest body. */
export const MAX_BODY_BYTES = 1 << 20;
/** The deepest nesting of arrays and objects a value may have. */
export const MAX_DEPTH = 100;

export const TOO_DEEP = `Nested deeper than ${MAX_DEPTH} levels; expected a flatter value.`;
export const NUL = 'Null characters are not allowed.';

/** What is wrong with a value as a whole (too deep, a NUL in a string or a key); walked without recursion. */
export function valueProblems(value: unknown): string[] {
  const problems = new Set<string>();
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v === 'string') {
      if (v.includes('\0')) problems.add(NUL);
    } else if (typeof v === 'object' && v !== null) {
      if (depth >= MAX_DEPTH) {
        problems.add(TOO_DEEP);
        continue;
      }
      for (const [key, child] of Object.entries(v)) {
        if (key.includes('\0')) problems.add(NUL);
        stack.push([child, depth + 1]);
      }
    }
  }
  return [...problems];
}

/** The body as an object, or a Refusal saying what is wrong with it, field by field. */
export function parseJsonBody(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new Refusal(400, detail(`JSON parse error - ${(err as Error).message}`));
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Refusal(400, { non_field_errors: [`Invalid data. Expected a dictionary, but got ${typeName(body)}.`] });
  }
  const errors = new FieldErrors();
  for (const [field, value] of Object.entries(body)) {
    const problems = valueProblems(value);
    if (field.includes('\0')) problems.push(NUL);
    for (const problem of problems) errors.add(field, problem);
  }
  if (errors.any) throw new Refusal(400, errors);
  return body as Record<string, unknown>;
}
