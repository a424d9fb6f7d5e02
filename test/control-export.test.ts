/**
 * Export from the control server (issue 23 "Export", docs/control-api.md "Export") with real
 * sockets: FPSE, MAPI/HTTP and plain traffic through the proxy, then the ring as a HAR file (valid
 * HAR 1.2 as `./proxy har` output is checked, helpers/har-validator.ts) and as the negotiation
 * report, narrowed by the filter, redacted, and saying how many exchanges the ring held.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { proxiedRequest } from './helpers/client.js';
import { controlledProxy, type ApiAnswer, type ControlledProxy } from './helpers/control.js';
import { assertValidHar } from './helpers/har-validator.js';
import { fpseCall, fpseServer, mapiCall, mapiServer, SHTML } from './helpers/protocol.js';

const SECRET = 'c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=';

interface Har {
  log: { version: string; comment?: string; entries: Array<{ _id: string; request: { url: string; headers: Array<{ name: string; value: string }> }; response: { status: number; content: { text?: string } }; _versions?: { protocol: string } }> };
}

function harOf(res: ApiAnswer): Har {
  assert.equal(res.statusCode, 200, res.body.toString());
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.match(String(res.headers['content-disposition']), /^attachment; filename="version-proxy-exchanges-\d{8}T\d{6}Z\.har"$/);
  const har = JSON.parse(res.body.toString('utf8')) as Har;
  assertValidHar(har);
  return har;
}

/** Three exchanges, oldest first: FPSE server version, MAPI/HTTP Connect with credentials, a plain GET. */
async function traffic(t: Parameters<typeof controlledProxy>[0]): Promise<{ c: ControlledProxy; ids: string[]; fpseUrl: string }> {
  const fpse = await fpseServer(t);
  const mapi = await mapiServer(t);
  const c = await controlledProxy(t);
  assert.equal((await fpseCall(c.proxy, fpse, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415')).statusCode, 200);
  await c.proxy.waitForExchanges(1);
  const mapiRes = await mapiCall(c.proxy, mapi.url, {
    'Content-Type': 'application/mapi-http',
    'X-RequestType': 'Connect',
    'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1',
    'X-ClientInfo': '{2EF33800-D77F-4E80-9E4C-F6A30F3E0F7E}:1',
    'X-ClientApplication': 'Outlook/16.0.17928.20114',
    Authorization: `Basic ${SECRET}`,
  });
  assert.equal(mapiRes.statusCode, 200);
  await c.proxy.waitForExchanges(2);
  assert.ok((await proxiedRequest(c.proxy.port, `${fpse.url}/plain?x=1`, { timeoutMs: 5000 })).statusCode > 0);
  await c.proxy.waitForExchanges(3);
  const ids = ((await c.api('/api/exchanges')).json as Array<{ id: string }>).map((s) => s.id).reverse();
  assert.equal(ids.length, 3);
  return { c, ids, fpseUrl: fpse.url };
}

describe('control export: HAR', () => {
  it('the ring as valid HAR 1.2, oldest first, redacted, bodies included; the filter and limit narrow it; the answer says what the ring held', async (t) => {
    const { c, ids } = await traffic(t);
    const res = await c.api('/api/exchanges/har');
    const har = harOf(res);
    assert.deepEqual(har.log.entries.map((e) => e._id), ids, 'every exchange, oldest first');
    assert.equal(res.headers['x-exchanges-held'], '3');
    assert.equal(res.headers['x-exchanges-exported'], '3');
    assert.equal(res.headers['x-ring-capacity'], '1000');
    assert.match(har.log.comment ?? '', /3 of the 3 exchanges the control server's ring held \(at most 1000, --control-ring\); older exchanges are only in the journal/);
    // Redacted as the journal is: the MAPI/HTTP Authorization value never leaves.
    assert.doesNotMatch(res.body.toString(), new RegExp(SECRET));
    const mapi = har.log.entries[1]!;
    assert.match(mapi.request.headers.find((h) => h.name === 'Authorization')!.value, /redacted/);
    assert.ok((har.log.entries[0]!.response.content.text ?? '').includes('server version'), 'the FPSE response body is in');

    const fpseOnly = await c.api(`/api/exchanges/har?filter=${encodeURIComponent('protocol:fpse')}`);
    const narrowed = harOf(fpseOnly);
    assert.deepEqual(narrowed.log.entries.map((e) => e._id), [ids[0]]);
    assert.equal(narrowed.log.entries[0]!._versions?.protocol, 'fpse');
    assert.equal(fpseOnly.headers['x-exchanges-held'], '3');
    assert.equal(fpseOnly.headers['x-exchanges-exported'], '1');
    assert.match(narrowed.log.comment ?? '', /1 of the 3 .* selected by the filter protocol:fpse/);

    assert.deepEqual(harOf(await c.api('/api/exchanges/har?limit=2')).log.entries.map((e) => e._id), ids.slice(1), 'the two most recent, oldest first');
    assert.deepEqual(harOf(await c.api(`/api/exchanges/har?filter=${encodeURIComponent('-protocol:fpse')}&limit=1`)).log.entries.map((e) => e._id), [ids[2]]);
    // `har` is this route, not an exchange id.
    assert.equal((await c.api(`/api/exchanges/${encodeURIComponent(ids[0]!)}`)).statusCode, 200);
  });

  it('a bad filter or limit is a 400 that says how to fix it; an empty ring is a valid empty HAR', async (t) => {
    const c = await controlledProxy(t);
    const bad = await c.api(`/api/exchanges/har?filter=${encodeURIComponent('colour:blue')}`);
    assert.equal(bad.statusCode, 400);
    const error = bad.json as { error: string; code: string; issues: string[] };
    assert.equal(error.code, 'BAD_FILTER');
    assert.match(error.error, /colour/);
    assert.match(error.error, /protocol|keys/i, 'names the keys it takes');
    const limit = await c.api('/api/exchanges/har?limit=0');
    assert.equal(limit.statusCode, 400);
    assert.match((limit.json as { error: string }).error, /limit: "0" is not a whole number ≥ 1/);

    const empty = await c.api('/api/exchanges/har');
    const har = harOf(empty);
    assert.deepEqual(har.log.entries, []);
    assert.equal(empty.headers['x-exchanges-held'], '0');
    assert.match(har.log.comment ?? '', /0 of the 0 exchanges/);
  });

  it('a client that goes away mid-download leaves the control server answering', async (t) => {
    const { c } = await traffic(t);
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: c.controlPort, path: '/api/exchanges/har', headers: { Authorization: `Bearer ${c.token}` } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
    });
    harOf(await c.api('/api/exchanges/har'));
    assert.equal((await c.api('/api/status')).statusCode, 200);
  });
});

describe('control export: report', () => {
  it('HTML with the sequence diagram, markdown and JSON, as ./proxy report makes them, over the ring and the filter', async (t) => {
    const { c } = await traffic(t);
    const html = await c.api('/api/report');
    assert.equal(html.statusCode, 200, html.body.toString());
    assert.match(String(html.headers['content-type']), /^text\/html/);
    assert.match(String(html.headers['content-disposition']), /^attachment; filename="version-proxy-report-\d{8}T\d{6}Z\.html"$/);
    assert.match(String(html.headers['content-security-policy']), /default-src 'none'.*sandbox/);
    assert.equal(html.headers['x-exchanges-held'], '3');
    const page = html.body.toString();
    assert.match(page, /^<!DOCTYPE html>/);
    assert.match(page, /Generated \S+ from the control server&#39;s ring of recent exchanges, which held 3 exchanges \(at most 1000, --control-ring\); older exchanges are only in the journal/);
    assert.match(page, /<svg[^>]*>[\s\S]*12\.0\.0\.6415[\s\S]*14\.0\.0\.6029[\s\S]*<\/svg>/, 'the FPSE sequence diagram names both versions');
    assert.match(page, /Secrets were redacted/);
    assert.doesNotMatch(page, new RegExp(SECRET));

    const md = await c.api(`/api/report?format=markdown&filter=${encodeURIComponent('protocol:fpse')}`);
    assert.equal(md.statusCode, 200);
    assert.match(String(md.headers['content-type']), /^text\/markdown/);
    assert.match(String(md.headers['content-disposition']), /\.md"$/);
    assert.match(md.body.toString(), /^# Negotiation report/);
    assert.match(md.body.toString(), /^Only exchanges matching `protocol:fpse`; 2 left out\.$/m);

    const json = await c.api('/api/report?format=json');
    const report = json.json as { ring: { held: number; capacity: number }; journals: string[]; totals: { exchanges: number; byProtocol: Record<string, number> }; runs: Array<{ mode: string; redaction: { enabled: boolean } }> };
    assert.deepEqual(report.ring, { held: 3, capacity: 1000 });
    assert.deepEqual(report.journals, []);
    assert.equal(report.totals.exchanges, 3);
    assert.deepEqual(report.totals.byProtocol, { fpse: 1, mapihttp: 1, http: 1 });
    assert.equal(report.runs[0]!.mode, 'forward');
    assert.equal(report.runs[0]!.redaction.enabled, true);
  });

  it('an empty ring is an empty report; a bad format or filter is a 400 with the fix; OpenAPI lists both routes', async (t) => {
    const c = await controlledProxy(t);
    const empty = (await c.api('/api/report?format=json')).json as { totals: { exchanges: number }; hosts: unknown[]; ring: { held: number } };
    assert.equal(empty.totals.exchanges, 0);
    assert.deepEqual(empty.hosts, []);
    assert.equal(empty.ring.held, 0);
    assert.match((await c.api('/api/report')).body.toString(), /held 0 exchanges/);

    const format = await c.api('/api/report?format=pdf');
    assert.equal(format.statusCode, 400);
    assert.equal((format.json as { code: string }).code, 'BAD_QUERY');
    assert.match((format.json as { error: string }).error, /format: "pdf" is not one of html, markdown, json; e\.g\. format=html/);
    const filter = await c.api(`/api/report?filter=${encodeURIComponent('status:teapot')}`);
    assert.equal(filter.statusCode, 400);
    assert.equal((filter.json as { code: string }).code, 'BAD_FILTER');
    assert.equal((await c.api('/api/report', { token: null })).statusCode, 401, 'behind the token like every route');

    const doc = (await c.api('/api/openapi.json')).json as { paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string }>; responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }> }>> };
    const har = doc.paths['/api/exchanges/har']?.get;
    assert.equal(har?.operationId, 'exportHar');
    assert.deepEqual(har.parameters.map((p) => p.name).sort(), ['filter', 'limit']);
    assert.ok(har.responses['200']!.headers!['X-Exchanges-Held']);
    const report = doc.paths['/api/report']?.get;
    assert.equal(report?.operationId, 'exportReport');
    assert.deepEqual(Object.keys(report.responses['200']!.content!).map((type) => type.split(';')[0]).sort(), ['application/json', 'text/html', 'text/markdown']);
  });
});
