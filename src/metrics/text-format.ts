// The exposition text, piece by piece, exactly as prom-client's Registry writes it (registry.js and
// util.js of prom-client 15): the same escaping, the same number spelling (NaN is "Nan"), the same
// separators. renderer.ts assembles these pieces once and reuses them; a unit test holds the result
// byte for byte against prom-client's own rendering, so prom-client stays the format's authority.
import { Registry } from 'prom-client';
import type { Family, Sample } from './aggregate.ts';

/** The two formats every port serves. */
export type Format = 'text' | 'openmetrics';

export const CONTENT_TYPE: Readonly<Record<Format, string>> = {
  text: Registry.PROMETHEUS_CONTENT_TYPE,
  openmetrics: Registry.OPENMETRICS_CONTENT_TYPE,
};

/** Content negotiation: OpenMetrics when the Accept header names it, else Prometheus text 0.0.4. */
export function formatFor(accept: string | undefined): Format {
  return accept?.includes('application/openmetrics-text') ? 'openmetrics' : 'text';
}

const escapeString = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (v: unknown) => (typeof v === 'string' ? escapeString(v).replace(/"/g, '\\"') : v);

/** A sample value as text: integers and fractions as JavaScript spells them, Nan, +Inf, -Inf. */
export function valueText(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/** The name a family goes by: in OpenMetrics a counter family drops `_total` (its samples keep it). */
export function familyName(name: string, type: Family['type'], format: Format): string {
  return format === 'openmetrics' && type === 'counter' ? name.replace(/_total$/, '') : name;
}

/** `# HELP` and `# TYPE` of a family, without a trailing newline; `name` as familyName() gives it. */
export function familyHeader(name: string, help: string, type: Family['type']): string {
  const escaped = escapeString(name);
  return `# HELP ${escaped} ${escapeString(help)}\n# TYPE ${escaped} ${type}`;
}

/** `{a="x",b="y"}`, or nothing without labels. */
export function labelText(labels: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const [name, value] of Object.entries(labels)) out += `${out === '' ? '' : ','}${name}="${escapeLabelValue(value) as string}"`;
  return out === '' ? '' : `{${out}}`;
}

/**
 * A sample line up to its value, newline first: `\nname{labels} `. `family` is the family's own
 * name (familyName() of it), which a sample without a name of its own goes by.
 */
export function samplePrefix(family: string, type: Family['type'], sample: Pick<Sample, 'name' | 'labels'>, format: Format): string {
  const name = sample.name ?? escapeString(family);
  const suffix = format === 'openmetrics' && type === 'counter' ? '_total' : '';
  return `\n${name}${suffix}${labelText(sample.labels ?? {})} `;
}

/** What goes between two families. */
export const SEPARATOR: Readonly<Record<Format, string>> = { text: '\n\n', openmetrics: '\n' };
/** What ends the answer. */
export const END: Readonly<Record<Format, string>> = { text: '\n', openmetrics: '\n# EOF\n' };

/** Families as a whole answer, without any cache: for answers made once (the cluster view's). */
export function renderFamilies(families: readonly Family[], format: Format): string {
  const parts: string[] = [];
  families.forEach((f, i) => {
    if (i > 0) parts.push(SEPARATOR[format]);
    const name = familyName(f.name, f.type, format);
    parts.push(familyHeader(name, f.help, f.type));
    for (const s of f.samples) parts.push(samplePrefix(name, f.type, s, format), valueText(s.value));
  });
  parts.push(END[format]);
  return parts.join('');
}
