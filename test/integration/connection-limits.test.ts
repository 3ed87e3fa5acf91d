// What a node's ports do under a connection flood, as the attacker's probes ran it: half-sent
// requests hit each port's cap and time out, the port answers again afterwards, and what was
// refused is counted and logged; a body trickled after a 401 does not hold its connection.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startNode, writeTestConfig, tempDir, scrape, sampleValue, type NodeUnderTest } from '../helpers/node-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { HEADERS_TIMEOUT_MS, MAX_CONNECTIONS, MAX_PER_ADDRESS, REQUEST_TIMEOUT_MS } from '../../src/web/connection-limits.ts';

const TOKEN = 'connection-limits-token-0123456789';

async function startTestNode(): Promise<{ node: NodeUnderTest; ports: { web: number; dispatcher: number; websockets: number; callback_receiver: number } }> {
  const { file, ports } = await writeTestConfig(tempDir('overseer-conn-'), { services: { web: { tokens: [TOKEN] } } });
  const node = startNode(['--config', file]);
  after(() => node.stop('SIGKILL'));
  await node.waitForLog('ready');
  return { node, ports };
}

/** Opens a connection from `localAddress` and sends the start of a request, never its end; resolves once connected (or refused). */
function halfSend(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => {});
    s.resume(); // read the 408, so that the end the node sends closes the socket here too
    s.once('connect', () => {
      s.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      resolve(s);
    });
    s.once('close', () => resolve(s));
  });
}

/**
 * Sends `count` half-sent requests in batches (the listen backlog would otherwise drop SYNs), spread
 * over `addresses` loopback source addresses (127.0.1.1 and up): many clients, or one.
 */
async function flood(port: number, count: number, addresses: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 200) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, j) => halfSend(port, `127.0.1.${1 + ((i + j) % addresses)}`)))));
  }
  after(() => {
    for (const s of sockets) s.destroy();
  });
  return sockets;
}

/** One GET over a raw keep-alive socket; resolves with the status line. */
function getOn(socket: Socket, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? NaN);
      if (head >= 0 && text.length >= head + 4 + length) {
        socket.off('data', onData);
        resolve(text.slice(0, text.indexOf('\r\n')));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  });
}

const refusedOn = (body: string, service: string, reason: string) => sampleValue(body, `overseer_connections_refused_total{service="${service}",reason="${reason}"}`) ?? 0;

test('2000 half-sent requests from many clients on the web port and 200 on a metrics port: capped, timed out, counted, logged; the ports answer afterwards', async () => {
  const { node, ports } = await startTestNode();
  // A Prometheus-like keep-alive connection, idle through the whole flood (longer than the header timeout).
  const keptAlive = connect({ host: '127.0.0.1', port: ports.dispatcher });
  after(() => keptAlive.destroy());
  assert.equal(await getOn(keptAlive, ports.dispatcher), 'HTTP/1.1 200 OK');

  const started = Date.now();
  // From 50 and 20 addresses: under the per-address caps, over the ports' caps.
  const [web, dispatcher] = await Promise.all([flood(ports.web, 2000, 50), flood(ports.dispatcher, 200, 20)]);
  const openNow = (sockets: Socket[]) => sockets.filter((s) => !s.closed).length;
  const held = await waitFor('the ports to drop what is over their caps', () => {
    const w = openNow(web);
    const d = openNow(dispatcher);
    return w <= MAX_CONNECTIONS.web && d <= MAX_CONNECTIONS.metrics - 1 ? { w, d } : undefined;
  }, 10_000, 50);
  assert.ok(held.w >= MAX_CONNECTIONS.web - 5, `the web port holds about its cap of ${MAX_CONNECTIONS.web} (${held.w})`);

  // Every held connection is cut at the header timeout (408), and the ports answer again.
  await waitFor('every half-sent request to be closed', () => openNow(web) === 0 && openNow(dispatcher) === 0, HEADERS_TIMEOUT_MS + 10_000, 250);
  const cutAfterMs = Date.now() - started;
  assert.ok(cutAfterMs < HEADERS_TIMEOUT_MS + 5_000, `cut within the header timeout and a check interval (${cutAfterMs} ms)`);
  const ping = await fetch(`http://127.0.0.1:${ports.web}/api/v2/ping/`);
  assert.equal(ping.status, 200, 'the web port answers a normal request afterwards');
  await ping.body?.cancel();
  assert.equal((await scrape(ports.dispatcher)).status, 200, 'so does the metrics port');
  assert.equal(await getOn(keptAlive, ports.dispatcher), 'HTTP/1.1 200 OK', 'an idle keep-alive connection outlives the header timeout');

  const metrics = (await scrape(ports.web)).body;
  const webDropped = refusedOn(metrics, 'web', 'max_connections');
  const webTimedOut = refusedOn(metrics, 'web', 'timeout');
  assert.ok(webDropped >= 2000 - MAX_CONNECTIONS.web - 5, `the web port counts the connections over its cap (${webDropped})`);
  assert.ok(webTimedOut >= MAX_CONNECTIONS.web - 5, `and the ones cut at the header timeout (${webTimedOut})`);
  assert.ok(refusedOn(metrics, 'dispatcher', 'max_connections') >= 200 - MAX_CONNECTIONS.metrics, 'the dispatcher\'s port counts its own, on the web port\'s metrics');
  assert.ok(refusedOn(metrics, 'dispatcher', 'timeout') >= MAX_CONNECTIONS.metrics - 2);
  const warned = node.logs.filter((l) => l.msg === 'connection refused' && l.level === 40);
  assert.ok(warned.some((l) => l.service === 'web' && l.reason === 'max_connections'), 'refusals are logged');
  assert.ok(warned.some((l) => l.service === 'dispatcher' && l.reason === 'timeout'));
  assert.ok(warned.length <= 12, `logged at most once per reason and port every 10 s, not per connection (${warned.length} lines)`);
  console.log(`# flood: web dropped ${webDropped}, timed out ${webTimedOut}; all cut after ${cutAfterMs} ms`);
  assert.equal(await node.stop('SIGTERM'), 0);
});

test('2000 half-sent requests from one client: capped for that address, while /api/v2/ping/ answers others within 100 ms p99', async () => {
  const { ports } = await startTestNode();
  const started = Date.now();
  const sockets = await flood(ports.web, 2000, 1);
  const held = await waitFor('the port to drop what is over the address cap', () => {
    const open = sockets.filter((x) => !x.closed).length;
    return open <= MAX_PER_ADDRESS.web ? open : undefined;
  }, 10_000, 50);
  assert.ok(held >= MAX_PER_ADDRESS.web - 5, `about the cap held (${held})`);

  // Sequential pings from another address while the flood's connections are held (until the header timeout).
  const times: number[] = [];
  while (Date.now() - started < HEADERS_TIMEOUT_MS - 2_000 && times.length < 300) {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${ports.web}/api/v2/ping/`);
    await res.body?.cancel();
    assert.equal(res.status, 200);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const p99 = times[Math.ceil(times.length * 0.99) - 1] ?? Infinity;
  assert.ok(times.length >= 20, `enough pings (${times.length})`);
  assert.ok(p99 < 100, `ping p99 ${p99.toFixed(1)} ms over ${times.length} requests`);
  const refused = refusedOn((await scrape(ports.web)).body, 'web', 'per_address');
  assert.ok(refused >= 2000 - MAX_PER_ADDRESS.web - 5, `the rest refused for its address (${refused})`);
  console.log(`# one-client flood: ${refused} refused per address, ${held} held; ping p99 ${p99.toFixed(1)} ms over ${times.length}`);
});

test('a body trickled after a 401 does not hold the connection', async () => {
  const { node, ports } = await startTestNode();
  const s = connect({ host: '127.0.0.1', port: ports.web });
  after(() => s.destroy());
  let answer = '';
  s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
  s.on('error', () => {});
  const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now())));
  await new Promise((resolve) => s.once('connect', resolve));
  const sentAt = Date.now();
  s.write(`POST /api/v2/config/reload/ HTTP/1.1\r\nHost: 127.0.0.1:${ports.web}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
  // One byte every 100 ms until the node closes the connection (bounded by the request timeout).
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  await waitFor('the node to close the trickling connection', () => {
    if (isClosed) return true;
    s.write(' ');
    return false;
  }, REQUEST_TIMEOUT_MS + 5_000, 100);
  const heldMs = (await closed) - sentAt;
  assert.match(answer, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(answer, /\r\nconnection: close\r\n/i, 'the 401 says the connection closes');
  assert.ok(heldMs < 5_000, `closed ${heldMs} ms after the request started, not after the request timeout`);
  console.log(`# trickled body after 401: connection closed after ${heldMs} ms`);
  assert.equal(await node.stop('SIGTERM'), 0);
});
