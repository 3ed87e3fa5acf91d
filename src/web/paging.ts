// AWX's paging of every list: {count, next, previous, results}, `page` and `page_size` (at most
// 200), "Invalid page." past the end. Links keep the client's other parameters as it gave them.
import type { FastifyRequest } from 'fastify';
import { EVENT_ORDERS, type EventOrder, type Page } from '../storage/storage.ts';
import { Refusal, detail, pathOf } from './answers.ts';
import { list, object, type JsonSchema } from './schemas.ts';

const DEFAULT_PAGE_SIZE = 50;
/** AWX's MAX_PAGE_SIZE. */
export const MAX_PAGE_SIZE = 200;

const PAGING = { page: { type: 'integer', minimum: 1 }, page_size: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE } };
/** The query string of a list. */
export const PAGE_QUERY = object(PAGING);
/** The query string of a list of events, which also take an order. */
export const EVENT_PAGE_QUERY = object({ ...PAGING, order_by: { type: 'string', enum: EVENT_ORDERS } });

const LINK = { type: ['string', 'null'] };
/** The answer of a list of `item`. */
export const pageSchema = (item: JsonSchema): JsonSchema =>
  object({ count: { type: 'integer' }, next: LINK, previous: LINK, results: list(item) }, ['count', 'next', 'previous', 'results']);

export interface Paged<T> {
  readonly count: number;
  readonly next: string | null;
  readonly previous: string | null;
  readonly results: readonly T[];
}

/** A list's rows: one page of them, and how many there are in all. */
export type Load<T> = (page: Page, order: EventOrder) => Promise<{ count: number; results: readonly T[] }>;

/** The request's URL with `page` replaced; the other parameters are kept as the client gave them. */
function pageLink(url: string, page: number): string {
  const path = pathOf(url);
  const given = new URLSearchParams(url.slice(path.length + 1));
  const params = new URLSearchParams([['page', String(page)], ...[...given].filter(([key]) => key !== 'page')]);
  return `${path}?${params.toString()}`;
}

/** One page of a list, as the request's (validated) query string asks; past the end a 404 Refusal. */
export async function pageOf<T>(request: FastifyRequest, load: Load<T>): Promise<Paged<T>> {
  const query = request.query as { page?: number; page_size?: number; order_by?: EventOrder };
  const page = query.page ?? 1;
  const pageSize = query.page_size ?? DEFAULT_PAGE_SIZE;
  // OFFSET must stay an integer for SQLite; any page that far out is past the end anyway.
  const offset = Math.min((page - 1) * pageSize, Number.MAX_SAFE_INTEGER);
  const { count, results } = await load({ limit: pageSize, offset }, query.order_by ?? 'counter');
  // An empty first page is an empty list; any later empty page is a client error.
  if (page > 1 && offset >= count) throw new Refusal(404, detail('Invalid page.'));
  return {
    count,
    next: page * pageSize < count ? pageLink(request.url, page + 1) : null,
    previous: page > 1 ? pageLink(request.url, page - 1) : null,
    results,
  };
}
