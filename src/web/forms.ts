// A request body as a create route sees it: the field errors its schema found, to which the checks
// only code can make (a name taken, an id that names nothing, a path on this node) add their own,
// each on a field the schema found nothing wrong with. Every problem is answered at once.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import type { ControlStore } from '../control/store.ts';
import { NOT_FOUND, Refusal } from './answers.ts';
import { FieldErrors, schemaErrors } from './field-errors.ts';
import { MAX_INT } from './schemas.ts';

type ValidationError = NonNullable<FastifyRequest['validationError']>;

/** The answer to a request its route's schemas refused: an id that is not one is not found, as an unknown id is. */
export function refusalOf(error: ValidationError): Refusal {
  if (error.validationContext === 'params') return new Refusal(404, NOT_FOUND);
  const part = error.validationContext === 'querystring' ? 'querystring' : 'body';
  return new Refusal(400, schemaErrors(error.validation as ErrorObject[], part));
}

/** A validated-as-far-as-it-goes body of fields T (its route takes `attachValidation: true`). */
export class Form<T extends object> {
  readonly errors: FieldErrors;
  readonly #body: Readonly<Record<string, unknown>>;

  /** Throws the Refusal of a bad id or query string: those are answered before the body's problems. */
  constructor(request: FastifyRequest) {
    const invalid = request.validationError;
    // Without a list of problems, the validator itself failed: that is the server's error, not the request's.
    if (invalid !== undefined && invalid.validation === undefined) throw invalid;
    if (invalid !== undefined && invalid.validationContext !== 'body') throw refusalOf(invalid);
    this.errors = invalid === undefined ? new FieldErrors() : schemaErrors(invalid.validation as ErrorObject[], 'body');
    this.#body = (request.body ?? {}) as Record<string, unknown>;
  }

  /** The field's value, when its schema found nothing wrong with it. */
  value<K extends keyof T & string>(field: K): T[K] | undefined {
    return this.errors.has(field) ? undefined : (this.#body[field] as T[K]);
  }

  /** The field's value as given, whatever the schema found (for checks that go through it item by item). */
  raw(field: keyof T & string): unknown {
    return this.#body[field];
  }

  add(field: keyof T & string, message: string): void {
    this.errors.add(field, message);
  }

  /** The body, when no check found a problem; else a 400 Refusal listing them all. */
  valid(): T {
    if (this.errors.any) throw new Refusal(400, this.errors);
    return this.#body as T;
  }
}

export type NamedTable = Parameters<ControlStore['nameTaken']>[0];
const NOUNS: Readonly<Record<NamedTable, string>> = {
  projects: 'project',
  inventories: 'inventory',
  job_templates: 'job template',
  workflow_job_templates: 'workflow job template',
};
const nameTaken = (table: NamedTable) => `${NOUNS[table]} with this name already exists.`;

/** Adds AWX's error when another object of the table has the name. */
export async function checkName(errors: FieldErrors, store: ControlStore, table: NamedTable, name: string | undefined): Promise<void> {
  if (name !== undefined && (await store.nameTaken(table, name))) errors.add('name', nameTaken(table));
}

export const invalidPk = (id: number): string => `Invalid pk "${id}" - object does not exist.`;

/** The object an id names, or undefined; an id an INTEGER column cannot hold names nothing, and is not looked up. */
export function lookUp<T>(id: number, find: (id: number) => Promise<T | undefined>): Promise<T | undefined> {
  return id >= 1 && id <= MAX_INT ? find(id) : Promise.resolve(undefined);
}

/** The object a pk field names; AWX's "Invalid pk" on the field when it names none. */
export async function checkRef<T>(errors: FieldErrors, field: string, id: number | undefined, find: (id: number) => Promise<T | undefined>): Promise<T | undefined> {
  if (id === undefined) return undefined;
  const found = await lookUp(id, find);
  if (found === undefined) errors.add(field, invalidPk(id));
  return found;
}

/** 201 with the new object; a name another request took meanwhile is the same field error as one taken before. */
export async function created<T>(reply: FastifyReply, store: ControlStore, table: NamedTable, name: string, insert: () => Promise<T>, view: (t: T) => unknown): Promise<unknown> {
  let made: T;
  try {
    made = await insert();
  } catch (err) {
    if (await store.nameTaken(table, name)) throw new Refusal(400, { name: [nameTaken(table)] });
    throw err;
  }
  reply.code(201);
  return view(made);
}
