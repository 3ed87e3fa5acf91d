// Reads an inventory's text enough to check it and count its hosts (a job's capacity impact
// depends on how many hosts it runs against, as in AWX).
import { readYaml } from './yaml-text.ts';

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Hosts a `web[01:03]`-style pattern stands for (1 for a plain name). */
function expand(pattern: string): number {
  let n = 1;
  for (const m of pattern.matchAll(/\[([0-9a-z]+):([0-9a-z]+)(?::(\d+))?\]/gi)) {
    const [from, to, step] = [m[1] as string, m[2] as string, Number(m[3] ?? 1)];
    const numeric = /^\d+$/.test(from) && /^\d+$/.test(to);
    const a = numeric ? Number(from) : from.charCodeAt(0);
    const b = numeric ? Number(to) : to.charCodeAt(0);
    n *= Math.max(0, Math.floor((b - a) / Math.max(step, 1)) + 1);
  }
  return n;
}

/** Distinct hosts of an INI inventory (host lines outside :vars and :children sections). */
function iniHosts(content: string): number {
  const hosts = new Set<string>();
  let section = 'ungrouped';
  for (const raw of content.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      continue;
    }
    if (section.endsWith(':vars') || section.endsWith(':children')) continue;
    hosts.add(line.split(/\s+/)[0] as string);
  }
  return [...hosts].reduce((n, h) => n + expand(h), 0);
}

/** Distinct hosts of a YAML inventory (keys under every `hosts:`). */
function yamlHosts(doc: unknown): number {
  const hosts = new Set<string>();
  const walk = (group: unknown) => {
    if (!isMapping(group)) return;
    if (isMapping(group.hosts)) for (const h of Object.keys(group.hosts)) hosts.add(h);
    if (isMapping(group.children)) for (const child of Object.values(group.children)) walk(child);
  };
  if (isMapping(doc)) for (const group of Object.values(doc)) walk(group);
  return [...hosts].reduce((n, h) => n + expand(h), 0);
}

/** The inventory's host count, or what is wrong with its text. */
export function countHosts(format: 'ini' | 'yaml', content: string): { hosts: number } | { error: string } {
  if (format === 'ini') return { hosts: iniHosts(content) };
  const read = readYaml(content);
  if ('error' in read) return { error: `not valid YAML: ${read.error}` };
  const doc = read.value;
  if (doc !== null && !isMapping(doc)) return { error: 'a YAML inventory is a mapping of groups (all: {hosts: ...})' };
  return { hosts: yamlHosts(doc) };
}
