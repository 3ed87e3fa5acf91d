// Simulated nodes for the cluster-metrics bench, in a thread of their own: each rewrites its four
// snapshots every interval as a live node's SnapshotWriter does (key with TTL, announcement on the
// snapshot channel, node list entry, one transaction), the nodes spread evenly over the interval.
// workerData: { redisUrl, templates (a real node's four snapshot texts), prefix, nodes, intervalMs }.
// Posts { writes, bytes } every second (transactions and snapshot bytes since the last report);
// stops on the message 'stop' after its transactions under way are done.
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { NODES_KEY, SNAPSHOT_CHANNEL, snapshotKey, snapshotTtlMs, type Snapshot } from '../../../src/cluster/snapshot.ts';

interface Setup {
  readonly redisUrl: string;
  readonly templates: readonly string[];
  readonly prefix: string;
  readonly nodes: number;
  readonly intervalMs: number;
}

const { redisUrl, templates, prefix, nodes, intervalMs } = workerData as Setup;
const redis = new Redis(redisUrl);
const parsed = templates.map((t) => JSON.parse(t) as Snapshot);
const start = Date.now();
const nextAt = Array.from({ length: nodes }, (_, i) => start + (i * intervalMs) / nodes);
let writes = 0;
let bytes = 0;
const inFlight = new Set<Promise<unknown>>();

function write(node: string): void {
  const tx = redis.multi();
  let at = Date.now();
  for (const template of parsed) {
    at = Date.now();
    const text = JSON.stringify({ ...template, node, at });
    tx.set(snapshotKey(node, template.service), text, 'PX', snapshotTtlMs(intervalMs));
    tx.publish(SNAPSHOT_CHANNEL, text);
    bytes += text.length;
  }
  tx.hset(NODES_KEY, node, JSON.stringify({ version: parsed[0]?.version, at }));
  const done: Promise<unknown> = tx.exec().finally(() => inFlight.delete(done));
  inFlight.add(done);
  writes++;
}

const timer = setInterval(() => {
  const now = Date.now();
  for (let i = 0; i < nodes; i++) {
    if ((nextAt[i] as number) > now) continue;
    write(`${prefix}${i}`);
    nextAt[i] = (nextAt[i] as number) + intervalMs;
  }
}, 5);
const report = setInterval(() => {
  parentPort?.postMessage({ writes, bytes });
  writes = 0;
  bytes = 0;
}, 1000);

parentPort?.on('message', async (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  clearInterval(report);
  await Promise.allSettled([...inFlight]);
  redis.disconnect();
  parentPort?.close();
});
