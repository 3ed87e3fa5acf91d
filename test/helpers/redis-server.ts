import { spawn } from 'node:child_process';
import { findProgram } from '../../src/system/programs.ts';
import { pingRedis } from '../../src/redis/connect.ts';
import { freePorts } from './ports.ts';
import { waitFor } from './wait-for.ts';

/** A real redis-server on a free loopback port, for one test file. */
export interface TestRedis {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const program = findProgram('redis-server');
  if (program === undefined) throw new Error('redis-server is not installed (npm test installs it)');
  const [port] = await freePorts(1);
  const child = spawn(program, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(`redis-server on ${url}`, () => pingRedis(url));
  return {
    url,
    pid: child.pid as number,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
