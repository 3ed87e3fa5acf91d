// A workflow's graph: nodes named by identifier, and edges of three kinds from a node to the
// nodes that follow it. The API checks a template's graph here; the workflow manager walks a
// running workflow's with the same parents.
import type { WorkflowNodeSpec } from './model.ts';

export const EDGE_KINDS = ['success', 'failure', 'always'] as const;
export type EdgeKind = (typeof EDGE_KINDS)[number];

/** The node field holding each kind of edge. */
export const EDGE_FIELDS = EDGE_KINDS.map((kind) => `${kind}_nodes` as const);
export type EdgeField = (typeof EDGE_FIELDS)[number];

/** One edge into a node: where it comes from, and its kind. */
export interface ParentEdge {
  readonly parent: string;
  readonly edge: EdgeKind;
}

/** Each node's parents, with the kind of edge from each; an edge to an unknown identifier is left out. */
export function parentsOf(nodes: readonly WorkflowNodeSpec[]): Map<string, ParentEdge[]> {
  const parents = new Map<string, ParentEdge[]>(nodes.map((n) => [n.identifier, []]));
  for (const n of nodes) {
    for (const edge of EDGE_KINDS) {
      for (const child of n[`${edge}_nodes`]) parents.get(child)?.push({ parent: n.identifier, edge });
    }
  }
  return parents;
}

/** A cycle of the graph (its identifiers, the first repeated at the end), or undefined when it has none. */
export function findCycle(nodes: readonly WorkflowNodeSpec[]): string[] | undefined {
  const parents = new Map([...parentsOf(nodes)].map(([id, from]) => [id, new Set(from.map((p) => p.parent))]));
  const children = new Map<string, Set<string>>(nodes.map((n) => [n.identifier, new Set()]));
  for (const [child, from] of parents) for (const parent of from) children.get(parent)?.add(child);
  // Peel off nodes whose parents are all gone (Kahn); what stays is on a cycle or after one.
  const ready = [...parents].filter(([, from]) => from.size === 0).map(([id]) => id);
  for (let id = ready.pop(); id !== undefined; id = ready.pop()) {
    parents.delete(id);
    for (const child of children.get(id) ?? []) {
      const from = parents.get(child);
      if (from?.delete(id) && from.size === 0) ready.push(child);
    }
  }
  // Every node left has a parent left: walking up from one must come back to a node already seen.
  const walk = new Map<string, number>();
  for (let at = parents.keys().next().value; at !== undefined; at = parents.get(at)?.values().next().value) {
    if (walk.has(at)) return [...[...walk.keys()].slice(walk.get(at)), at].reverse();
    walk.set(at, walk.size);
  }
  return undefined;
}
