// The scrape bench's client: HTTP/1.1 GETs over one kept-alive socket, each answer read into a kept
// Buffer (the socket reads into a kept Buffer too: net's `onread`). It allocates next to nothing per
// request (about 2 KB), so the garbage collections during timed scrapes are the server's own, as
// they would be with Prometheus in another process. The node:http client the bench used before, in
// the same heap as the servers measured, allocated about 50 KB per request of a 30 KB answer.
// Answers must carry a content-length (every design's do); a closed connection fails the pending
// request.
import { connect, type Socket } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const READ_SIZE = 64 * 1024;

/** One answer: its status and body (a view of the client's buffer, valid until the next get). */
export interface LeanResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** A GET-only HTTP/1.1 client over one socket, one request at a time. */
export class LeanClient {
  readonly #socket: Socket;
  #buffer = Buffer.allocUnsafeSlow(256 * 1024);
  #filled = 0;
  /** Where the body starts once the header is read, and its length; -1 while reading the header. */
  #bodyAt = -1;
  #bodyLength = 0;
  #status = 0;
  #pending: { resolve: (r: LeanResponse) => void; reject: (err: Error) => void } | undefined;
  #failure: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const fail = (err: Error) => {
      this.#failure ??= err;
      this.#pending?.reject(err);
      this.#pending = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the server closed the connection')));
  }

  /** Connects to 127.0.0.1:port. */
  static connect(port: number): Promise<LeanClient> {
    return new Promise((resolve, reject) => {
      let client: LeanClient | undefined;
      const read = Buffer.allocUnsafeSlow(READ_SIZE);
      const socket = connect({
        host: '127.0.0.1',
        port,
        noDelay: true,
        onread: {
          buffer: read,
          callback: (n) => {
            if (client !== undefined) client.#received(read, n);
            return true;
          },
        },
      });
      client = new LeanClient(socket);
      socket.once('connect', () => resolve(client as LeanClient));
      socket.once('error', reject);
    });
  }

  /** Sends a request made by LeanClient.request() and resolves with the whole answer. */
  get(request: Buffer): Promise<LeanResponse> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending) return Promise.reject(new Error('one request at a time'));
    this.#filled = 0;
    this.#bodyAt = -1;
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(request);
    });
  }

  /** The bytes of a GET of path, to pass to get() as often as wanted. */
  static request(path: string): Buffer {
    return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`, 'latin1');
  }

  close(): void {
    this.#socket.destroy();
  }

  #received(chunk: Buffer, n: number): void {
    if (this.#filled + n > this.#buffer.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.#buffer.length * 2, this.#filled + n));
      this.#buffer.copy(bigger, 0, 0, this.#filled);
      this.#buffer = bigger;
    }
    chunk.copy(this.#buffer, this.#filled, 0, n);
    this.#filled += n;
    if (this.#bodyAt < 0 && !this.#readHeader()) return;
    if (this.#filled - this.#bodyAt < this.#bodyLength) return;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.resolve({ status: this.#status, body: this.#buffer.subarray(this.#bodyAt, this.#bodyAt + this.#bodyLength) });
  }

  /** Reads the status and content-length once the header is in; false while it is not. */
  #readHeader(): boolean {
    const end = this.#buffer.indexOf(HEADER_END, 0);
    if (end < 0 || end + HEADER_END.length > this.#filled) return false; // none yet (bytes past #filled are an earlier answer's)
    const header = this.#buffer.toString('latin1', 0, end);
    this.#status = Number(header.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(header)?.[1];
    if (length === undefined) {
      this.#pending?.reject(new Error(`an answer without content-length: ${header.split('\r\n')[0]}`));
      this.#pending = undefined;
      return false;
    }
    this.#bodyLength = Number(length);
    this.#bodyAt = end + HEADER_END.length;
    return true;
  }
}
