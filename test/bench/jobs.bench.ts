// Benchmark: 24 jobs of a 6 s playbook launched at once on a node with capacity 220 and the
// default dispatcher pool (2 to 8 threads), next to the floor: the same 24 ansible-runner runs
// started side by side by this script, with no control plane. Reports the wall time of each, how
// many of ours ran at once at most, and the supervisor's RSS (VmRSS, its own process, not the
// jobs') before the launches and at its peak while they ran.
// Run: npm run bench -- jobs
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNode, tempDir, writeTestConfig } from '../helpers/node-process.ts';
import { waitFor } from './lib/measure.ts';

const JOBS = 24;
const PLAYBOOK = `- hosts: all
  gather_facts: false
  tasks:
    - name: work for 6 s
      command: sleep 6
`;
const INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n';

const rssMb = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** The floor: JOBS ansible-runner runs started at once; seconds until the last one ends. */
async function bare(dir: string): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: JOBS }, (_, i) => {
      const pd = join(dir, `bare-${i}`);
      mkdirSync(join(pd, 'project'), { recursive: true });
      mkdirSync(join(pd, 'inventory'));
      writeFileSync(join(pd, 'project', 'work.yml'), PLAYBOOK);
      writeFileSync(join(pd, 'inventory', 'hosts'), INVENTORY);
      return new Promise<void>((resolve, reject) => {
        const child = spawn('ansible-runner', ['run', pd, '-p', 'work.yml', '-j', '--ident', '1'], { stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ansible-runner exited with ${code}`))));
      });
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** Ours: JOBS launches through the API; wall time, most running at once, supervisor RSS before and at peak. */
async function ours(dir: string): Promise<{ seconds: number; most: number; rssBefore: number; rssPeak: number }> {
  const projectDir = join(dir, 'project');
  mkdirSync(projectDir);
  writeFileSync(join(projectDir, 'work.yml'), PLAYBOOK);
  const { file, ports } = await writeTestConfig(dir, { services: { dispatcher: { capacity: 220, project_roots: [dir] } } });
  const node = startNode(['--config', file]);
  await node.waitForLog('ready');
  const pid = node.child.pid as number;
  try {
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${ports.web}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return (await res.json()) as Record<string, unknown> & { results: Record<string, unknown>[] };
    };
    const inventory = await api('POST', '/api/v2/inventories/', { name: 'local', content: INVENTORY });
    const project = await api('POST', '/api/v2/projects/', { name: 'local', local_path: projectDir });
    const template = await api('POST', '/api/v2/job_templates/', { name: 'work', project: project.id, inventory: inventory.id, playbook: 'work.yml', allow_simultaneous: true });
    const rssBefore = rssMb(pid);
    let rssPeak = rssBefore;
    let most = 0;
    const t0 = performance.now();
    for (let i = 0; i < JOBS; i++) await api('POST', `/api/v2/job_templates/${template.id}/launch/`, {});
    await waitFor('every job finished', async () => {
      rssPeak = Math.max(rssPeak, rssMb(pid));
      const jobs = (await api('GET', `/api/v2/jobs/?page_size=${JOBS}`)).results;
      most = Math.max(most, jobs.filter((j) => j.status === 'running').length);
      const failed = jobs.find((j) => j.status === 'failed' || j.status === 'error');
      if (failed) throw new Error(`job ${failed.id} ${failed.status}: ${failed.job_explanation}`);
      return jobs.length === JOBS && jobs.every((j) => j.status === 'successful');
    }, 600_000);
    return { seconds: (performance.now() - t0) / 1000, most, rssBefore, rssPeak };
  } finally {
    await node.stop();
  }
}

const dir = tempDir('overseer-bench-jobs-');
const floor = await bare(dir);
const o = await ours(dir);
console.log(`jobs: ${JOBS} jobs of a 6 s playbook (impact 2 each), capacity 220, default dispatcher pool`);
console.log('                         wall time   most at once   supervisor RSS before → peak (growth)');
console.log(`ours (through the API)   ${o.seconds.toFixed(1).padStart(7)} s   ${String(o.most).padStart(12)}   ${o.rssBefore.toFixed(0)} → ${o.rssPeak.toFixed(0)} MB (+${(o.rssPeak - o.rssBefore).toFixed(0)} MB)`);
console.log(`bare ansible-runner ×${JOBS}  ${floor.toFixed(1).padStart(7)} s   ${String(JOBS).padStart(12)}   -`);
console.log(`ours / bare: ×${(o.seconds / floor).toFixed(2)} the wall time`);
