// `npm start`: load the configuration, start the supervisor, reload on SIGHUP, stop cleanly on SIGTERM / SIGINT.
import { loadConfig } from './config/load.ts';
import { createLogger } from './logger.ts';
import { OverseerError } from './errors.ts';

const USAGE = `usage: npm start -- [--config FILE]
  --config FILE   YAML file whose keys override config/default.yaml (or env OVERSEER_CONFIG)
Environment: REDIS_URL, DATABASE_URL, OVERSEER_NODE_NAME, OVERSEER_DATA_DIR override the file;
OVERSEER_NO_INSTALL=1 stops the node from installing a missing redis-server with apt-get.`;

/** Exit codes: 0 stopped cleanly, 1 failed or stopped without draining, 2 bad configuration or start problems. */
const EXIT = { ok: 0, failed: 1, config: 2 } as const;

type StopReason = { signal: NodeJS.Signals } | { fatal: string };

function reportProblems(err: OverseerError): void {
  // One line per problem for the person at the terminal; the JSON log line carries them too.
  for (const p of err.problems) process.stderr.write(`overseer: ${p}\n`);
}

async function main(): Promise<number> {
  // Signals are taken from the first line on: until the supervisor exists there is nothing to stop.
  let signalled: StopReason | undefined;
  let stop = (reason: StopReason): void => {
    signalled ??= reason;
  };
  process.on('SIGTERM', () => stop({ signal: 'SIGTERM' }));
  process.on('SIGINT', () => stop({ signal: 'SIGINT' }));
  // SIGHUP reloads the config (Node's default would end the process); before the start there is nothing to reload.
  let reload = () => {};
  process.on('SIGHUP', () => reload());

  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const boot = createLogger('info');
  const sources = { argv, env: process.env, cwd: process.cwd() };
  let config;
  try {
    config = loadConfig(sources);
  } catch (err) {
    if (!(err instanceof OverseerError)) throw err;
    boot.fatal({ code: err.code, problems: err.problems }, 'invalid configuration; nothing started');
    reportProblems(err);
    return EXIT.config;
  }

  const log = createLogger(config.log_level, { node: config.node_name });
  // The supervisor (and with it fastify, piscina, the storage drivers) loads after the handlers are in place.
  const { Supervisor } = await import('./supervisor.ts');
  let stopping = false;
  let stopped: (code: number) => void = () => {};
  const untilStopped = new Promise<number>((resolve) => (stopped = resolve));
  // A signal stops the node cleanly, whether it runs or is still starting; a fatal failure stops
  // it with exit code 1. A repeated SIGTERM is ignored (process managers resend it); a second
  // Ctrl-C (SIGINT) stops at once.
  stop = (reason) => {
    if (stopping) {
      if ('signal' in reason && reason.signal === 'SIGINT') {
        log.warn(reason, 'second interrupt: stopping now without waiting');
        process.exit(EXIT.failed);
      }
      if ('signal' in reason) log.info(reason, 'already stopping');
      return;
    }
    stopping = true;
    if ('signal' in reason) log.info(reason, 'signal received');
    else log.fatal(reason, 'cannot go on; stopping');
    supervisor.close().then(
      (drained) => stopped(drained && 'signal' in reason ? EXIT.ok : EXIT.failed),
      () => stopped(EXIT.failed),
    );
  };
  const supervisor = new Supervisor({ config, log, sources, onFatal: (why) => stop({ fatal: why }) });
  reload = () => {
    log.info({ signal: 'SIGHUP' }, 'reloading the config');
    supervisor.reload().catch((err: unknown) => log.error({ err }, 'config reload failed'));
  };
  // A bug must not leave threads and the private Redis behind: log it and stop in order.
  process.on('uncaughtException', (err) => stop({ fatal: `uncaught exception: ${err.stack ?? err.message}` }));
  process.on('unhandledRejection', (err) => stop({ fatal: `unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` }));
  if (signalled !== undefined) {
    log.info(signalled, 'signal received before the start; nothing started');
    return EXIT.ok;
  }

  try {
    await supervisor.start();
  } catch (err) {
    // Asked to stop while starting: close() is already stopping what had started.
    if (stopping) return untilStopped;
    stopping = true;
    if (err instanceof OverseerError && err.problems.length > 0) {
      log.fatal({ code: err.code, problems: err.problems }, 'cannot start; nothing started');
      reportProblems(err);
      await supervisor.close();
      return EXIT.config;
    }
    log.fatal({ err }, 'start failed; stopping what had started');
    await supervisor.close();
    return EXIT.failed;
  }
  // Runs until a signal; the listeners keep the process alive.
  return untilStopped;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    createLogger('info').fatal({ err }, 'overseer failed');
    process.exit(EXIT.failed);
  },
);
