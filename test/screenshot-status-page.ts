// Makes the README's picture of the status page: three nodes on one Redis under a steady load,
// one of them killed so that the page shows it stale. Run by hand: `npx node test/screenshot-status-page.ts`
// (writes src/web/status-page/screenshot.png, or the path given as the first argument).
import { fileURLToPath } from 'node:url';
import { statSync } from 'node:fs';
import { waitFor } from './helpers/wait-for.ts';
import { Redis } from 'ioredis';
import { startTestRedis } from './helpers/redis-server.ts';
import { pushEvents, syntheticEvents } from './helpers/events.ts';
import { cardText, launchBrowser, startClusterNode, textOf, watchPage } from './helpers/status-page.ts';

const out = process.argv[2] ?? fileURLToPath(new URL('../src/web/status-page/screenshot.png', import.meta.url));
const redis = await startTestRedis();
const client = new Redis(redis.url);
// gamma writes its snapshots every 4 s: stale from 8 s after it stops until its snapshots expire at 12 s.
const nodes = await Promise.all([
  startClusterNode('alpha', redis.url, { services: { callback_receiver: { workers: 2 } } }),
  startClusterNode('beta', redis.url, { services: { callback_receiver: { workers: 1 } } }),
  startClusterNode('gamma', redis.url, { snapshot_interval_ms: 4000 }),
]);
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const watch = await watchPage(page);
  await page.goto(`http://127.0.0.1:${nodes[0].web}/`);
  // A load that rises and falls, so the charts have a shape; gamma is killed halfway, and the
  // picture is taken, load still running, once the page calls it stale.
  let shot = false;
  for (let i = 0; i < 80 && !shot; i++) {
    await pushEvents(client, 'callback_tasks', syntheticEvents(1 + (i % 5), 300 + 250 * Math.round(4 * Math.sin(i / 6) + 4)));
    if (i === 24) await nodes[2].node.stop('SIGKILL');
    if (i > 24 && (await cardText(page, 'gamma', 'status')) === 'stale') {
      await page.screenshot({ path: out, fullPage: true });
      shot = true;
    }
    // Paced by the page: the next push once it has refreshed (every 2 s).
    const state = await textOf(page, '#state');
    await waitFor('the page to refresh', async () => (await textOf(page, '#state')) !== state, 10_000);
  }
  if (!shot) throw new Error('gamma was never shown stale');
  console.log(`${out}: ${Math.round(statSync(out).size / 1024)} KB; page errors: ${JSON.stringify(watch.errors)}`);
} finally {
  await browser.close();
  await Promise.all(nodes.map((n) => n.node.stop('SIGKILL')));
  client.disconnect();
  await redis.stop();
}
