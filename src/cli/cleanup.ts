// `npm run cleanup -- [--config FILE] [--days N] [--dry-run]`: the dispatcher's daily cleanup,
// run by hand against the database `npm start` would use with that config. Safe while the node
// runs: the deletes go in the same small batches as the daily task.
import { cleanupJobs, removeOrphanDirs, type CleanupCounts } from '../control/retention.ts';
import { EXIT, commandConfig, count, openExistingDatabase, parseCommandLine, progressLine, runCommand, wholeNumber } from './command-line.ts';

const USAGE = `usage: npm run cleanup -- [--config FILE] [--days N] [--dry-run]
  --config FILE   the node's config file (or env OVERSEER_CONFIG), as for npm start
  --days N        delete finished jobs that finished more than N days ago (default: retention.days)
  --dry-run       count what would be deleted, delete nothing`;

const MAX_DAYS = 36_500;

/** "3 jobs, 879 events, 9 host summaries, 3 private data dirs". */
function counts(c: CleanupCounts): string {
  return `${count(c.jobs)} jobs, ${count(c.events)} events, ${count(c.hostSummaries)} host summaries, ${count(c.dirs)} private data dirs`;
}

async function main(): Promise<number> {
  const args = parseCommandLine(process.argv.slice(2), { config: { type: 'string' }, days: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const days = args.days === undefined ? undefined : wholeNumber('days', args.days, 0, MAX_DAYS, 'days');
  const config = commandConfig(args.config);
  const retention = days ?? config.retention.days;
  if (retention === 0) {
    process.stdout.write(`cleanup: ${days === undefined ? 'retention.days is 0' : '--days 0'}: every job is kept, nothing to do${days === undefined ? ' (give --days N to delete older jobs)' : ''}\n`);
    return EXIT.ok;
  }
  const dryRun = args['dry-run'] === true;
  const storage = await openExistingDatabase(config);
  const stop = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      signalled = signal;
      stop.abort();
    });
  }
  const line = progressLine();
  try {
    process.stdout.write(`cleanup: finished jobs older than ${retention} day${retention === 1 ? '' : 's'} in ${storage.location}${dryRun ? ' (dry run: nothing is deleted)' : ''}\n`);
    const report = await cleanupJobs(storage, {
      days: retention,
      dataDir: config.data_dir,
      dryRun,
      signal: stop.signal,
      onProgress: ({ total, batches }) => line.update(`cleanup: ${dryRun ? 'would delete' : 'deleted'} ${counts(total)} (${count(batches)} batches)…`),
    });
    line.done();
    // Dirs of jobs that are gone (deleted from another node of a cluster): a stopped run leaves them for the next.
    const orphans = report.stopped ? 0 : await removeOrphanDirs(storage, config.data_dir, dryRun);
    const totals = { ...report, dirs: report.dirs + orphans };
    const verb = dryRun ? 'would delete' : report.stopped ? `stopped by ${signalled ?? 'a signal'} after deleting` : 'deleted';
    process.stdout.write(
      `cleanup: ${verb} ${counts(totals)} (jobs finished before ${report.cutoff}) in ${report.seconds.toFixed(1)} s, ${count(report.batches)} batch${report.batches === 1 ? '' : 'es'}\n`,
    );
    if (report.kept > 0) process.stdout.write(`cleanup: kept ${count(report.kept)} old finished jobs that unfinished work or a project's last update still needs\n`);
    for (const p of report.problems) process.stderr.write(`cleanup: ${p}\n`);
    return report.stopped ? EXIT.interrupted : EXIT.ok;
  } finally {
    line.done();
    await storage.close();
  }
}

await runCommand('cleanup', USAGE, main);
