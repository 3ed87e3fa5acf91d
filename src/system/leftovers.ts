// Finding and stopping the processes a job left behind (Linux /proc).
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Kills what a job left running when its node died: the process group of every process whose
 * command line names the job's private data dir (ansible-runner puts ansible-playbook in a session
 * of its own, and the modules it runs do not name the dir). Returns how many groups it killed.
 */
export function stopLeftovers(privateDataDir: string): number {
  const groups = new Set<number>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return 0; // no /proc: nothing we can find
  }
  for (const pid of pids) {
    try {
      // Arguments end in NUL: the dir alone, or a path inside it (jobs/1 must not match jobs/12).
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes(`${privateDataDir}/`) && !cmdline.includes(`${privateDataDir}\0`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp > 1 && pgrp !== ownGroup()) groups.add(pgrp);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  for (const pgrp of groups) {
    try {
      process.kill(-pgrp, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return groups.size;
}

/** This process's group, which stopLeftovers must never kill. */
function ownGroup(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}
