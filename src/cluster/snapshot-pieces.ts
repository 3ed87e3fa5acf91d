// One snapshot's families rendered once, with the `node` label added, as the pieces an answer for
// the whole cluster is assembled from: per family a header and its sample lines, in the bytes
// prom-client 15 writes for the same values (its Registry#getMetricsAsString, reproduced here
// without a registry or a promise per family; test/unit/snapshot-pieces.test.ts compares them).
import type { Family, Sample } from '../metrics/aggregate.ts';
import type { Snapshot } from './snapshot.ts';

/** The three ways /api/v2/metrics/ answers. */
export type AnswerFormat = 'text' | 'openmetrics' | 'json';

/**
 * One snapshot in one format: every family's header and body in one buffer. Family i's header is
 * bytes[offsets[2i], offsets[2i+1]) and its body bytes[offsets[2i+1], offsets[2i+2]).
 * Text and OpenMetrics: the header is `# HELP …\n# TYPE …`, the body `\n<line>` per sample. JSON:
 * the header is `{"name":…,"help":…,"type":…,"samples":[`, the body the samples joined by commas.
 */
export interface Pieces {
  readonly bytes: Buffer;
  readonly offsets: Uint32Array;
}

const escapeString = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (v: string | number) => (typeof v === 'string' ? escapeString(v).replace(/"/g, '\\"') : v);

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
  for (const s of f.samples) {
    const labels: string[] = [];
    for (const [k, v] of Object.entries(withNode(s, node))) labels.push(`${k}="${escapeLabelValue(v)}"`);
    out += `\n${s.name ?? name}${counterSuffix}{${labels.join(',')}} ${valueString(s.value)}`;
  }
  return out;
}

/** Renders every family of a decoded snapshot, each sample labelled with the snapshot's node. */
export function renderPieces(snapshot: Snapshot, format: AnswerFormat): Pieces {
  const parts: string[] = [];
  const offsets = new Uint32Array(2 * snapshot.families.length + 1);
  let at = 0;
  snapshot.families.forEach((f, i) => {
    const h = header(f, format);
    const b = body(f, snapshot.node, format);
    parts.push(h, b);
    offsets[2 * i] = at;
    at += Buffer.byteLength(h);
    offsets[2 * i + 1] = at;
    at += Buffer.byteLength(b);
  });
  offsets[2 * snapshot.families.length] = at;
  return { bytes: Buffer.from(parts.join('')), offsets };
}

/** Family i's header bytes. */
export const headerOf = (p: Pieces, i: number): Buffer => p.bytes.subarray(p.offsets[2 * i], p.offsets[2 * i + 1]);
/** Family i's body bytes (empty when it has no samples). */
export const bodyOf = (p: Pieces, i: number): Buffer => p.bytes.subarray(p.offsets[2 * i + 1], p.offsets[2 * i + 2]);
