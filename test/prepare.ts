// Runs before the test files: the suite needs these system programs and installs the missing ones.
import { ensurePrograms } from '../src/system/programs.ts';

const problems = ensurePrograms(['redis-server', 'promtool', 'prometheus', 'initdb', 'ansible-runner', 'git', 'bwrap', 'chromium'], (line) =>
  console.error(`npm test: ${line}`),
);
if (problems.length > 0) {
  for (const p of problems) console.error(`npm test: ${p}`);
  process.exit(1);
}
