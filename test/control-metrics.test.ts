/**
 * `GET /metrics` with real sockets (issue 22, docs/control-api.md "Metrics"): real FPSE and
 * MAPI/HTTP traffic, a violation, faults injected by rules, real upstream failures, held
 * connections; the text read back by a Prometheus text-format parser, each series moving by
 * exactly what passed, no label holding a URL, host, path or version, and the token required.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { describe, it } from 'node:test';
import { delay, proxiedRequest, RawConnection } from './helpers/client.js';
import { controlledProxy, type ControlledProxy } from './helpers/control.js';
import { scrape, type Scrape } from './helpers/metrics.js';
import { closedPort } from './helpers/process.js';
import { closeLater, fpseCall, fpseServer, mapiCall, mapiServer, SHTML } from './helpers/protocol.js';
import { SEED, writeRules } from './helpers/rule-files.js';
import { startRawServer, startServer, type TestServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

const EXCHANGES = 'version_proxy_exchanges_total';
const DURATION = 'version_proxy_exchange_duration_seconds';
const FAILURES = 'version_proxy_upstream_failures_total';
const FAULTS = 'version_proxy_faults_injected_total';
const VERDICTS = 'version_proxy_verdicts_total';

/** `after - before` for every series of `name` with these labels. */
function moved(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.value(name, labels) - before.value(name, labels);
}

async function okUpstream(t: TestContext): Promise<TestServer> {
  return closeLater(t, await startServer((_req, res) => res.end('ok')));
}

describe('GET /metrics', () => {
  it('needs the bearer token like every route: none or a wrong one is 401', async (t) => {
    const c = await controlledProxy(t);
    assert.equal((await c.api('/metrics', { token: null })).statusCode, 401);
    assert.equal((await c.api('/metrics', { token: `${c.token.slice(0, -1)}x` })).statusCode, 401);
    const ok = await c.api('/metrics');
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['access-control-allow-origin'], undefined);
  });

  it('serves every family with HELP and TYPE in the text format, the process metrics after them, no Node version label', async (t) => {
    const c = await controlledProxy(t);
    const s = await scrape(c);
    const want: Record<string, string> = {
      [EXCHANGES]: 'counter',
      [DURATION]: 'histogram',
      version_proxy_request_bytes_total: 'counter',
      version_proxy_response_bytes_total: 'counter',
      [FAILURES]: 'counter',
      [FAULTS]: 'counter',
      [VERDICTS]: 'counter',
      version_proxy_client_connections: 'gauge',
      version_proxy_upstream_connections: 'gauge',
      version_proxy_exchanges_in_flight: 'gauge',
      version_proxy_client_connections_refused_total: 'counter',
      version_proxy_journal_dropped_total: 'counter',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(want)) {
      assert.equal(s.families[name]?.type, type, `${name} is a ${type}`);
      assert.ok((s.families[name]?.help ?? '').length > 0, `${name} has a HELP line`);
    }
    assert.equal(s.families.nodejs_version_info, undefined, 'a version is no label value');
    // Without --record, the journal's series are there and zero.
    assert.equal(s.value('version_proxy_journal_dropped_total'), 0);
  });

  it('moves by exactly what passed: FPSE and MAPI/HTTP exchanges, a violation, bytes and durations; no label is a URL, host, path or version', async (t) => {
    // An FPSE server that always echoes 6.0.0.0: MS-FPSE 1.7.1 wants Min(client, server), a violation.
    const fpse = await fpseServer(t, { echo: { fixed: '6.0.0.0' } });
    const mapi = await mapiServer(t);
    const c = await controlledProxy(t, { record: { path: join(tempDir(t), 'j.ndjson'), captureBytes: 0, rotateBytes: 1 << 30 } });
    const before = await scrape(c);

    const fpseRes = await fpseCall(c.proxy, fpse, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(fpseRes.statusCode, 200);
    const mapiRes = await mapiCall(c.proxy, mapi.url, {
      'Content-Type': 'application/mapi-http',
      'X-RequestType': 'Connect',
      'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1',
      'X-ClientInfo': '{2EF33800-D77F-4E80-9E4C-F6A30F3E0F7E}:1',
      'X-ClientApplication': 'Outlook/16.0.17928.20114',
    });
    assert.equal(mapiRes.statusCode, 200);
    const missing = await proxiedRequest(c.proxy.port, `${fpse.url}/nothing-here`, { timeoutMs: 5000 });
    const records = await c.proxy.waitForExchanges(3);
    const after = await scrape(c);

    const [fpseX, mapiX] = records;
    assert.equal(fpseX!.protocol?.protocol, 'fpse');
    assert.equal(mapiX!.protocol?.protocol, 'mapihttp');
    const plainClass = `${String(missing.statusCode)[0]}xx`;
    assert.equal(moved(before, after, EXCHANGES), 3, 'three exchanges in all');
    assert.equal(moved(before, after, EXCHANGES, { mode: 'forward', protocol: 'fpse', status_class: '2xx' }), 1);
    assert.equal(moved(before, after, EXCHANGES, { mode: 'forward', protocol: 'mapihttp', status_class: '2xx' }), 1);
    assert.equal(moved(before, after, EXCHANGES, { mode: 'forward', protocol: 'http', status_class: plainClass }), 1);

    // Every verdict on the records, by code and level, and nothing else.
    const expected = new Map<string, number>();
    for (const x of records) for (const v of x.protocol?.verdicts ?? []) expected.set(`${v.code} ${v.level}`, (expected.get(`${v.code} ${v.level}`) ?? 0) + 1);
    assert.ok(expected.get('echo-mismatch violation') === 1, `the violation is on the record: ${[...expected.keys()].join(', ')}`);
    for (const [key, n] of expected) {
      const [code, level] = key.split(' ') as [string, string];
      assert.equal(moved(before, after, VERDICTS, { code, level }), n, key);
    }
    assert.equal(moved(before, after, VERDICTS), [...expected.values()].reduce((a, b) => a + b, 0));

    // Bytes each way: exactly the records' counts, by protocol.
    for (const x of records) {
      const protocol = x.protocol?.protocol ?? 'http';
      assert.equal(moved(before, after, 'version_proxy_request_bytes_total', { protocol }), x.bytes.request, `${protocol} request bytes`);
      assert.equal(moved(before, after, 'version_proxy_response_bytes_total', { protocol }), x.bytes.response, `${protocol} response bytes`);
    }
    assert.ok(fpseX!.bytes.request > 0 && fpseX!.bytes.response > 0);

    // One duration each, summing to the record's own.
    const fpseDuration = after.histogram(DURATION, { protocol: 'fpse' });
    assert.equal(fpseDuration?.count, 1);
    assert.equal(fpseDuration.buckets['+Inf'], 1);
    assert.ok(Math.abs(fpseDuration.sum! - (fpseX!.timings.end! - fpseX!.timings.start) / 1000) < 1e-6, `sum ${fpseDuration.sum} s`);
    assert.equal(after.histogram(DURATION, { protocol: 'mapihttp' })?.count, 1);
    assert.equal(after.histogram(DURATION, { protocol: 'http' })?.count, 1);

    assert.equal(after.value('version_proxy_exchanges_in_flight'), 0);
    assert.equal(moved(before, after, FAILURES), 0, 'no upstream failed');
    assert.equal(after.value('version_proxy_journal_dropped_total'), 0, 'the journal kept everything');

    // Bounded labels: what the traffic named (hosts, ports, paths, builds) is in no label.
    const named = [new URL(fpse.url).host, new URL(mapi.url).host, '127.0.0.1', SHTML, '/nothing-here', '/mapi/', '12.0.0.6415', '14.0.0.6029', '6.0.0.0', '16.0.17928.20114', 'Outlook', 'Exchange/'];
    for (const { family, name, value } of after.labels()) {
      if (name === 'le') continue; // the histogram's bucket bounds
      for (const text of named) assert.ok(!value.includes(text), `${family}{${name}="${value}"} holds ${text}`);
      assert.doesNotMatch(value, /:\/\/|^\/|\d+\.\d+\.\d+/, `${family}{${name}="${value}"} looks like a URL, path or version`);
    }
  });

  it('counts faults injected by rules by rule and action, and never as upstream failures', async (t) => {
    const upstream = await okUpstream(t);
    const rules = await writeRules(
      t,
      `
rules:
  - id: rst
    match: { path: /rst }
    actions:
      - reset: true
  - id: teapot
    match: { path: /teapot }
    actions:
      - respond: { status: 418, body: short and stout }
  - id: slow-and-thin
    match: { path: /slow }
    actions:
      - delay: 5ms
      - throttle: 64kb/s
`,
    );
    const c = await controlledProxy(t, { rules: [rules], seed: SEED });
    const before = await scrape(c);

    await assert.rejects(proxiedRequest(c.proxy.port, `${upstream.url}/rst`, { timeoutMs: 5000 }), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    assert.equal((await proxiedRequest(c.proxy.port, `${upstream.url}/teapot`, { timeoutMs: 5000 })).statusCode, 418);
    assert.equal((await proxiedRequest(c.proxy.port, `${upstream.url}/slow`, { timeoutMs: 5000 })).body.toString(), 'ok');
    assert.equal((await proxiedRequest(c.proxy.port, `${upstream.url}/plain`, { timeoutMs: 5000 })).statusCode, 200);
    await c.proxy.waitForExchanges(4);
    const after = await scrape(c);

    assert.equal(moved(before, after, FAULTS, { rule: 'rst', action: 'reset' }), 1);
    assert.equal(moved(before, after, FAULTS, { rule: 'teapot', action: 'respond' }), 1);
    assert.equal(moved(before, after, FAULTS, { rule: 'slow-and-thin', action: 'delay' }), 1);
    // A throttle of both directions is one fault on the exchange, not one per direction.
    assert.equal(moved(before, after, FAULTS, { rule: 'slow-and-thin', action: 'throttle' }), 1);
    assert.equal(moved(before, after, FAULTS), 4, 'nothing else');
    // The reset by a rule: no answer, and no upstream failure.
    assert.equal(moved(before, after, EXCHANGES, { protocol: 'http', status_class: 'none' }), 1);
    assert.equal(moved(before, after, EXCHANGES, { protocol: 'http', status_class: '4xx' }), 1);
    assert.equal(moved(before, after, EXCHANGES, { protocol: 'http', status_class: '2xx' }), 2);
    assert.equal(moved(before, after, FAILURES), 0, 'a fault a rule injected is not an upstream failure');
  });

  it('counts a fault of a runtime rule added through the API from the very next exchange', async (t) => {
    const fpse = await fpseServer(t);
    const c = await controlledProxy(t);
    const rule = { id: 'old-client', match: { protocol: 'fpse', fpseMethod: 'server version' }, actions: [{ reject: 'client-too-old' }] };
    const added = await c.api('/api/rules', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(rule) });
    assert.equal(added.statusCode, 201, added.body.toString());
    const before = await scrape(c);
    const res = await fpseCall(c.proxy, fpse, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.match(res.body.toString(), /status=/, 'an FPSE refusal packet');
    const [x] = await c.proxy.waitForExchanges(1);
    const after = await scrape(c);
    assert.equal(x!.response?.source, 'rule');
    assert.equal(moved(before, after, FAULTS, { rule: 'old-client', action: 'reject' }), 1);
    assert.equal(moved(before, after, FAULTS), 1);
    assert.equal(moved(before, after, EXCHANGES, { protocol: 'fpse' }), 1);
    assert.equal(moved(before, after, FAILURES), 0);
    for (const v of x!.protocol?.verdicts ?? []) assert.equal(moved(before, after, VERDICTS, { code: v.code, level: v.level }), 1, v.code);
  });

  it('counts real upstream failures by kind and code: a closed port, an upstream that resets; a refusal of the proxy is none', async (t) => {
    const port = await closedPort();
    const resetting = closeLater(t, await startRawServer((socket) => socket.once('data', () => socket.resetAndDestroy())));
    const c = await controlledProxy(t);
    const before = await scrape(c);

    assert.equal((await proxiedRequest(c.proxy.port, `http://127.0.0.1:${port}/gone`, { timeoutMs: 5000 })).statusCode, 502);
    assert.equal((await proxiedRequest(c.proxy.port, `${resetting.url}/reset`, { timeoutMs: 5000 })).statusCode, 502);
    // The proxy refuses to forward to its own control port (508): the proxy's answer, not the upstream's.
    assert.equal((await proxiedRequest(c.proxy.port, `http://127.0.0.1:${c.controlPort}/metrics`, { timeoutMs: 5000 })).statusCode, 508);
    const records = await c.proxy.waitForExchanges(3);
    const after = await scrape(c);

    assert.deepEqual(records.map((x) => x.error?.code), ['ECONNREFUSED', 'ECONNRESET', 'FORWARDING_LOOP']);
    assert.equal(moved(before, after, FAILURES, { kind: 'refused', code: 'ECONNREFUSED' }), 1);
    assert.equal(moved(before, after, FAILURES, { kind: 'reset', code: 'ECONNRESET' }), 1);
    assert.equal(moved(before, after, FAILURES), 2, 'the 508 is not counted');
    assert.equal(moved(before, after, EXCHANGES, { status_class: '5xx' }), 3);
    assert.equal(moved(before, after, FAULTS), 0);
  });

  it('reads connections when scraped: a held client connection and its upstream, then none once it closes', async (t) => {
    const upstream = await okUpstream(t);
    const c = await controlledProxy(t);
    const idle = await scrape(c);
    assert.equal(idle.value('version_proxy_client_connections'), 0);
    assert.equal(idle.value('version_proxy_upstream_connections'), 0);

    const conn = await RawConnection.open(c.proxy.port);
    t.after(() => conn.destroy());
    const res = await conn.request(`GET ${upstream.url}/a HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`);
    assert.equal(res.statusCode, 200);
    await c.proxy.waitForExchanges(1);
    const held = await scrape(c);
    assert.equal(held.value('version_proxy_client_connections'), 1, 'the kept-alive client connection');
    assert.equal(held.value('version_proxy_upstream_connections'), 1, 'its own upstream connection');
    assert.equal(held.value('version_proxy_exchanges_in_flight'), 0);

    conn.destroy();
    await gaugesAtZero(c);

    // A CONNECT tunnel: the client's socket and the tunnel's own upstream socket.
    const tunnel = await RawConnection.open(c.proxy.port);
    t.after(() => tunnel.destroy());
    const authority = new URL(upstream.url).host;
    assert.equal((await tunnel.request(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 5000, { head: true })).statusCode, 200);
    const tunnelled = await scrape(c);
    assert.equal(tunnelled.value('version_proxy_client_connections'), 1);
    assert.equal(tunnelled.value('version_proxy_upstream_connections'), 1, "the tunnel's upstream socket");
    assert.equal(tunnelled.value('version_proxy_exchanges_in_flight'), 1, 'the tunnel is an exchange in flight');
    tunnel.destroy();
    await gaugesAtZero(c);
    await c.proxy.waitForExchanges(2);
    assert.equal((await scrape(c)).value(EXCHANGES, { protocol: 'tunnel', status_class: '2xx' }), 1);

    // An upgrade (101): the upstream socket leaves the HTTP machinery and is counted on its own.
    upstream.server.on('upgrade', (_req: unknown, socket: net.Socket) => {
      socket.on('error', () => undefined);
      // Node's HTTP server sockets allow half-open: this upstream closes when the client does.
      socket.once('end', () => socket.end());
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: anything\r\n\r\n');
    });
    const upgraded = await RawConnection.open(c.proxy.port);
    t.after(() => upgraded.destroy());
    const switched = await upgraded.request(`GET ${upstream.url}/ws HTTP/1.1\r\nHost: ${authority}\r\nConnection: Upgrade\r\nUpgrade: anything\r\n\r\n`, 5000, { head: true });
    assert.equal(switched.statusCode, 101);
    const during = await scrape(c);
    assert.equal(during.value('version_proxy_client_connections'), 1);
    assert.equal(during.value('version_proxy_upstream_connections'), 1, "the upgrade's upstream socket");
    upgraded.destroy();
    await gaugesAtZero(c);
  });

  it('counts what the journal left out: exchanges not recorded below --record-min-free', async (t) => {
    const upstream = await okUpstream(t);
    // A line no disk meets: the journal records no exchange, and counts each one.
    const c = await controlledProxy(t, { record: { path: join(tempDir(t), 'j.ndjson'), captureBytes: 1 << 16, rotateBytes: 1 << 28, minFreeBytes: Number.MAX_SAFE_INTEGER } });
    for (let i = 0; i < 3; i++) assert.equal((await proxiedRequest(c.proxy.port, `${upstream.url}/${i}`, { timeoutMs: 5000 })).statusCode, 200);
    await c.proxy.waitForExchanges(3);
    const s = await scrape(c);
    assert.equal(s.value('version_proxy_journal_dropped_total', { what: 'exchange', reason: 'low-disk' }), 3);
    assert.equal(s.value('version_proxy_journal_dropped_total'), 3, 'nothing else');
  });
});

/** Both connection gauges back at 0 (bounded wait: the closes are asynchronous). */
async function gaugesAtZero(c: ControlledProxy): Promise<void> {
  let last: Scrape | undefined;
  for (let i = 0; i < 60; i++) {
    last = await scrape(c);
    if (last.value('version_proxy_client_connections') === 0 && last.value('version_proxy_upstream_connections') === 0) return;
    await delay(50);
  }
  assert.fail(`connections still counted: client ${last?.value('version_proxy_client_connections')}, upstream ${last?.value('version_proxy_upstream_connections')}`);
}
