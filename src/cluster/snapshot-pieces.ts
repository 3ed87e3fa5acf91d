// One snapshot's families rendered once, with the `node` label added, as the pieces an answer for
// the whole cluster is assembled from: per family a header and its sample lines, in the bytes
// prom-client 15 writes for the same values (its Registry#getMetricsAsString, reproduced here
// without a registry or a promise per family; test/unit/snapshot-pieces.test.ts compares them).
import type { Family, Sample } from '../metrics/aggregate.ts';
import type { Snapshot } from './snapshot.ts';

/** The three ways /api/v2/metrics/ answers. */
export type AnswerFormat = 'text' | 'openmetrics' | 'json';

/**
 * One snapshot in one format: every family's header and body, views into one buffer (made once, so
 * that assembling an answer copies whole arrays: TypedArray#set of a view is several times cheaper
 * than Buffer#copy of a range). Text and OpenMetrics: the header is `# HELP …\n# TYPE …`, the body
 * `\n<line>` per sample. JSON: the header is `{"name":…,"help":…,"type":…,"samples":[`, the body
 * the samples joined by commas.
 */
export interface Pieces {
  readonly bytes: Buffer;
  readonly headers: readonly Uint8Array[];
  readonly bodies: readonly Uint8Array[];
}

// Most names and values need no escaping: test once before replacing.
const NEEDS_ESCAPE = /[\\\n]/;
const NEEDS_LABEL_ESCAPE = /[\\\n"]/;
const escapeString = (s: string) => (NEEDS_ESCAPE.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s);
const escapeLabelValue = (v: string | number) =>
  typeof v !== 'string' ? v : NEEDS_LABEL_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;

function valueString(v: number): string {
  if (Number.isNaN(v)) return 'Nan'; // sic: prom-client's spelling
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/** The name a family is registered under: OpenMetrics names a counter family without `_total`. */
export function registryName(name: string, type: Family['type'], format: AnswerFormat): string {
  return format === 'openmetrics' && type === 'counter' ? name.replace(/_total$/, '') : name;
}

/** The labels a sample carries in the cluster answer (mergeFamilies' `{ ...labels, node }`). */
const withNode = (s: Sample, node: string) => ({ ...s.labels, node });

function header(f: Family, format: AnswerFormat): string {
  if (format === 'json') return `{"name":${JSON.stringify(f.name)},"help":${JSON.stringify(f.help)},"type":${JSON.stringify(f.type)},"samples":[`;
  const name = escapeString(registryName(f.name, f.type, format));
  return `# HELP ${name} ${escapeString(f.help)}\n# TYPE ${name} ${f.type}`;
}

function body(f: Family, node: string, format: AnswerFormat): string {
  if (format === 'json') {
    let out = '';
    for (let i = 0; i < f.samples.length; i++) {
      const s = f.samples[i] as Sample;
      out += (i === 0 ? '' : ',') + JSON.stringify({ ...s, labels: withNode(s, node) });
    }
    return out;
  }
  const name = escapeString(registryName(f.name, f.type, format));
  const counterSuffix = format === 'openmetrics' && f.type === 'counter' ? '_total' : '';
  let out = '';
  const nodeLabel = `node="${escapeLabelValue(node)}"`;
  for (const s of f.samples) {
    // The keys of { ...labels, node } in their order, without making that object: the sample's
    // own, its `node` (if any) given the snapshot's node, then `node` last.
    let labels = '';
    let hasNode = false;
    for (const k in s.labels) {
      const own = k === 'node';
      hasNode ||= own;
      labels += `${labels === '' ? '' : ','}${own ? nodeLabel : `${k}="${escapeLabelValue(s.labels[k] as string | number)}"`}`;
    }
    if (!hasNode) labels += `${labels === '' ? '' : ','}${nodeLabel}`;
    out += `\n${s.name ?? name}${counterSuffix}{${labels}} ${valueString(s.value)}`;
  }
  return out;
}

/** Renders every family of a decoded snapshot, each sample labelled with the snapshot's node. */
export function renderPieces(snapshot: Snapshot, format: AnswerFormat): Pieces {
  const parts: string[] = [];
  for (const f of snapshot.families) parts.push(header(f, format), body(f, snapshot.node, format));
  const text = parts.join('');
  const bytes = Buffer.from(text);
  // Offsets in bytes: when every character is one byte (the usual case), the characters' offsets.
  const size = bytes.length === text.length ? (s: string) => s.length : (s: string) => Buffer.byteLength(s);
  const offsets: number[] = [0];
  let at = 0;
  for (const part of parts) offsets.push((at += size(part)));
  const headers: Uint8Array[] = [];
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < snapshot.families.length; i++) {
    headers.push(bytes.subarray(offsets[2 * i], offsets[2 * i + 1]));
    bodies.push(bytes.subarray(offsets[2 * i + 1], offsets[2 * i + 2]));
  }
  return { bytes, headers, bodies };
}
