// A few Buffers that answers are written into and that return once the socket is done with them,
// so a scrape's answer costs no new memory. A Buffer that is never released is simply left to the
// GC; one released too early would be overwritten by the next answer while still being sent, so
// release only from the write's callback.

/** A Buffer lent for one answer: exactly its length, over a store the pool may lend again after release(). */
export interface Lease {
  readonly buffer: Buffer;
  /** The bytes have been written out: the store may be reused. Idempotent. */
  release(): void;
}

/** Free stores kept: more concurrent answers than this allocate, and their stores are dropped after. */
const KEPT = 4;

/** Lends Buffers of at least a given length, reusing released ones. */
export class BufferPool {
  readonly #free: Buffer[] = [];

  /** A Buffer of exactly `length` bytes (its content is whatever was there: write all of it). */
  take(length: number): Lease {
    let store = this.#free.pop();
    // Room to grow: an answer gains bytes as values gain digits.
    if (store === undefined || store.length < length) store = Buffer.allocUnsafeSlow(length + (length >> 2) + 256);
    const kept = store;
    let released = false;
    return {
      buffer: store.subarray(0, length),
      release: () => {
        if (released) return;
        released = true;
        if (this.#free.length < KEPT) this.#free.push(kept);
      },
    };
  }
}
