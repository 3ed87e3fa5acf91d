import { spawnSync } from 'node:child_process';
import { findProgram } from '../../src/system/programs.ts';

/** Runs `promtool check metrics` on exposition text; returns its exit code and everything it printed. */
export function promtoolCheck(text: string): { code: number | null; output: string } {
  const program = findProgram('promtool');
  if (program === undefined) throw new Error('promtool is not installed (npm test installs it)');
  const res = spawnSync(program, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: res.status, output: `${res.stdout}${res.stderr}`.trim() };
}

/** Runs promtool with these arguments in `cwd`; returns its exit code and everything it printed. */
export function runPromtool(args: readonly string[], cwd: string): { code: number | null; output: string } {
  const program = findProgram('promtool');
  if (program === undefined) throw new Error('promtool is not installed (npm test installs it)');
  const res = spawnSync(program, args, { cwd, encoding: 'utf8' });
  return { code: res.status, output: `${res.stdout}${res.stderr}`.trim() };
}
