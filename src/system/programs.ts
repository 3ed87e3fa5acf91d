import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** A system program overseer or its tests run, and the Debian packages that bring it. */
interface ProgramSpec {
  readonly packages: readonly string[];
  /** Directories searched after PATH (PostgreSQL keeps its server binaries off PATH). */
  readonly extraDirs?: () => string[];
}

const postgresDirs = (): string[] => {
  const root = '/usr/lib/postgresql';
  try {
    return readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => join(root, v, 'bin'));
  } catch {
    return [];
  }
};

const PROGRAMS = {
  'redis-server': { packages: ['redis-server'] },
  promtool: { packages: ['prometheus'] },
  prometheus: { packages: ['prometheus'] },
  chromium: { packages: ['chromium'] },
  initdb: { packages: ['postgresql'], extraDirs: postgresDirs },
  'ansible-runner': { packages: ['python3-ansible-runner', 'ansible-core'] },
  git: { packages: ['git'] },
  bwrap: { packages: ['bubblewrap'] },
} as const satisfies Record<string, ProgramSpec>;

export type ProgramName = keyof typeof PROGRAMS;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of a program, from PATH or its known directories, or undefined. */
export function findProgram(name: ProgramName): string | undefined {
  const spec: ProgramSpec = PROGRAMS[name];
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...(spec.extraDirs?.() ?? [])];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The command an operator runs to install the given programs. */
export function installCommand(names: readonly ProgramName[]): string {
  const packages = [...new Set(names.flatMap((n) => PROGRAMS[n].packages))];
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packages.join(' ')}`;
}

function canInstall(): boolean {
  return process.env.OVERSEER_NO_INSTALL !== '1' && process.getuid?.() === 0 && findAptGet() !== undefined;
}

function findAptGet(): string | undefined {
  return ['/usr/bin/apt-get', '/bin/apt-get'].find(isExecutable);
}

function apt(args: string[]): { ok: boolean; output: string } {
  const res = spawnSync(findAptGet() ?? 'apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { ok: res.status === 0, output: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error?.message ?? ''}` };
}

/**
 * Makes sure the programs are installed: installs the missing ones with apt-get where this machine
 * allows it (root, apt-get present, OVERSEER_NO_INSTALL unset), and says so through `say`.
 * Returns one problem line per program still missing, naming the command that installs it.
 */
export function ensurePrograms(names: readonly ProgramName[], say: (line: string) => void): string[] {
  const missing = names.filter((n) => findProgram(n) === undefined);
  if (missing.length === 0) return [];
  const packages = [...new Set(missing.flatMap((n) => PROGRAMS[n].packages))];
  if (canInstall()) {
    say(`installing ${missing.join(', ')} (Debian packages: ${packages.join(' ')}) with apt-get`);
    const update = apt(['update', '-qq']);
    const install = update.ok
      ? apt(['install', '-y', '-qq', '--no-install-recommends', ...packages])
      : update;
    if (!install.ok) say(`apt-get failed:\n${install.output.trim().split('\n').slice(-15).join('\n')}`);
  }
  return missing
    .filter((n) => findProgram(n) === undefined)
    .map((n) => `${n} is not installed; install it with: ${installCommand([n])}`);
}
