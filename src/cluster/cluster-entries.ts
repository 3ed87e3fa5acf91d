// The snapshots a node holds in memory for the cluster view: one entry per stored snapshot key,
// decoded and checked once when its text changes, its answer pieces rendered once per format. A
// view at a moment (expiry is judged then) is cut from them without decoding anything again.
import { createHash } from 'node:crypto';
import type { Family } from '../metrics/aggregate.ts';
import type { ClusterView, Filter, Rejected } from './cluster-view.ts';
import { assembleAnswer, byNodeThenService, jsonTail, type AnswerSource } from './cluster-answer.ts';
import { renderPieces, type AnswerFormat, type Pieces } from './snapshot-pieces.ts';
import { decodeSnapshot, isExpired, snapshotHead, type Snapshot, type SnapshotHead } from './snapshot.ts';

type Decoded = ReturnType<typeof decodeSnapshot>;

/** One stored snapshot key as last seen. */
export class Entry implements AnswerSource {
  readonly key: string;
  readonly text: string;
  /** When the store took it in (EntryStore#seq): a read sent before then must not replace it. */
  readonly seq: number;
  /** Undefined when the snapshot is refused. */
  readonly head: SnapshotHead | undefined;
  readonly refused: { readonly reason: 'malformed' | 'format'; readonly detail: string } | undefined;
  readonly families: readonly { readonly name: string; readonly type: Family['type'] }[];
  readonly #pieces: Partial<Record<AnswerFormat, Pieces>> = {};
  #fingerprint: string | undefined;
  #index: Map<string, number[]> | undefined;

  /** `before` is the entry this one replaces: its family list is kept when the families are the same. */
  constructor(key: string, text: string, seq: number, decoded: Decoded, formats: Iterable<AnswerFormat>, before?: Entry) {
    this.key = key;
    this.text = text;
    this.seq = seq;
    if ('snapshot' in decoded) {
      this.head = snapshotHead(decoded.snapshot);
      this.refused = undefined;
      const families = decoded.snapshot.families;
      const same = before !== undefined && before.families.length === families.length && families.every((f, i) => f.name === before.families[i]?.name && f.type === before.families[i]?.type);
      this.families = same ? before.families : families.map((f) => ({ name: f.name, type: f.type }));
      if (same) this.#index = before.#index;
      for (const format of formats) this.#pieces[format] = renderPieces(decoded.snapshot, format);
    } else {
      this.head = undefined;
      this.refused = { reason: decoded.rejected, detail: decoded.detail };
      this.families = [];
    }
  }

  get node(): string {
    return this.head?.node ?? '';
  }

  get service(): string {
    return this.head?.service ?? '';
  }

  /** The positions of its families with this name (made on the first filtered answer). */
  indexOf(name: string): readonly number[] | undefined {
    if (this.#index === undefined) {
      this.#index = new Map();
      this.families.forEach((f, i) => {
        const at = this.#index?.get(f.name);
        if (at === undefined) this.#index?.set(f.name, [i]);
        else at.push(i);
      });
    }
    return this.#index.get(name);
  }

  /** Its answer pieces in a format: rendered on first use (the text is decoded again once), then kept. */
  pieces(format: AnswerFormat): Pieces {
    let p = this.#pieces[format];
    if (p === undefined) {
      p = renderPieces((decodeSnapshot(this.text) as { snapshot: Snapshot }).snapshot, format);
      this.#pieces[format] = p;
    }
    return p;
  }

  /** Bytes held for it: its text and its rendered pieces. */
  get bytes(): number {
    return this.text.length + Object.values(this.#pieces).reduce((n, p) => n + p.bytes.length, 0);
  }

  get fingerprint(): string {
    this.#fingerprint ??= createHash('sha1').update(this.text).digest('hex');
    return this.#fingerprint;
  }
}

/** The entries by key, with a sequence number per change and a generation for answer caches. */
export class EntryStore {
  readonly #entries = new Map<string, Entry>();
  #seq = 0;
  #generation = 0;
  /** Per node, its usable snapshots' times by key (kept as entries come and go). */
  readonly #times = new Map<string, Map<string, number>>();
  /** The keys in key order and the usable ones by node then service: changes only when keys come, go or change node. */
  #keyOrder: { byKey: string[]; byNode: string[] } | undefined;
  #ordered: { byKey: Entry[]; byNode: Entry[] } | undefined;

  /** Increases with every entry taken in. */
  get seq(): number {
    return this.#seq;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Entry | undefined {
    return this.#entries.get(key);
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  values(): IterableIterator<Entry> {
    return this.#entries.values();
  }

  /** Takes in a stored text (decoding it unless `decoded` is given); nothing happens when it is the text already held. */
  put(key: string, text: string, formats: Iterable<AnswerFormat>, decoded?: Decoded): void {
    const held = this.#entries.get(key);
    if (held?.text === text) return;
    const entry = new Entry(key, text, ++this.#seq, decoded ?? decodeSnapshot(text), formats, held);
    this.#entries.set(key, entry);
    if (held !== undefined) this.#untime(held);
    if (entry.head !== undefined) {
      let times = this.#times.get(entry.head.node);
      if (times === undefined) this.#times.set(entry.head.node, (times = new Map()));
      times.set(key, entry.head.at);
    }
    this.#changed(held === undefined || held.head === undefined || entry.head === undefined || held.node !== entry.node || held.service !== entry.service);
  }

  delete(key: string): void {
    const held = this.#entries.get(key);
    if (held === undefined) return;
    this.#entries.delete(key);
    this.#untime(held);
    this.#changed(true);
  }

  #untime(e: Entry): void {
    if (e.head === undefined) return;
    const times = this.#times.get(e.head.node);
    times?.delete(e.key);
    if (times?.size === 0) this.#times.delete(e.head.node);
  }

  #changed(reordered: boolean): void {
    this.#generation++;
    this.#ordered = undefined;
    if (reordered) this.#keyOrder = undefined;
  }

  /** The newest usable snapshot time of a node, if any is held. */
  newestAt(node: string): number | undefined {
    const times = this.#times.get(node);
    if (times === undefined) return undefined;
    let newest = Number.NEGATIVE_INFINITY;
    for (const at of times.values()) if (at > newest) newest = at;
    return newest;
  }

  #order(): { byKey: Entry[]; byNode: Entry[] } {
    if (this.#keyOrder === undefined) {
      const byKey = [...this.#entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.#keyOrder = { byKey: byKey.map((e) => e.key), byNode: byKey.filter((e) => e.head !== undefined).sort(byNodeThenService).map((e) => e.key) };
    }
    if (this.#ordered === undefined) {
      const entry = (key: string) => this.#entries.get(key) as Entry;
      this.#ordered = { byKey: this.#keyOrder.byKey.map(entry), byNode: this.#keyOrder.byNode.map(entry) };
    }
    return this.#ordered;
  }

  /** The view at `now`: what has expired by then is left out as expired. `used` hears of each answer rendered. */
  viewAt(now: number, used: (format: AnswerFormat) => void): ClusterView {
    const { byKey, byNode } = this.#order();
    const expired = new Set<Entry>();
    const snapshots: SnapshotHead[] = [];
    const rejected: Rejected[] = [];
    for (const e of byKey) {
      if (e.head !== undefined && !isExpired(e.head, now)) {
        snapshots.push(e.head);
        continue;
      }
      if (e.head !== undefined) expired.add(e);
      const why = e.head !== undefined
        ? { reason: 'expired' as const, detail: `taken ${Math.round((now - e.head.at) / 1000)} s ago` }
        : (e.refused as NonNullable<Entry['refused']>);
      rejected.push({ key: e.key, ...why, fingerprint: e.fingerprint });
    }
    const live = expired.size === 0 ? byNode : byNode.filter((e) => !expired.has(e));
    const signature = `${this.#generation}${[...expired].map((e) => `|${e.key}`).join('')}`;
    return {
      snapshots,
      rejected,
      signature,
      render(filter: Filter, format: AnswerFormat) {
        used(format);
        const chosen = filter.nodes.size === 0 && filter.service === undefined
          ? live
          : live.filter((e) => (filter.nodes.size === 0 || filter.nodes.has(e.node)) && (filter.service === undefined || e.service === filter.service));
        return assembleAnswer(chosen, filter.metrics, format, format === 'json' ? jsonTail({ snapshots, rejected }) : { nodes: [], rejected: [] });
      },
    };
  }
}
