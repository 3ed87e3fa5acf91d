// A process that is only an AggregatorRegistry cluster primary over N workers, for measuring
// that design's memory apart from any benchmark code: `node cluster-primary.ts N idle|busy`.
// Prints one JSON line { port, pids } once every worker reports; stops its workers and exits 0
// on SIGTERM / SIGINT, or when its stdin closes (the benchmark that started it went away).
import { startAggregator } from '../lib/aggregator-cluster.ts';
import { isMode } from '../lib/bench-metrics.ts';

const n = Number(process.argv[2]);
const mode = process.argv[3];
if (!Number.isInteger(n) || n < 1 || !isMode(mode)) {
  console.error('usage: node cluster-primary.ts N idle|busy');
  process.exit(2);
}

const running = await startAggregator(n, mode);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop).on('error', stop).resume();
console.log(JSON.stringify({ port: running.port, pids: running.pids }));
