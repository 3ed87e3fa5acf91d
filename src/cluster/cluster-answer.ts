// An answer of /api/v2/metrics/ assembled from pieces rendered once per snapshot: the families in
// the order mergeFamilies gives them, each one's header from the first snapshot that has it and the
// sample lines of every snapshot after it, concatenated. The bytes are the ones today's merge and
// prom-client rendering give for the same snapshots (test/integration/cluster-view.test.ts).
import type { Family } from '../metrics/aggregate.ts';
import type { ClusterView, Filter } from './cluster-view.ts';
import { registryName, type AnswerFormat, type Pieces } from './snapshot-pieces.ts';

/** What the assembly needs of one usable snapshot. */
export interface AnswerSource {
  readonly node: string;
  readonly service: string;
  readonly families: readonly { readonly name: string; readonly type: Family['type'] }[];
  /** The positions in `families` of those with this name. */
  indexOf(name: string): readonly number[] | undefined;
  /** Its pieces in a format (rendered on first use, then kept). */
  pieces(format: AnswerFormat): Pieces;
}

/** A rendered answer. */
export interface ClusterAnswer {
  readonly contentType: string;
  readonly body: Buffer;
}

export const CONTENT_TYPES: Record<AnswerFormat, string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
  json: 'application/json; charset=utf-8',
};


/** The pieces of an answer, in order. */
class Parts {
  readonly list: Uint8Array[] = [];
  length = 0;

  add(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.list.push(bytes);
    this.length += bytes.length;
  }
}

/** One allocation and one TypedArray#set per piece. */
function concat(all: readonly Parts[]): Buffer {
  const out = Buffer.allocUnsafe(all.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const { list } of all) {
    for (const bytes of list) {
      out.set(bytes, at);
      at += bytes.length;
    }
  }
  return out;
}

const single = (bytes: Uint8Array): Parts => {
  const r = new Parts();
  r.add(bytes);
  return r;
};

const COMMA = Buffer.from(',');
const COMMA_RANGE = single(COMMA);
const FAMILY_END = single(Buffer.from(']}'));
const JSON_START = single(Buffer.from('{"families":['));
const SEPARATOR = { openmetrics: single(Buffer.from('\n')), text: single(Buffer.from('\n\n')) };
const END = { openmetrics: single(Buffer.from('\n# EOF\n')), text: single(Buffer.from('\n')) };

interface Merged {
  readonly name: string;
  readonly type: Family['type'];
  readonly parts: Parts;
  /** Bodies that are not empty (JSON joins them with commas). */
  filled: number;
}

/** Snapshots in the order mergeFamilies takes them: by node, then service. */
export function byNodeThenService(a: AnswerSource, b: AnswerSource): number {
  return a.node < b.node ? -1 : a.node > b.node ? 1 : a.service < b.service ? -1 : 1;
}

/**
 * One family per name across `sources` (already chosen and in byNodeThenService order), in the
 * order of first appearance; a family whose type differs from the first one's is left out.
 */
function merge(sources: readonly AnswerSource[], metrics: ReadonlySet<string>, format: AnswerFormat): Merged[] {
  const merged = new Map<string, Merged>();
  const wanted = [...metrics];
  const picked: number[] = [];
  for (const source of sources) {
    let positions: Iterable<number>;
    if (wanted.length === 0) positions = source.families.keys();
    else {
      // A few names asked for: look them up rather than walk every family of every snapshot.
      picked.length = 0;
      for (const name of wanted) for (const i of source.indexOf(name) ?? []) picked.push(i);
      if (picked.length === 0) continue;
      if (picked.length > 1) picked.sort((a, b) => a - b);
      positions = picked;
    }
    const pieces = source.pieces(format);
    for (const i of positions) {
      const f = source.families[i] as AnswerSource['families'][number];
      let into = merged.get(f.name);
      if (into === undefined) {
        into = { name: f.name, type: f.type, parts: new Parts(), filled: 0 };
        into.parts.add(pieces.headers[i] as Uint8Array);
        merged.set(f.name, into);
      }
      if (into.type !== f.type) continue;
      const body = pieces.bodies[i] as Uint8Array;
      if (body.length === 0) continue;
      if (format === 'json' && into.filled > 0) into.parts.add(COMMA);
      into.parts.add(body);
      into.filled++;
    }
  }
  return [...merged.values()];
}

/**
 * prom-client keeps a registry's metrics in a plain object, so names that are array indices come
 * first, in numeric order; and both of today's registries are built for every answer, so two
 * families with one OpenMetrics name fail it, whatever the format asked.
 */
function registryOrder(families: Merged[], format: AnswerFormat): Merged[] {
  const byName: Record<string, Merged> = Object.create(null) as Record<string, Merged>;
  const openMetricsNames = new Set<string>();
  for (const f of families) {
    const om = registryName(f.name, f.type, 'openmetrics');
    if (openMetricsNames.has(om)) throw new Error(`A metric with the name ${om} has already been registered.`);
    openMetricsNames.add(om);
    byName[registryName(f.name, f.type, format)] = f;
  }
  return Object.values(byName);
}

/** The JSON answer's tail: which snapshots were used and which were left out. */
export interface JsonTail {
  readonly nodes: readonly object[];
  readonly rejected: readonly object[];
}

/** Assembles the answer over `sources` (chosen, in byNodeThenService order) in one format. */
export function assembleAnswer(sources: readonly AnswerSource[], metrics: ReadonlySet<string>, format: AnswerFormat, tail: JsonTail): ClusterAnswer {
  const families = merge(sources, metrics, format);
  const out: Parts[] = [];
  if (format === 'json') {
    out.push(JSON_START);
    families.forEach((f, i) => {
      if (i > 0) out.push(COMMA_RANGE);
      out.push(f.parts, FAMILY_END);
    });
    out.push(single(Buffer.from(`],"nodes":${JSON.stringify(tail.nodes)},"rejected":${JSON.stringify(tail.rejected)}}`)));
  } else {
    registryOrder(families, format).forEach((f, i) => {
      if (i > 0) out.push(SEPARATOR[format]);
      out.push(f.parts);
    });
    out.push(END[format]);
  }
  return { contentType: CONTENT_TYPES[format], body: concat(out) };
}

/** The JSON answer's tail for a view: every usable snapshot (whatever the filter) and every one left out. */
export function jsonTail(view: Pick<ClusterView, 'snapshots' | 'rejected'>): JsonTail {
  return { nodes: view.snapshots.map((s) => ({ node: s.node, service: s.service, version: s.version, at: new Date(s.at).toISOString() })), rejected: view.rejected };
}

/** A view's answer; a view that cannot render (a stand-in holding no families) answers with none. */
export function renderView(view: ClusterView, filter: Filter, format: AnswerFormat): ClusterAnswer {
  return view.render?.(filter, format) ?? assembleAnswer([], filter.metrics, format, format === 'json' ? jsonTail(view) : { nodes: [], rejected: [] });
}
