// A lock over a SharedArrayBuffer, shared by every thread of the process that writes SQLite:
// SQLite allows one writer at a time, and threads that take turns here wait on a futex instead of
// sleeping and retrying in SQLite's busy handler.

/** A mutual-exclusion lock; acquire() blocks the calling thread. */
export interface WriteLock {
  acquire(): void;
  release(): void;
}

const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;

/** The shared memory behind a lock; pass it to threads (workerData or a task) and open it there. */
export function createLockBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

/** A futex-style mutex (Drepper's three-state lock) over a lock buffer. */
export function openWriteLock(buffer: SharedArrayBuffer): WriteLock {
  const cell = new Int32Array(buffer);
  return {
    acquire() {
      let c = Atomics.compareExchange(cell, 0, UNLOCKED, LOCKED);
      if (c === UNLOCKED) return;
      if (c !== CONTENDED) c = Atomics.exchange(cell, 0, CONTENDED);
      while (c !== UNLOCKED) {
        Atomics.wait(cell, 0, CONTENDED);
        c = Atomics.exchange(cell, 0, CONTENDED);
      }
    },
    release() {
      if (Atomics.sub(cell, 0, 1) !== LOCKED) {
        Atomics.store(cell, 0, UNLOCKED);
        Atomics.notify(cell, 0, 1);
      }
    },
  };
}
