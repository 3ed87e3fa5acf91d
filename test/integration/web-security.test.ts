// The web port's defences as browsers and curl meet them, on a real listening port over a real
// SQLite database: the exact headers a browser sends for a cross-site form or fetch, for a page
// that reached the port by DNS rebinding, and what curl sends; tokens checked before routing; the
// probes through the node's lifecycle; the OpenAPI document against the routes the modules
// register. Bad input on both backends: web-input.test.ts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fastify } from 'fastify';
import { pino } from 'pino';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import { ServiceExposition } from '../../src/metrics/exposition.ts';
import { ApiState } from '../../src/web/api-context.ts';
import { RouteTable } from '../../src/web/route-table.ts';
import { compileValidator } from '../../src/web/validation.ts';
import { ROUTE_MODULES, rootRoutes } from '../../src/web/routes/index.ts';
import { tempDir } from '../helpers/node-process.ts';
import { curl, depsOver, send, serveWeb as serve, type Json } from '../helpers/web-port.ts';

const TOKEN = 'web-security-test-token-0123456789';
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

const dir = tempDir();
const playbooks = join(dir, 'playbooks');
mkdirSync(playbooks);
writeFileSync(join(playbooks, 'site.yml'), '- hosts: all\n  tasks: []\n');

const countOf = async (port: number, path: string, token?: string) => (await curl(port, 'GET', path, undefined, token)).json.count as number;

/** What Chrome sends for a page of http://evil.example that posts to the port. */
const crossSite = {
  /** fetch(url, {method: 'POST', mode: 'no-cors', body: JSON.stringify(project)}): text/plain needs no preflight. */
  fetch: {
    'sec-ch-ua-platform': '"Linux"',
    'user-agent': CHROME,
    'content-type': 'text/plain;charset=UTF-8',
    accept: '*/*',
    origin: 'http://evil.example',
    'sec-fetch-site': 'cross-site',
    'sec-fetch-mode': 'no-cors',
    'sec-fetch-dest': 'empty',
    referer: 'http://evil.example/',
    'accept-language': 'en-US,en;q=0.9',
  },
  /** <form method=post enctype=text/plain> with an input named '{"name":"…","x":"' (the body is JSON then). */
  form: {
    'cache-control': 'max-age=0',
    'upgrade-insecure-requests': '1',
    origin: 'http://evil.example',
    'content-type': 'text/plain',
    'user-agent': CHROME,
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
    'sec-fetch-site': 'cross-site',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-user': '?1',
    'sec-fetch-dest': 'document',
    referer: 'http://evil.example/',
  },
};

const projectBody = (name: string) => ({ name, local_path: playbooks });

describe('the web port over SQLite', () => {
  let storage: SqliteStorage;
  before(async () => {
    storage = new SqliteStorage(join(dir, 'web-security.db'));
    await storage.migrate();
  });
  after(() => storage.close());

  for (const tokens of [[], [TOKEN]]) {
    const token = tokens[0];
    test(`a cross-site page creates nothing: its fetch and form posts are refused (${tokens.length === 0 ? 'no tokens' : 'tokens configured'})`, async () => {
      const { port, logs } = await serve(storage, { tokens });
      const before = await countOf(port, '/api/v2/projects/', token);
      const attempts: [string, Record<string, string>, string][] = [
        ['text/plain fetch', crossSite.fetch, JSON.stringify(projectBody('evil-fetch'))],
        ['text/plain form', crossSite.form, '{"name":"evil-form","local_path":"/tmp","x":"="}'],
        ['urlencoded form', { ...crossSite.form, 'content-type': 'application/x-www-form-urlencoded' }, 'name=evil-urlencoded&local_path=%2Ftmp'],
        ['multipart form', { ...crossSite.form, 'content-type': 'multipart/form-data; boundary=----x' }, '------x\r\nContent-Disposition: form-data; name="name"\r\n\r\nevil\r\n------x--\r\n'],
      ];
      for (const [what, headers, body] of attempts) {
        const res = await send(port, 'POST', '/api/v2/projects/', headers, body);
        assert.equal(res.status, 403, what);
        assert.deepEqual(res.json, { detail: 'Cross-site request refused: Origin http://evil.example is not this node.' }, what);
        // A browser that sends neither Origin nor Sec-Fetch-Site still cannot send JSON without a preflight.
        const { origin: _o, 'sec-fetch-site': _s, ...bare } = headers;
        const plain = await send(port, 'POST', '/api/v2/projects/', bare, body);
        assert.equal(plain.status, 415, `${what} without Origin`);
        assert.equal(plain.json.detail, `Unsupported media type "${headers['content-type']}" in request.`);
      }
      const sameSite = await send(port, 'POST', '/api/v2/projects/', { ...crossSite.fetch, origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-site' }, '{}');
      assert.equal(sameSite.status, 403, 'a page of another port of this host is another site');
      assert.match(sameSite.json.detail, /Sec-Fetch-Site is same-site/);
      assert.equal(await countOf(port, '/api/v2/projects/', token), before, 'nothing was created');
      const warned = logs.filter((l) => l.msg === 'request refused' && l.level === 40);
      assert.ok(warned.some((l) => l.reason === 'origin' && l.method === 'POST' && l.path === '/api/v2/projects/' && l.remote === '127.0.0.1'), JSON.stringify(warned));
      assert.ok(warned.some((l) => l.reason === 'media-type'));
    });
  }

  test('DNS rebinding: a Host that is not a name of this node is 421 and shows no data', async () => {
    const { port } = await serve(storage);
    assert.equal((await curl(port, 'POST', '/api/v2/projects/', projectBody('rebound-before'))).status, 201);
    // After rebinding, evil.example resolves to 127.0.0.1: the browser calls it same-origin.
    const page = { host: `evil.example:${port}`, 'user-agent': CHROME, accept: '*/*', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', referer: `http://evil.example:${port}/` };
    for (const path of ['/api/v2/projects/', '/api/v2/ping/', '/metrics', '/']) {
      const res = await send(port, 'GET', path, page);
      assert.equal(res.status, 421, path);
      assert.match(res.json.detail, /Host "evil\.example:\d+" is not a name of this node; .*services\.web\.hostnames/);
      assert.doesNotMatch(res.text, /rebound-before|node-s/, 'no data');
    }
    const before = await countOf(port, '/api/v2/projects/');
    const posted = await send(port, 'POST', '/api/v2/projects/', { ...page, origin: `http://evil.example:${port}`, 'content-type': 'application/json' }, JSON.stringify(projectBody('rebound')));
    assert.equal(posted.status, 421);
    assert.equal(await countOf(port, '/api/v2/projects/'), before);
    assert.equal((await send(port, 'GET', '/healthz', { host: `localhost:${port}` })).status, 200, 'localhost is this node');
    assert.equal((await send(port, 'GET', '/healthz', { host: `127.0.0.1:${port + 1}` })).status, 421, 'so is not another port');
  });

  test('curl: a JSON POST without Origin creates (201), with or without tokens; a POST with no body needs no Content-Type', async () => {
    for (const tokens of [[], [TOKEN]]) {
      const token = tokens[0];
      const { port } = await serve(storage, { tokens });
      const project = await curl(port, 'POST', '/api/v2/projects/', projectBody(`curl-${tokens.length}`), token);
      assert.equal(project.status, 201, project.text);
      const inventory = (await curl(port, 'POST', '/api/v2/inventories/', { name: `curl-${tokens.length}`, content: 'h1\n' }, token)).json;
      const template = (await curl(port, 'POST', '/api/v2/job_templates/', { name: `curl-${tokens.length}`, project: project.json.id, inventory: inventory.id, playbook: 'site.yml' }, token)).json;
      // curl -X POST .../launch/: no body, no Content-Type.
      const launched = await curl(port, 'POST', `/api/v2/job_templates/${template.id}/launch/`, undefined, token);
      assert.equal(launched.status, 201, launched.text);
      assert.equal(launched.json.job, launched.json.id);
      const charset = await send(port, 'POST', '/api/v2/projects/', { 'content-type': 'application/json; charset=utf-8', ...(token ? { authorization: `Bearer ${token}` } : {}) }, JSON.stringify(projectBody(`charset-${tokens.length}`)));
      assert.equal(charset.status, 201, 'a charset parameter is fine');
      const ownPage = await send(port, 'POST', '/api/v2/projects/', {
        'content-type': 'application/json', origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', ...(token ? { authorization: `Bearer ${token}` } : {}),
      }, JSON.stringify(projectBody(`own-page-${tokens.length}`)));
      assert.equal(ownPage.status, 201, "this node's own page may post");
    }
    const { port } = await serve(storage);
    const { 'content-type': _type, 'cache-control': _cache, origin: _origin, ...navigation } = crossSite.form;
    const link = await send(port, 'GET', '/', navigation);
    assert.equal(link.status, 200, 'a link followed from another site opens the page');
    assert.match(link.text, /node-s/);
  });

  test('with tokens, nothing is learned without one: unknown paths, methods and ids answer 401 before routing', async () => {
    const { port } = await serve(storage, { tokens: [TOKEN] });
    for (const [method, path] of [
      ['GET', '/api/v2/nope/'],
      ['DELETE', '/api/v2/projects/'],
      ['GET', '/api/v2/projects/abc/'],
      ['GET', '/api/v2/projects/99999999999/'],
      ['GET', '/api/v2/openapi.json'],
      ['GET', '/api/v2/'],
      ['GET', '/api/v2/metrics/'],
    ]) {
      const res = await curl(port, method!, path!);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.deepEqual(res.json, { detail: 'Authentication credentials were not provided.' });
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="overseer"');
      assert.equal((await curl(port, method!, path!, undefined, 'wrong-token-0123456789')).json.detail, 'Invalid token.');
    }
    assert.equal((await curl(port, 'GET', '/api/v2/nope/', undefined, TOKEN)).status, 404);
    assert.equal((await curl(port, 'DELETE', '/api/v2/projects/', undefined, TOKEN)).status, 405);
    for (const path of ['/', '/metrics', '/healthz', '/readyz', '/api/v2/ping/']) assert.equal((await curl(port, 'GET', path)).status, 200, path);
    assert.equal((await curl(port, 'POST', '/api/v2/ping/')).status, 405, 'an open route says which methods it takes');
    assert.equal((await curl(port, 'POST', '/metrics')).headers.allow, 'GET, HEAD');
    const anonymous = await serve(storage, { tokens: [TOKEN], allowAnonymousMetrics: true });
    assert.equal((await curl(anonymous.port, 'GET', '/api/v2/metrics/')).status, 200);
    assert.equal((await curl(anonymous.port, 'GET', '/api/v2/instances/')).status, 401);
  });

  test('services.web.hostnames: the names clients use are allowed, with this port or none', async () => {
    const { port } = await serve(storage, { hostnames: ['overseer.example.com'] });
    for (const host of ['overseer.example.com', `overseer.example.com:${port}`, `OVERSEER.example.com:${port}`, `[::1]:${port}`, '127.0.0.1']) {
      assert.equal((await send(port, 'GET', '/api/v2/ping/', { host })).status, 200, host);
    }
    for (const host of [`overseer.example.com:${port + 1}`, 'example.com', `other.example.com:${port}`, 'overseer.example.com.evil.example']) {
      assert.equal((await send(port, 'GET', '/api/v2/ping/', { host })).status, 421, host);
    }
    const proxied = await send(port, 'POST', '/api/v2/projects/', { host: 'overseer.example.com', origin: 'https://overseer.example.com', 'content-type': 'application/json' }, JSON.stringify(projectBody('proxied')));
    assert.equal(proxied.status, 201, 'a page served through the proxy posts under its own name');
    const wildcard = await serve(storage, { bind: '0.0.0.0' });
    assert.equal((await send(wildcard.port, 'GET', '/healthz', { host: 'evil.example' })).status, 421, 'bound everywhere, a foreign name is still refused');
  });

  test('a request without a Host header (HTTP/1.0) is 400', async () => {
    const { port } = await serve(storage);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('GET /healthz HTTP/1.0\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.[01] 400 /);
    assert.match(answer, /A Host header is required/);
  });

  test('probes: ping and readyz say starting, then ready, then stopping; healthz is alive throughout', async () => {
    const { web, port, deps } = await serve(storage, { tokens: [TOKEN] }, false);
    const probe = async (path: string) => {
      const res = await curl(port, 'GET', path);
      return [res.status, res.json] as const;
    };
    assert.deepEqual(await probe('/api/v2/ping/'), [503, { status: 'starting', node: 'node-s', version: '0.1.0' }]);
    assert.deepEqual(await probe('/readyz'), [503, { status: 'starting' }]);
    assert.deepEqual(await probe('/healthz'), [200, { status: 'alive' }]);
    const early = await curl(port, 'GET', '/api/v2/projects/', undefined, TOKEN);
    assert.deepEqual([early.status, early.json], [503, { detail: 'The node is starting; try again shortly.' }]);
    assert.equal((await curl(port, 'GET', '/api/v2/projects/')).status, 401, 'a token first, even while starting');
    assert.equal((await curl(port, 'GET', '/metrics')).status, 200);

    web.ready(deps);
    assert.deepEqual(await probe('/api/v2/ping/'), [200, { node: 'node-s', version: '0.1.0', redis: true, database: true }]);
    assert.deepEqual(await probe('/readyz'), [200, { status: 'ready', node: 'node-s', version: '0.1.0', redis: true, database: true }]);
    assert.equal((await curl(port, 'GET', '/api/v2/projects/', undefined, TOKEN)).status, 200);

    web.stopping();
    assert.deepEqual(await probe('/readyz'), [503, { status: 'stopping' }]);
    assert.equal((await curl(port, 'GET', '/api/v2/projects/', undefined, TOKEN)).json.detail, 'The node is stopping.');
    assert.deepEqual(await probe('/api/v2/ping/'), [503, { status: 'stopping', node: 'node-s', version: '0.1.0' }]);
    assert.deepEqual(await probe('/healthz'), [200, { status: 'alive' }]);

    const down = await serve(storage);
    down.web.ready({ ...depsOver(storage), redisOk: async () => false });
    const readyz = await curl(down.port, 'GET', '/readyz');
    assert.deepEqual([readyz.status, readyz.json.status, readyz.json.redis], [503, 'unavailable', false]);
    await web.close();
    await web.close();
    await assert.rejects(curl(port, 'GET', '/healthz'), /ECONNREFUSED/, 'closed, and closing twice is fine');
  });

  test('openapi.json documents every route the modules register, with parameters, bodies and answers', async () => {
    // The routes as fastify registers them, collected apart from the server's own table.
    const app = fastify();
    app.setValidatorCompiler(compileValidator);
    const registered: string[] = [];
    app.addHook('onRoute', (r) => {
      for (const m of [r.method].flat()) if (m !== 'HEAD') registered.push(`${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    });
    const ctx = new ApiState({ nodeName: 'n', version: '0', exposition: new ServiceExposition([]), log: pino({ level: 'silent' }) });
    await app.register(rootRoutes, { ctx, table: new RouteTable() });
    for (const routes of ROUTE_MODULES) await app.register(routes, { ctx });
    await app.ready();
    await app.close();

    const { port } = await serve(storage, { tokens: [TOKEN] });
    const res = await curl(port, 'GET', '/api/v2/openapi.json', undefined, TOKEN);
    assert.equal(res.status, 200);
    const doc = res.json as { openapi: string; paths: Record<string, Record<string, Json>> };
    assert.equal(doc.openapi, '3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(documented.sort(), registered.sort());
    assert.ok(registered.filter((r) => r.includes('/api/v2/')).length >= 25, registered.join('\n'));

    const detail = doc.paths['/api/v2/projects/{id}/']!.get;
    assert.deepEqual(detail.parameters.find((p: Json) => p.in === 'path'), { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1, maximum: 2147483647 } });
    assert.ok(detail.responses['404'] && detail.responses['401'] && detail.responses['200'].content['application/json'].schema.properties.scm_type);
    const list = doc.paths['/api/v2/jobs/{id}/job_events/']!.get;
    assert.deepEqual(list.parameters.filter((p: Json) => p.in === 'query').map((p: Json) => p.name), ['page', 'page_size', 'order_by']);
    const create = doc.paths['/api/v2/job_templates/']!.post;
    assert.deepEqual(create.requestBody.content['application/json'].schema.required, ['name', 'project', 'inventory', 'playbook']);
    assert.ok(create.responses['201'] && create.responses['400'] && create.responses['415']);
    assert.deepEqual(doc.paths['/api/v2/ping/']!.get.security, [], 'ping is open');
    assert.deepEqual(create.security, [{ bearer: [] }]);
  });
});
