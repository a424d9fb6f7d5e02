/**
 * The control server with real sockets (issue 22, docs/control-api.md): who may talk to it
 * (token, Host, cross-site browsers; never CORS `*`), the proxy refusing to reach it, each
 * read-only route after real FPSE and MAPI/HTTP traffic through the proxy, bounded input, and
 * `./proxy start` with its port taken.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROUTES } from '../src/control/routes.js';
import { proxiedRequest, rawRequest } from './helpers/client.js';
import { controlledProxy, type ApiAnswer } from './helpers/control.js';
import { linesOf, ProxyProcess, ROOT, runCommand } from './helpers/process.js';
import { fpseCall, fpseServer, mapiCall, mapiServer, SHTML } from './helpers/protocol.js';
import { tempDir } from './helpers/temp.js';

/** No answer of the control server may let another origin read it. */
function assertNoCors(res: ApiAnswer): void {
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    assert.doesNotMatch(res.rawHeaders[i]!, /^access-control-/i, `no CORS header: ${res.rawHeaders[i]!}: ${res.rawHeaders[i + 1]!}`);
  }
}

function errorOf(res: ApiAnswer): { error: string; code: string; issues?: string[] } {
  const body = res.json as { error: string; code: string; issues?: string[] };
  assert.equal(typeof body?.error, 'string', `a JSON error body: ${res.body.toString()}`);
  return body;
}

describe('control server: who may call it', () => {
  it('needs the bearer token: none or a wrong one is 401 (logged), the right one 200; no CORS header on any', async (t) => {
    const c = await controlledProxy(t);
    const none = await c.api('/api/status', { token: null });
    assert.equal(none.statusCode, 401);
    assert.equal(errorOf(none).code, 'UNAUTHORIZED');
    assert.match(String(none.headers['www-authenticate']), /^Bearer /);
    const wrong = await c.api('/api/status', { token: `${c.token.slice(0, -1)}x` });
    assert.equal(wrong.statusCode, 401);
    assert.match(errorOf(wrong).error, /wrong bearer token/);
    const basic = await c.api('/api/status', { token: null, headers: { Authorization: `Basic ${Buffer.from(`x:${c.token}`).toString('base64')}` } });
    assert.equal(basic.statusCode, 401);
    const ok = await c.api('/api/status');
    assert.equal(ok.statusCode, 200, ok.body.toString());
    for (const res of [none, wrong, basic, ok]) assertNoCors(res);
    const refusals = await c.proxy.logs.waitFor((l) => l.msg === 'control request refused', 3, 3000);
    assert.deepEqual(refusals.map((l) => l.code), ['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED']);
    // The token never reaches the log.
    assert.ok(!c.proxy.logs.lines.some((l) => JSON.stringify(l).includes(c.token)), 'the token is not logged');
  });

  it('refuses a Host other than its own address (DNS rebinding) with 403, token or not; localhost is its own', async (t) => {
    const c = await controlledProxy(t);
    for (const host of ['evil.example', `evil.example:${c.controlPort}`, `127.0.0.1:${c.controlPort + 1}`, `127.0.0.2:${c.controlPort}`]) {
      const res = await c.api('/api/status', { headers: { Host: host } });
      assert.equal(res.statusCode, 403, `Host ${host}`);
      assert.equal(errorOf(res).code, 'FORBIDDEN_HOST');
      assertNoCors(res);
    }
    const local = await c.api('/api/status', { headers: { Host: `localhost:${c.controlPort}` } });
    assert.equal(local.statusCode, 200);
  });

  it('refuses cross-site browser requests: Sec-Fetch-Site cross-site/same-site, a foreign Origin or Origin null', async (t) => {
    const c = await controlledProxy(t);
    const cases: Array<Record<string, string>> = [
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
      { Origin: 'http://evil.example' },
      { Origin: `http://localhost:${c.controlPort}` },
      { Origin: 'null' },
    ];
    for (const headers of cases) {
      const res = await c.api('/api/status', { headers });
      assert.equal(res.statusCode, 403, JSON.stringify(headers));
      assert.equal(errorOf(res).code, 'CROSS_SITE');
      assertNoCors(res);
    }
    // Its own origin, and a same-origin fetch, are fine.
    const own = await c.api('/api/status', { headers: { Origin: `http://127.0.0.1:${c.controlPort}`, 'Sec-Fetch-Site': 'same-origin' } });
    assert.equal(own.statusCode, 200);
    assertNoCors(own);
    const preflight = await c.api('/api/status', { method: 'OPTIONS', token: null, headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' } });
    assert.equal(preflight.statusCode, 403);
    assertNoCors(preflight);
  });

  it('bound beyond loopback, it warns once at start and still checks Host', async (t) => {
    const c = await controlledProxy(t, { control: { listen: { host: '0.0.0.0', port: 0 }, tokenFile: join(tempDir(t), 'token'), ring: 10 } });
    const [warning] = await c.proxy.logs.waitFor((l) => l.level === 40 && /control server listens beyond loopback/.test(String(l.msg)), 1, 3000);
    assert.ok(warning);
    assert.equal((await c.api('/api/status', { headers: { Host: `localhost:${c.controlPort}` } })).statusCode, 200);
    assert.equal((await c.api('/api/status', { headers: { Host: `rebound.example:${c.controlPort}` } })).statusCode, 403);
  });

  it('writes the token to a 0600 file in a 0700 folder it creates', async (t) => {
    const c = await controlledProxy(t);
    assert.equal(readFileSync(c.tokenFile, 'utf8').trim(), c.token);
    assert.match(c.token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    assert.equal(statSync(c.tokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(c.tokenFile, '..')).mode & 0o777, 0o700);
    const other = await controlledProxy(t);
    assert.notEqual(other.token, c.token, 'a new token each run');
  });
});

describe('control server: the proxy will not reach it', () => {
  it('refuses to forward (508) or tunnel to the control address, records the refusal, and the control server sees nothing', async (t) => {
    const c = await controlledProxy(t);
    const auth = { Authorization: `Bearer ${c.token}` };
    const forwarded = await proxiedRequest(c.proxy.port, `http://127.0.0.1:${c.controlPort}/api/status`, { headers: auth, timeoutMs: 5000 });
    assert.equal(forwarded.statusCode, 508);
    assert.doesNotMatch(forwarded.body.toString(), /"version"/);
    const viaLocalhost = await proxiedRequest(c.proxy.port, `http://localhost:${c.controlPort}/api/exchanges`, { headers: auth, timeoutMs: 5000 });
    assert.equal(viaLocalhost.statusCode, 508);
    const tunnel = await rawRequest(c.proxy.port, `CONNECT 127.0.0.1:${c.controlPort} HTTP/1.1\r\nHost: 127.0.0.1:${c.controlPort}\r\n\r\n`);
    assert.equal(tunnel.response?.statusCode, 508);

    const records = await c.proxy.waitForExchanges(3);
    assert.deepEqual(records.map((x) => x.response?.statusCode), [508, 508, 508]);
    assert.deepEqual(records.map((x) => x.kind), ['http', 'http', 'tunnel']);
    // The API lists the refusals too, and the control server logged no request from the proxy.
    const list = await c.api('/api/exchanges');
    assert.deepEqual((list.json as Array<{ status: number }>).map((s) => s.status), [508, 508, 508]);
    assert.ok(!c.proxy.logs.lines.some((l) => l.msg === 'control request refused'));
  });
});

describe('control server: read-only routes after real traffic', () => {
  it('status, exchanges, one exchange and conversations state what FPSE and MAPI/HTTP traffic did', async (t) => {
    const fpse = await fpseServer(t);
    const mapi = await mapiServer(t);
    const c = await controlledProxy(t, { record: { path: join(tempDir(t), 'j.ndjson'), captureBytes: 64 * 1024, rotateBytes: 1 << 30 } });
    const fpseRes = await fpseCall(c.proxy, fpse, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(fpseRes.statusCode, 200);
    const mapiRes = await mapiCall(c.proxy, mapi.url, {
      'Content-Type': 'application/mapi-http',
      'X-RequestType': 'Connect',
      'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1',
      'X-ClientInfo': '{2EF33800-D77F-4E80-9E4C-F6A30F3E0F7E}:1',
      'X-ClientApplication': 'Outlook/16.0.17928.20114',
      Authorization: 'Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=',
    });
    assert.equal(mapiRes.statusCode, 200);
    const plain = await proxiedRequest(c.proxy.port, `${fpse.url}/plain?x=1`, { timeoutMs: 5000 });
    assert.ok(plain.statusCode > 0);
    await c.proxy.waitForExchanges(3);

    const status = (await c.api('/api/status')).json as { version: string; mode: string; seed: number; uptime: number; counts: { seen: number; inFlight: number; finished: number; byProtocol: Record<string, number>; verdicts: Record<string, number> } };
    assert.equal(status.mode, 'forward');
    assert.equal(status.seed, c.proxy.app.seed);
    assert.match(status.version, /^\d+\.\d+\.\d+/);
    assert.ok(status.uptime >= 0);
    assert.equal(status.counts.seen, 3);
    assert.equal(status.counts.finished, 3);
    assert.equal(status.counts.inFlight, 0);
    assert.deepEqual(status.counts.byProtocol, { fpse: 1, mapihttp: 1, http: 1 });
    assert.ok(status.counts.verdicts.ok! >= 1, JSON.stringify(status.counts.verdicts));

    const list = await c.api('/api/exchanges?limit=10');
    assert.equal(list.statusCode, 200);
    const summaries = list.json as Array<{ id: string; method: string; url: string; status: number; protocol?: string; operation?: string; versions?: Record<string, string>; verdicts: Array<{ code: string }>; rules: string[]; duration: number; bytes: { request: number; response: number } }>;
    assert.deepEqual(summaries.map((s) => s.protocol), [undefined, 'mapihttp', 'fpse'], 'most recent first');
    const [, mapiSummary, fpseSummary] = summaries;
    assert.equal(fpseSummary!.method, 'POST');
    assert.equal(fpseSummary!.url, `${fpse.url}${SHTML}`);
    assert.equal(fpseSummary!.status, 200);
    assert.equal(fpseSummary!.operation, 'server version');
    assert.deepEqual(fpseSummary!.versions, { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' });
    assert.ok(fpseSummary!.verdicts.some((v) => v.code === 'accepted'), JSON.stringify(fpseSummary!.verdicts));
    assert.deepEqual(fpseSummary!.rules, []);
    assert.ok(fpseSummary!.duration > 0 && fpseSummary!.bytes.request > 0 && fpseSummary!.bytes.response > 0);
    assert.equal(mapiSummary!.operation, 'Connect');
    assert.equal(mapiSummary!.versions!.client, 'Outlook/16.0.17928.20114');
    assert.equal(((await c.api('/api/exchanges?limit=1')).json as unknown[]).length, 1);
    // The one filter grammar (docs/filter.md), on the ring.
    const onlyFpse = (await c.api(`/api/exchanges?filter=${encodeURIComponent('protocol:fpse verdict:accepted')}`)).json as Array<{ id: string }>;
    assert.deepEqual(onlyFpse.map((s) => s.id), [fpseSummary!.id]);
    const notFpse = (await c.api(`/api/exchanges?filter=${encodeURIComponent('-protocol:fpse')}`)).json as Array<{ id: string }>;
    assert.deepEqual(notFpse.map((s) => s.id), [summaries[0]!.id, mapiSummary!.id]);

    // One whole record: as the journal has it (redacted), bodies included.
    const whole = await c.api(`/api/exchanges/${encodeURIComponent(mapiSummary!.id)}`);
    assert.equal(whole.statusCode, 200);
    const record = whole.json as { id: string; request: { rawHeaders: string[] }; bodies?: { response?: { size: number } }; protocol: { protocol: string } };
    assert.equal(record.id, mapiSummary!.id);
    assert.equal(record.protocol.protocol, 'mapihttp');
    assert.ok(record.request.rawHeaders.includes('Authorization'));
    assert.doesNotMatch(whole.body.toString(), /c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=/, 'the Authorization value is redacted');
    const fpseWhole = (await c.api(`/api/exchanges/${fpseSummary!.id}`)).json as { bodies: { request: { data: string }; response: { size: number } } };
    assert.equal(fpseWhole.bodies.request.data, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.ok(fpseWhole.bodies.response.size > 0);

    const conversations = (await c.api('/api/conversations')).json as Array<{ host: string; protocol: string; client?: string; server?: string; negotiated?: string; verdicts: Array<{ code: string }>; exchanges: number; firstSeen: number; lastSeen: number }>;
    assert.deepEqual(conversations.map((v) => v.protocol), ['mapihttp', 'fpse'], 'most recently active first');
    const fpseConversation = conversations[1]!;
    assert.equal(fpseConversation.host, new URL(fpse.url).host);
    assert.equal(fpseConversation.client, '12.0.0.6415');
    assert.equal(fpseConversation.server, '14.0.0.6029');
    assert.equal(fpseConversation.negotiated, '12.0.0.6415');
    assert.equal(fpseConversation.exchanges, 1);
    assert.ok(fpseConversation.verdicts.some((v) => v.code === 'accepted'));
    assert.ok(fpseConversation.firstSeen <= fpseConversation.lastSeen);
    assert.equal(conversations[0]!.client, 'Outlook/16.0.17928.20114');
  });

  it('the served OpenAPI document lists every route the server dispatches', async (t) => {
    const c = await controlledProxy(t);
    const res = await c.api('/api/openapi.json');
    assert.equal(res.statusCode, 200);
    const doc = res.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\.1\./);
    for (const route of ROUTES) {
      assert.ok(doc.paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path} is in the document`);
      // And the server answers it (not 404/405): the table is what dispatches.
      const path = route.path.replace('{id}', 'no-such-id');
      const answer = await c.api(path, { method: route.method });
      assert.ok(answer.statusCode !== 405 && !(answer.statusCode === 404 && errorOf(answer).code !== 'NOT_FOUND'), `${route.method} ${path}: ${answer.statusCode}`);
    }
  });
});

describe('control server: bad input gets a JSON 4xx that says how to fix it', () => {
  it('unknown route 404, wrong method 405 with Allow, bad or unknown query 400, bad filter 400, unknown id 404, big body 413', async (t) => {
    const c = await controlledProxy(t);
    const unknown = await c.api('/api/nothing');
    assert.equal(unknown.statusCode, 404);
    assert.equal(errorOf(unknown).code, 'NOT_FOUND');
    assert.match(errorOf(unknown).error, /openapi\.json/);
    const wrongMethod = await c.api('/api/status', { method: 'DELETE' });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.headers.allow, 'GET');
    for (const query of ['limit=0', 'limit=abc', 'limit=-1', 'limt=5']) {
      const bad = await c.api(`/api/exchanges?${query}`);
      assert.equal(bad.statusCode, 400, query);
      assert.equal(errorOf(bad).code, 'BAD_QUERY');
    }
    const filtered = await c.api('/api/exchanges?filter=verb:POST');
    assert.equal(filtered.statusCode, 400);
    assert.equal(errorOf(filtered).code, 'BAD_FILTER');
    assert.match(errorOf(filtered).error, /unknown key/);
    assert.equal((await c.api('/api/conversations?filter=protocol:fpse')).statusCode, 400, 'conversations take no filter');
    const missing = await c.api('/api/exchanges/abc-1');
    assert.equal(missing.statusCode, 404);
    assert.match(errorOf(missing).error, /--control-ring/);
    const big = await c.api('/api/status', { method: 'POST', headers: { 'Content-Length': String(1024 * 1024 + 1) }, body: Buffer.alloc(1024 * 1024 + 1, 0x61) });
    assert.equal(big.statusCode, 413);
    assert.equal(errorOf(big).code, 'BODY_TOO_LARGE');
    const chunked = await c.api('/api/status', { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' }, body: Buffer.alloc(2 * 1024 * 1024, 0x61) });
    assert.equal(chunked.statusCode, 413);
    const unparsable = await rawRequest(c.controlPort, 'GET /api/status HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n');
    assert.equal(unparsable.response?.statusCode, 400);
    // And the server carries on.
    assert.equal((await c.api('/api/status')).statusCode, 200);
  });
});

describe('control server: bodies without a journal', () => {
  it('GET /api/exchanges/{id} has the captured bodies when nothing is recorded (--capture-bytes applies to the ring)', async (t) => {
    const fpse = await fpseServer(t);
    const c = await controlledProxy(t);
    assert.equal(c.proxy.app.journal, undefined, 'no journal');
    await fpseCall(c.proxy, fpse, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    const [x] = await c.proxy.waitForExchanges(1);
    const whole = (await c.api(`/api/exchanges/${x!.id}`)).json as { bodies?: { request: { data: string }; response: { size: number } } };
    assert.equal(whole.bodies?.request.data, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.ok((whole.bodies?.response.size ?? 0) > 0);
  });
});

describe('./proxy start and the control server', () => {
  it('names the control URL and token file on the listening line, answers there, and removes the token file when it stops', { timeout: 30_000 }, async (t) => {
    const tokenFile = join(tempDir(t), 'token');
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--control', '127.0.0.1:0', '--control-token-file', tokenFile]);
    t.after(() => proxy.kill());
    const listening = proxy.lines.find((l) => l.msg === 'listening')!;
    assert.match(String(listening.control), /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(listening.tokenFile, tokenFile);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const res = await fetch(`${String(listening.control)}/api/status`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { mode: string }).mode, 'forward');
    // A stopped run's token is dead: its file goes with it.
    await proxy.signalAndWait('SIGTERM', 10_000);
    assert.equal(existsSync(tokenFile), false, 'the token file is removed at shutdown');
  });

  it('./proxy start with the control port in use: one line naming --control, exit 2', { timeout: 150_000 }, async (t) => {
    const occupier = net.createServer();
    await new Promise<void>((resolve, reject) => {
      occupier.once('error', reject);
      occupier.listen(0, '127.0.0.1', resolve);
    });
    t.after(() => new Promise<void>((resolve) => occupier.close(() => resolve())));
    const { port } = occupier.address() as net.AddressInfo;
    // Through the entry script, as a user meets it (it may build first on a fresh clone).
    const result = await runCommand(join(ROOT, 'proxy'), ['start', '--listen', '127.0.0.1:0', '--no-record', '--control', `127.0.0.1:${port}`, '--control-token-file', join(tempDir(t), 'token')], { timeoutMs: 140_000 });
    assert.equal(result.code, 2, result.stderr);
    // A fresh clone's first run says that it installs and builds (scripts/ensure.sh): not the proxy's output.
    const lines = linesOf(result.stderr).filter((l) => !l.startsWith('version-proxy: '));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, new RegExp(`--control 127\\.0\\.0\\.1:${port} is already in use`));
    assert.match(lines[0]!, /--no-control/);
  });
});
