// `npm run status -- --config FILE` (or --url): a terminal summary of the cluster, as any node's
// web port sees it (/api/v2/metrics/?format=json and /api/v2/instances/), a table per node, and
// advice where the numbers call for it. Rates come from two readings one snapshot apart.
// With --follow JOB it prints that job's output as it runs instead (follow.ts).
import { availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { nodeStatuses, snapshotTime, valueOf, type InstanceJson, type NodeStatus, type Reading } from './cluster-status.ts';
import { statusAdvice } from './status-advice.ts';
import { CommandError, EXIT, UsageError, commandConfig, count, parseCommandLine, progressLine, runCommand, wholeNumber } from './command-line.ts';
import { findJob, getJson } from './follow-api.ts';
import { JobFollower } from './follow.ts';

const USAGE = `usage: npm run status -- [--config FILE | --url http://HOST:PORT] [--token T] [--cpus N | --follow JOB]
  --config FILE   the node's config file (or env OVERSEER_CONFIG): its web port, bind and first token
  --url URL       a node's web port instead (any node of the cluster answers for all)
  --token T       API token (or env OVERSEER_API_TOKEN); with --config, services.web.tokens[0]
  --cpus N        CPUs of the node's machine, for the CPU advice (default: this machine's, when the node is local)
  --follow JOB    print job JOB's output (a job or project update; a workflow job: its jobs' status
                  changes) as it runs, live through the node's /websocket/, each line once and in
                  order, as /api/v2/jobs/JOB/stdout/?format=txt has it; notes and the final status
                  go to stderr
exit codes: 0 done (with --follow: the job was successful); 1 the node cannot be reached, refuses the
  token, or has no job JOB; 2 bad arguments; with --follow, how the job ended: 3 failed, 4 error,
  5 canceled; 130 interrupted (Ctrl-C)`;

const LOCAL = /^(localhost|127\.[\d.]+|\[::1\])$/;
/** The longest wait for the second reading, in snapshot intervals. */
const WAIT_INTERVALS = 3;

/** The web port a config's node listens on, as a URL this machine reaches it by. */
function configUrl(bind: string, port: number): string {
  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '[::1]' : bind.includes(':') ? `[${bind}]` : bind;
  return `http://${host}:${port}`;
}

const num = (v: number | null, digits = 0): string => (v === null ? '–' : digits === 0 ? count(Math.round(v)) : v.toFixed(digits));
const secs = (v: number | null): string => (v === null ? '–' : `${v.toFixed(3)} s`);

/** One node's table: a figure a line. */
export function nodeTable(n: NodeStatus, cpus: number | undefined): string {
  const per = (v: number | null) => (v === null ? '' : ` (${num(v, v < 10 ? 1 : 0)}/s)`);
  const growth = n.queueGrowthPerSecond === null ? '' : ` (${n.queueGrowthPerSecond > 0 ? 'growing' : n.queueGrowthPerSecond < 0 ? 'draining' : 'steady'} ${num(Math.abs(n.queueGrowthPerSecond), Math.abs(n.queueGrowthPerSecond) < 10 ? 1 : 0)}/s)`;
  const threads = Object.entries(n.threads).map(([service, t]) => `${service} ${t}`).join(', ') || '–';
  const used = n.capacity === null || n.consumedCapacity === null ? '–' : `${num(n.consumedCapacity)} of ${num(n.capacity)}${n.capacity > 0 ? ` (${Math.round((100 * n.consumedCapacity) / n.capacity)}%)` : ''}`;
  const rows: [string, string][] = [
    ['status', `${n.status}${n.ageSeconds === null ? '' : ` (snapshot ${n.ageSeconds.toFixed(1)} s old)`}, version ${n.version}`],
    ['threads', threads],
    ['events inserted', `${num(n.inserted)}${per(n.insertedPerSecond)}`],
    ['queue', `${num(n.queue)}${growth}`],
    ['lag', `avg ${secs(n.lagAvgSeconds)}, p99 ${secs(n.lagP99Seconds)}${n.lagAvgSeconds === null ? '' : n.lagInWindow ? '' : ' (since start: no event saved in the window)'}`],
    ['cpu', n.cpuCores === null ? '–' : `${n.cpuCores.toFixed(2)} cores busy${cpus === undefined ? '' : ` of ${cpus}`}`],
    ['dispatcher', `${num(n.dispatcherThreads)} of ${num(n.dispatcherMaxThreads)} threads, availability ${n.dispatcherAvailability === null ? '–' : `${Math.round(n.dispatcherAvailability * 100)}%`}`],
    ['jobs', `${num(n.jobsRunning)} running, ${num(n.jobsPending)} pending`],
    ['capacity used', used],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`node ${n.name}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

/** --follow: the job's output until it ends; the exit code says how it ended. */
async function followJob(base: string, token: string | undefined, id: number): Promise<number> {
  const found = await findJob(base, id, token);
  if (found === undefined) throw new CommandError(`the node at ${base} has no job ${id} (no job, project update or workflow job has that id)`);
  return new JobFollower({ base, token, kind: found.kind, job: found.job, out: process.stdout, err: process.stderr }).run();
}

async function main(): Promise<number> {
  const args = parseCommandLine(process.argv.slice(2), { config: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, cpus: { type: 'string' }, follow: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (args.config !== undefined && args.url !== undefined) throw new UsageError('give --config FILE or --url URL, not both');
  if (args.follow !== undefined && args.cpus !== undefined) throw new UsageError('--cpus is for the cluster summary, not --follow');
  const follow = args.follow === undefined ? undefined : wholeNumber('follow', args.follow, 1, 2_147_483_647, 'a job id');
  let base: string;
  let token = args.token ?? process.env.OVERSEER_API_TOKEN;
  if (args.url !== undefined) {
    let url: URL;
    try {
      url = new URL(args.url);
    } catch {
      throw new UsageError(`--url: ${JSON.stringify(args.url)} is not a URL; expected http://host:port`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url: ${JSON.stringify(args.url)} is not http:// or https://`);
    base = url.origin;
  } else {
    const config = commandConfig(args.config);
    base = configUrl(config.services.web.bind, config.services.web.port);
    token ??= config.services.web.tokens[0];
  }
  if (follow !== undefined) return followJob(base, token, follow);
  const cpus = args.cpus !== undefined ? wholeNumber('cpus', args.cpus, 1, 4096, 'a CPU count') : LOCAL.test(new URL(base).hostname) ? availableParallelism() : undefined;

  const read = () => getJson<Reading>(base, '/api/v2/metrics/?format=json', token);
  const first = await read();
  const instances = (await getJson<{ results: InstanceJson[] }>(base, '/api/v2/instances/', token)).results;
  // The second reading: once every healthy node has written a newer snapshot, or after a few intervals.
  const healthy = instances.filter((i) => i.status === 'healthy').map((i) => i.name);
  const intervalS = Math.max(1, ...healthy.map((n) => valueOf(first, 'overseer_cluster_snapshot_interval_seconds', n) ?? 2));
  const deadline = Date.now() + WAIT_INTERVALS * intervalS * 1000;
  const line = progressLine(process.stdout);
  let second = first;
  const advanced = (r: Reading) => healthy.every((n) => (snapshotTime(r, n) ?? 0) > (snapshotTime(first, n) ?? 0));
  while (healthy.length > 0 && !advanced(second) && Date.now() < deadline) {
    line.update(`status: waiting for the next snapshot (every ${intervalS} s) to measure rates…`);
    await delay(250);
    second = await read();
  }
  line.done();
  const nodes = nodeStatuses(first, second, instances);
  const window = nodes.find((n) => n.windowSeconds !== null)?.windowSeconds ?? null;
  process.stdout.write(`status: ${instances.length} node${instances.length === 1 ? '' : 's'} seen by ${base}; rates ${window === null ? 'unknown (no newer snapshot came)' : `over ${window.toFixed(1)} s between two snapshots`}\n\n`);
  for (const n of nodes) process.stdout.write(`${nodeTable(n, cpus)}\n\n`);
  if (first.nodes.length === 0) process.stdout.write('status: no live snapshot in the cluster: are the nodes running and writing to this Redis?\n');
  const advice = statusAdvice(nodes, cpus);
  process.stdout.write(advice.length === 0 ? 'advice: none; nothing in these numbers calls for a change.\n' : `advice:\n${advice.map((a) => `  - ${a}`).join('\n')}\n`);
  return EXIT.ok;
}

await runCommand('status', USAGE, main);
