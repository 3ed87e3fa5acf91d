// What every part of the web port answers with when it refuses something: AWX's `detail` bodies,
// and a Refusal thrown from anywhere (a body parser, a check, the node not being ready) that the
// error handler sends as it is.

/** AWX's answer for an unknown route or id. */
export const NOT_FOUND = { detail: 'Not found.' } as const;

/** AWX's one-message body. */
export const detail = (text: string): { detail: string } => ({ detail: text });

/** An answer decided before (or instead of) a handler's: sent as is by the error handler. */
export class Refusal extends Error {
  readonly statusCode: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(statusCode: number, body: unknown, headers: Readonly<Record<string, string>> = {}) {
    super(`refused with ${statusCode}`);
    this.name = 'Refusal';
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }
}

/** The request's path, without its query string. */
export const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/** Whether a path is the API's (AWX-shaped answers, a token when tokens are configured). */
export const isApiPath = (path: string): boolean => path === '/api/v2' || path.startsWith('/api/v2/');
