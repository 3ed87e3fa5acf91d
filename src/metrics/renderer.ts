// A service's exposition without per-scrape garbage. What does not change between scrapes is made
// once and kept: each family's `# HELP`/`# TYPE` lines, each series' `name{labels} ` prefix (a
// histogram's `le` included), the text of each value until the value changes, and each family's
// bytes until one of its values changes. A scrape reads the values into a kept Float64Array,
// remakes only the families whose values moved, and copies every family's bytes into a pooled
// Buffer, which goes to the socket as is. Sources without fixed series (computed metrics,
// prom-client's process metrics, the cluster view's families) are formatted anew at each scrape.
import type { Family, SampleShape } from './aggregate.ts';
import type { FamilySource } from './exposition.ts';
import { BufferPool, type Lease } from './buffer-pool.ts';
import { END, SEPARATOR, familyHeader, familyName, samplePrefix, valueText, type Format } from './text-format.ts';

/** A family's bytes in one format, followed by the separator that comes after a family. */
interface Bytes {
  store: Buffer;
  length: number;
  /** The slot's `version` they were made at. */
  version: number;
}

/** What is kept for one source. */
interface Slot {
  readonly source: FamilySource;
  /** The family's name as each format spells it. */
  readonly name: Readonly<Record<Format, string>>;
  readonly header: Readonly<Record<Format, string>>;
  /** The fixed series the kept strings below were made for. */
  shape: readonly SampleShape[] | undefined;
  prefixes: Record<Format, string[] | undefined>;
  values: Float64Array;
  /** The value each text in `texts` spells. */
  spelled: Float64Array;
  texts: string[];
  /** Goes up whenever a text or the shape changes: kept bytes of an older version are stale. */
  version: number;
  readonly bytes: Record<Format, Bytes | undefined>;
  /** This scrape's part: the kept bytes, or the text of a collected family and its length in bytes. */
  current: Bytes | string;
  currentLength: number;
}

const perFormat = <T>(f: (format: Format) => T) => ({ text: f('text'), openmetrics: f('openmetrics') });
const ENCODED = { separator: perFormat((f) => Buffer.byteLength(SEPARATOR[f])), end: perFormat((f) => Buffer.from(END[f])) };
const same = (a: number, b: number) => a === b || (a !== a && b !== b); // NaN spells Nan every time

function slotOf(source: FamilySource): Slot {
  const name = perFormat((format) => familyName(source.name, source.type, format));
  return {
    source,
    name,
    header: perFormat((format) => familyHeader(name[format], source.help, source.type)),
    shape: undefined,
    prefixes: { text: undefined, openmetrics: undefined },
    values: new Float64Array(0),
    spelled: new Float64Array(0),
    texts: [],
    version: 0,
    bytes: { text: undefined, openmetrics: undefined },
    current: '',
    currentLength: 0,
  };
}

/** Renders one service's families in either format, keeping what does not change between scrapes. */
export class ExpositionRenderer {
  readonly #slots: readonly Slot[];
  /** Indices of the sources without fixed series: collected (awaited) at each scrape. */
  readonly #collected: readonly number[];
  readonly #pool = new BufferPool();
  readonly #parts: string[] = [];

  constructor(sources: readonly FamilySource[]) {
    this.#slots = sources.map(slotOf);
    this.#collected = sources.flatMap((s, i) => (s.fixed === undefined ? [i] : []));
  }

  /**
   * Every family as one answer in `format`, in a pooled Buffer: release the lease once the bytes
   * are written out (the Buffer is then reused), or never (it is then left to the GC).
   */
  async render(format: Format): Promise<Lease> {
    if (this.#collected.length === 0) return this.#assemble(format, undefined);
    const families = await Promise.all(this.#collected.map((i) => (this.#slots[i] as Slot).source.collect()));
    return this.#assemble(format, families);
  }

  // Synchronous from the first value read to the last byte copied: two scrapes never interleave here.
  #assemble(format: Format, collected: readonly Family[] | undefined): Lease {
    let length = ENCODED.end[format].length - ENCODED.separator[format]; // the last family has no separator after it
    let c = 0;
    for (const slot of this.#slots) {
      const fixed = slot.source.fixed;
      if (fixed !== undefined) {
        const shape = fixed.shape();
        if (shape !== slot.shape) reshape(slot, shape);
        fixed.read(slot.values);
        spell(slot);
        const bytes = this.#bytesOf(slot, format);
        slot.current = bytes;
        length += bytes.length;
      } else {
        const text = this.#collectedText(slot, collected?.[c++] as Family, format);
        slot.current = text;
        slot.currentLength = Buffer.byteLength(text);
        length += slot.currentLength;
      }
    }
    if (this.#slots.length === 0) length = ENCODED.end[format].length;
    const lease = this.#pool.take(length);
    const out = lease.buffer;
    let at = 0;
    const last = this.#slots.length - 1;
    for (let k = 0; k <= last; k++) {
      const slot = this.#slots[k] as Slot;
      const part = slot.current;
      // Each part ends with the separator after it; the last one's is left out (it is ASCII, so cutting it is exact).
      const cut = k === last ? ENCODED.separator[format] : 0;
      if (typeof part === 'string') at += out.write(part, at, slot.currentLength - cut);
      else at += part.store.copy(out, at, 0, part.length - cut);
      slot.current = ''; // let a collected family's text go
    }
    ENCODED.end[format].copy(out, at);
    return lease;
  }

  /** The slot's kept bytes in `format`, remade when a value changed since they were made. */
  #bytesOf(slot: Slot, format: Format): Bytes {
    const kept = slot.bytes[format];
    if (kept !== undefined && kept.version === slot.version) return kept;
    const prefixes = slot.prefixes[format] ?? prefixesOf(slot, format);
    const parts = this.#parts;
    let n = 0;
    parts[n++] = slot.header[format];
    for (let i = 0; i < prefixes.length; i++) {
      parts[n++] = prefixes[i] as string;
      parts[n++] = slot.texts[i] as string;
    }
    parts[n++] = SEPARATOR[format];
    parts.length = n;
    const text = parts.join('');
    const length = Buffer.byteLength(text);
    // Room to grow a little, so a value gaining a digit does not reallocate.
    const store = kept !== undefined && kept.store.length >= length ? kept.store : Buffer.allocUnsafeSlow(length + 64 + (length >> 3));
    store.write(text, 0);
    const bytes = { store, length, version: slot.version };
    slot.bytes[format] = bytes;
    return bytes;
  }

  #collectedText(slot: Slot, family: Family, format: Format): string {
    const name = slot.name[format];
    const { source } = slot;
    const parts = this.#parts;
    let n = 0;
    parts[n++] = family.help === source.help && family.type === source.type ? slot.header[format] : familyHeader(name, family.help, family.type);
    for (const s of family.samples) {
      parts[n++] = samplePrefix(name, family.type, s, format);
      parts[n++] = valueText(s.value);
    }
    parts[n++] = SEPARATOR[format];
    parts.length = n;
    return parts.join('');
  }
}

function reshape(slot: Slot, shape: readonly SampleShape[]): void {
  slot.shape = shape;
  slot.prefixes = { text: undefined, openmetrics: undefined };
  slot.values = new Float64Array(shape.length);
  slot.spelled = new Float64Array(shape.length);
  slot.texts = shape.map(() => valueText(0));
  slot.version++;
}

function prefixesOf(slot: Slot, format: Format): string[] {
  const prefixes = (slot.shape ?? []).map((s) => samplePrefix(slot.name[format], slot.source.type, s, format));
  slot.prefixes[format] = prefixes;
  return prefixes;
}

/** Remakes the text of each value that changed since it was last spelled. */
function spell(slot: Slot): void {
  const { values, spelled, texts } = slot;
  let changed = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (same(v, spelled[i] as number)) continue;
    spelled[i] = v;
    texts[i] = valueText(v);
    changed = true;
  }
  if (changed) slot.version++;
}
