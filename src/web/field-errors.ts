// AWX's field errors, {"field": ["message", ...]}, collected over a whole request: from the route
// schemas' validation (ajv with allErrors, so every problem at once) and from the checks in code.
// Body fields are reported in Django REST framework's words, as AWX does; query parameters name
// themselves, since their message stands alone in a URL's answer.
import type { ErrorObject } from 'ajv';

export type FieldErrorBody = Record<string, string[]>;

/** A JSON value's type, as messages name it. */
export const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const show = (v: unknown): string => JSON.stringify(v) ?? 'nothing';

const mappingMessage = (t: string) => `Must be a mapping (an object, or JSON or YAML text of one); got ${t}.`;
/** What extra_vars must be (its schema's message and the check of its text say the same). */
export const notAMapping = (v: unknown): string => mappingMessage(typeName(v));

/**
 * A field's messages past this many are counted, not listed: a megabyte of wrong items must not
 * make a hundred thousand messages (nor the time to write them).
 */
const MAX_MESSAGES = 20;

/** Problems found in a request, by field. */
export class FieldErrors {
  readonly #fields = new Map<string, { messages: Set<string>; more: number }>();

  add(field: string, message: string): void {
    const f = this.#field(field);
    if (f.messages.size < MAX_MESSAGES || f.messages.has(message)) f.messages.add(message);
    else f.more += 1;
  }

  /** Counts one more problem of a field that lists all it will; true when it does (its message need not be written). */
  countedOnly(field: string): boolean {
    const f = this.#fields.get(field);
    if (f === undefined || f.messages.size < MAX_MESSAGES) return false;
    f.more += 1;
    return true;
  }

  /** Whether the field has a problem already (later checks of it are skipped). */
  has(field: string): boolean {
    return this.#fields.has(field);
  }

  get any(): boolean {
    return this.#fields.size > 0;
  }

  toJSON(): FieldErrorBody {
    // No prototype: a field named __proto__ or constructor must be just another name.
    const body = Object.create(null) as FieldErrorBody;
    for (const [field, { messages, more }] of this.#fields) body[field] = more === 0 ? [...messages] : [...messages, `…and ${more} more.`];
    return body;
  }

  #field(field: string) {
    let f = this.#fields.get(field);
    if (f === undefined) this.#fields.set(field, (f = { messages: new Set(), more: 0 }));
    return f;
  }
}

/** The path of an error as segments: the instance path, plus the property a required or additionalProperties error names. */
function segmentsOf(e: ErrorObject): string[] {
  const path = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  const named = e.params.missingProperty ?? e.params.additionalProperty;
  return typeof named === 'string' ? [...path, named] : path;
}

/** `nodes[2].identifier` from ["nodes", "2", "identifier"]. */
const dotted = (segments: readonly string[]) => segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');

/** A type's own wording; `x-kind` names what an integer or a union stands for. */
const TYPE_MESSAGES: Readonly<Record<string, (t: string) => string>> = {
  string: (t) => `Not a valid string; got ${t}.`,
  boolean: (t) => `Must be a valid boolean; got ${t}.`,
  integer: () => 'A valid integer is required.',
  number: () => 'A valid number is required.',
  array: (t) => `Expected a list of items but got type "${t}".`,
  object: (t) => `Expected an object; got ${t}.`,
  pk: (t) => `Incorrect type. Expected pk value, received ${t}.`,
  mapping: mappingMessage,
};

/** One body error in Django REST framework's words. */
function bodyMessage(e: ErrorObject, atRoot: boolean): string {
  const schema = e.parentSchema ?? {};
  const limit = e.params.limit as number;
  switch (e.keyword) {
    case 'required':
      return 'This field is required.';
    case 'additionalProperties': {
      const fields = Object.keys((schema.properties as object | undefined) ?? {});
      return `Unknown field; expected ${fields.length > 0 ? `one of ${fields.join(', ')}` : 'none'}.`;
    }
    case 'type': {
      if (e.data === null) return 'This field may not be null.';
      if (atRoot) return `Invalid data. Expected a dictionary, but got ${typeName(e.data)}.`;
      const kind = (schema['x-kind'] as string | undefined) ?? String(e.params.type);
      return (TYPE_MESSAGES[kind] ?? (() => e.message ?? 'Invalid value.'))(typeName(e.data));
    }
    case 'minimum':
      return `Ensure this value is greater than or equal to ${limit}.`;
    case 'maximum':
      return `Ensure this value is less than or equal to ${limit}.`;
    case 'maxLength':
      return `Ensure this field has no more than ${limit} characters.`;
    case 'minLength':
    case 'pattern':
      // The one pattern route schemas use is nonBlank()'s.
      return 'This field may not be blank.';
    case 'enum':
      return `${show(e.data)} is not a valid choice; expected one of ${(e.params.allowedValues as unknown[]).map(show).join(', ')}.`;
    case 'minItems':
    case 'maxItems': {
      const noun = ((schema.items as { title?: string } | undefined)?.title ?? 'item') + (limit === 1 ? '' : 's');
      return `Ensure this list has ${e.keyword === 'minItems' ? 'at least' : 'no more than'} ${limit === 1 ? 'one' : limit} ${noun}.`;
    }
    default:
      return e.message ?? 'Invalid value.';
  }
}

/** One query string error, naming the parameter. */
function queryMessage(e: ErrorObject, key: string): string {
  const schema = e.parentSchema ?? {};
  if (e.keyword === 'additionalProperties') {
    const known = Object.keys((schema.properties as object | undefined) ?? {});
    return `${key} is not a query parameter here; expected ${known.length > 0 ? known.join(', ') : 'none'}`;
  }
  if (Array.isArray(e.data) && e.keyword === 'type') return `${key} was given ${e.data.length} times; expected it once`;
  const got = show(typeof e.data === 'number' ? String(e.data) : e.data);
  if (schema.enum !== undefined) return `${key} must be one of ${(schema.enum as unknown[]).join(', ')}; got ${got}`;
  if (schema.type === 'integer') {
    const { minimum, maximum } = schema as { minimum?: number; maximum?: number };
    const range = maximum === undefined ? `≥ ${minimum ?? 0}` : `from ${minimum ?? 0} to ${maximum}`;
    return `${key} must be a whole number ${range}; got ${got}`;
  }
  return `${key}: ${e.message ?? 'invalid'}`;
}

/**
 * The field errors of one part of a request. A type error hides the other errors of its value (a
 * number given for a choice is a wrong type, not also a wrong choice); a nested value's message
 * is prefixed with its path under its field, as in `nodes[2].identifier: this field is required.`
 */
export function schemaErrors(errors: readonly ErrorObject[], part: 'body' | 'querystring'): FieldErrors {
  const mistyped = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const out = new FieldErrors();
  for (const e of errors) {
    if (e.keyword !== 'type' && mistyped.has(e.instancePath)) continue;
    const segments = segmentsOf(e);
    const [field = 'non_field_errors', ...rest] = segments;
    if (out.countedOnly(field)) continue;
    if (part === 'querystring') {
      out.add(field, queryMessage(e, field));
      continue;
    }
    const message = bodyMessage(e, segments.length === 0);
    out.add(field, rest.length === 0 ? message : `${dotted(segments)}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`);
  }
  return out;
}
