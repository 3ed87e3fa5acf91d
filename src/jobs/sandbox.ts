// The sandbox jobs and project updates run in: bubblewrap with a read-only system, the job's own
// private dir, the binds it is given and an environment built from scratch. Where the node runs as
// root, the command runs as an unprivileged user.
import { accessSync, chownSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

/** The user (nobody) jobs run as when the node runs as root. */
export const JOB_UID = 65534;
export const JOB_GID = 65534;

/** What a sandboxed command may see beside the read-only system. */
export interface Sandbox {
  /** The bubblewrap program. */
  readonly bwrap: string;
  /** The job's own directory, bound read-write at the same path; HOME and the temp dirs live in it. */
  readonly privateDir: string;
  /** Further directories, each bound at the same path unless `at` is given. */
  readonly binds?: readonly { readonly path: string; readonly at?: string; readonly writable: boolean }[];
  /** The command's own variables, beside PATH, HOME, LANG and the temp dirs. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Only what ansible, ssh and git read in /etc: not the node's config, keys or /etc/shadow. */
const ETC = [
  '/etc/passwd', '/etc/group', '/etc/hosts', '/etc/resolv.conf', '/etc/nsswitch.conf', '/etc/host.conf', '/etc/services',
  '/etc/protocols', '/etc/localtime', '/etc/ssl', '/etc/ca-certificates', '/etc/alternatives', '/etc/ld.so.cache',
  '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/ansible', '/etc/ssh/ssh_config', '/etc/ssh/ssh_config.d', '/etc/gitconfig',
];

const PATH = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';

/** Whether the node runs as root, so that the sandbox switches to the job user. */
export const asRoot = (): boolean => process.getuid?.() === 0;

/** Gives a directory or file the node made to the job user (when the node runs as root). */
export function giveToJob(path: string): void {
  if (asRoot()) chownSync(path, JOB_UID, JOB_GID);
}

/** Resolves a program as the sandbox will run it: an absolute path, or undefined when it is not there. */
export function resolveProgram(program: string): string | undefined {
  const candidates = isAbsolute(program) ? [program] : PATH.split(':').map((d) => join(d, program));
  return candidates.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The bwrap command line that runs `program args` in the sandbox. The dirs leading to the private
 * dir are made empty (0755) inside it, so the command finds its dir at the node's path (leftover
 * processes are found by that path) without seeing anything else of the node's data dir.
 */
export function sandboxArgs(s: Sandbox, program: string, args: readonly string[]): string[] {
  const out = ['--die-with-parent', '--new-session', '--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try'];
  // As root, no user namespace: bwrap keeps only the right to switch users, and setpriv drops it
  // before the command starts, so the job really is uid 65534 outside too (a namespace would map
  // it back to root). Otherwise the command runs as the node's own user in a user namespace.
  out.push(...(asRoot() ? ['--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID'] : ['--unshare-user']));
  out.push('--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/sbin', '/sbin');
  // Made 0755 first: dirs bwrap makes on its own are 0700, and git stops at an EACCES on /etc/gitconfig.
  out.push('--perms', '0755', '--dir', '/etc', '--perms', '0755', '--dir', '/etc/ssh');
  for (const path of ETC) out.push('--ro-bind-try', path, path);
  out.push('--proc', '/proc', '--dev', '/dev', '--perms', '01777', '--tmpfs', '/dev/shm', '--perms', '01777', '--tmpfs', '/tmp');
  const dirs = new Set<string>();
  const parents = (path: string) => {
    const chain: string[] = [];
    for (let p = dirname(path); p !== '/' && p !== '/tmp'; p = dirname(p)) chain.unshift(p);
    for (const p of chain) if (!dirs.has(p)) dirs.add(p), out.push('--perms', '0755', '--dir', p);
  };
  parents(s.privateDir);
  out.push('--bind', s.privateDir, s.privateDir);
  for (const b of s.binds ?? []) {
    const at = b.at ?? b.path;
    if (!at.startsWith(`${s.privateDir}/`)) parents(at);
    out.push(b.writable ? '--bind' : '--ro-bind', b.path, at);
  }
  // A program outside /usr (a virtualenv's ansible-runner, say) is bound read-only where it is.
  if (isAbsolute(program) && !program.startsWith('/usr/') && existsSync(program)) out.push('--ro-bind', program, program);
  const tmp = join(s.privateDir, 'tmp');
  const env: Record<string, string> = {
    PATH,
    HOME: join(s.privateDir, 'home'),
    LANG: 'C.UTF-8',
    TMPDIR: tmp,
    ANSIBLE_LOCAL_TEMP: tmp,
    ANSIBLE_REMOTE_TEMP: tmp,
    ...s.env,
  };
  out.push('--clearenv');
  for (const [k, v] of Object.entries(env)) out.push('--setenv', k, v);
  out.push('--chdir', s.privateDir, '--');
  if (asRoot()) out.push('setpriv', '--reuid', String(JOB_UID), '--regid', String(JOB_GID), '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all');
  out.push(program, ...args);
  return out;
}

/** The parent pid of a process, from /proc. */
function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * The processes of a sandbox: bwrap → its init, pid 1 of the new pid namespace, in a session of its
 * own (--new-session) → the command. Either is undefined while it is not there yet.
 */
export function sandboxProcesses(bwrapPid: number): { init: number | undefined; command: number | undefined } {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return { init: undefined, command: undefined };
  }
  const childOf = (parent: number) => {
    const found = pids.find((p) => parentOf(p) === parent);
    return found === undefined ? undefined : Number(found);
  };
  const init = childOf(bwrapPid);
  return { init, command: init === undefined ? undefined : childOf(init) };
}
