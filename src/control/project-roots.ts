// Where local projects may live: inside services.dispatcher.project_roots (AWX's PROJECTS_ROOT),
// so that a project cannot be "/", "/etc" or the node's data dir.
import { realpathSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';

/** Where local projects may lie on this node. */
export interface ProjectRoots {
  readonly roots: readonly string[];
  /** The node's data dir: never a project, nor inside one, nor holding one but for its projects dir. */
  readonly dataDir: string;
}

/** The project roots in effect: the configured ones, or `<data_dir>/projects` when the list is empty. */
export function projectRoots(dataDir: string, configured: readonly string[]): ProjectRoots {
  return { roots: configured.length > 0 ? [...configured] : [join(dataDir, 'projects')], dataDir };
}

const within = (base: string, target: string, orSame = false) => {
  const rel = relative(base, target);
  return (orSame || rel !== '') && !rel.startsWith('..') && !isAbsolute(rel);
};

const real = (path: string): string | undefined => {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
};

/** Whether a directory lies strictly inside one of the roots, both resolved (`..` and symlinks leading out do not count). */
export function insideProjectRoots(path: string, { roots, dataDir }: ProjectRoots): boolean {
  const target = real(path);
  if (target === undefined) return false;
  const data = real(dataDir);
  if (data !== undefined && (within(target, data, true) || (within(data, target) && !within(join(data, 'projects'), target)))) return false;
  return roots.some((root) => {
    const base = real(root);
    return base !== undefined && within(base, target);
  });
}

/** What a refused local_path is told: the roots, and the key that sets them. */
export function outsideRootsMessage(path: string, { roots }: ProjectRoots): string {
  return `${JSON.stringify(path)} is not inside a project root; expected a directory inside ${roots.map((r) => JSON.stringify(r)).join(' or ')} (services.dispatcher.project_roots)`;
}
