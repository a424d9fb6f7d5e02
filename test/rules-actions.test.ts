/**
 * Every rule action through the real proxy (issue 4 item 4; docs/rules.md "Actions"), each
 * shown on the wire before and after in the three views of STYLE.md habit 9: what the upstream
 * saw (a recording relay in front of the FPSE or MAPI/HTTP simulator, or a recording server),
 * what the client got, and what the record says (`forwarded`, `upstreamResponse`, `rules`).
 * Faults (delay, throttle, close, reset, hang) are in rules-faults.test.ts; matchers, priority
 * and gates in rules-matchers-wire.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { clock, delay, header, headerNames, headers, proxiedRequest, RawConnection, startRequest, withTimeout } from './helpers/client.js';
import { FIXTURES } from './fixtures/mapihttp/read.js';
import { AUTHOR, EMSMDB, FPSE_HEADERS, SHTML, fpseCall, fpseServer, mapiCall, mapiServer } from './helpers/protocol.js';
import { recordingRelay, ruleFolder, ruleRecord, rulesProxy, rulesProxyFor, writeRules, SEED, type RecordingRelay } from './helpers/rule-files.js';
import { readBody, startRecordingServer, startServer, type RecordingServer, type SeenRequest } from './helpers/servers.js';
import { assertEachPieceWithinBound, type Write } from './helpers/timing.js';
import { startProxy } from './helpers/proxy.js';

const FPSE_FIXTURES = join(FIXTURES, '..', 'fpse');
const OFFICE_2007 = '12.0.0.6415';
const SHAREPOINT_2010 = '14.0.0.6029';
const OUTLOOK = 'Outlook/16.0.15928.20006';
const EXCHANGE_2019 = 'Exchange/15.02.1544.014';
const REQUEST_ID = 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:7';
const CLIENT_INFO = '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:3';

/** The one request the upstream received (fails unless exactly one). */
function onlyRequest(upstream: RecordingServer): SeenRequest {
  assert.equal(upstream.requests.length, 1, `the upstream saw ${upstream.requests.length} requests: ${upstream.requests.map((r) => `${r.method} ${r.url}`).join(', ')}`);
  return upstream.requests[0]!;
}

/** `<p>method=…` of a vermeer RPC packet, without the `<p>method=`. */
function methodLine(packet: Buffer | string): string | undefined {
  return /<p>method=([^\r\n]*)/.exec(packet.toString())?.[1];
}

/** The four numbers of the packet's `server version=` list as `a.b.c.d`. */
function serverList(packet: Buffer | string): string | undefined {
  const text = packet.toString();
  const get = (key: string): string | undefined => new RegExp(`<li>${key}=(\\d+)`).exec(text)?.[1];
  const parts = [get('major ver'), get('minor ver'), get('phase ver'), get('ver incr')];
  return parts.some((p) => p === undefined) ? undefined : parts.join('.');
}

/** The MAPI/HTTP request headers of Outlook (MS-OXCMAPIHTTP 2.2.2.1), `type` in X-RequestType. */
function mapiHeaders(type: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Content-Type': 'application/mapi-http',
    'X-RequestType': type,
    'X-RequestId': REQUEST_ID,
    'X-ClientInfo': CLIENT_INFO,
    'X-ClientApplication': OUTLOOK,
    ...extra,
  };
}

/** A forward-mode FPSE POST written by hand, for raw connections. */
function fpseRaw(upstream: { url: string }, path: string, body: string, extra = ''): string {
  const host = new URL(upstream.url).host;
  return (
    `POST ${upstream.url}${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: MSFrontPage/12.0\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\n${extra}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`
  );
}

/** An FPSE simulator behind a recording relay: the relay's `requests` are what the upstream saw. */
async function fpseBehindRelay(t: TestContext, version = SHAREPOINT_2010): Promise<RecordingRelay> {
  const server = await fpseServer(t, { version });
  return recordingRelay(t, server.url);
}

async function mapiBehindRelay(t: TestContext): Promise<RecordingRelay> {
  const server = await mapiServer(t, { server: EXCHANGE_2019 });
  return recordingRelay(t, server.url);
}

// ---------------------------------------------------------------------------------------------

describe('clientVersion action', () => {
  it('MAPI/HTTP: a bare version keeps the Outlook/ token; the upstream sees it, the client its answer, the record both', async (t) => {
    const upstream = await mapiBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: outlook-2010
    match: { protocol: mapihttp, requestType: Connect }
    actions:
      - clientVersion: "14.0.7268.5000"
`);
    const res = await mapiCall(proxy, upstream.url, mapiHeaders('Connect'));

    const seen = onlyRequest(upstream);
    assert.equal(header(seen.rawHeaders, 'X-ClientApplication'), 'Outlook/14.0.7268.5000');
    // Only the one value changed: its position among the other fields is kept.
    assert.deepEqual(headerNames(seen.rawHeaders).filter((n) => n.startsWith('x-')), ['x-requesttype', 'x-requestid', 'x-clientinfo', 'x-clientapplication']);

    assert.equal(res.statusCode, 200);
    assert.equal(header(res.rawHeaders, 'X-ResponseCode'), '0');
    assert.equal(header(res.rawHeaders, 'X-ServerApplication'), EXCHANGE_2019);

    const [x] = await proxy.waitForExchanges(1);
    assert.equal(header(x!.request.rawHeaders, 'X-ClientApplication'), OUTLOOK, 'the record keeps what the client sent');
    assert.equal(header(x!.forwarded?.rawHeaders ?? [], 'X-ClientApplication'), 'Outlook/14.0.7268.5000', 'and what the upstream received');
    const rule = ruleRecord(x, 'outlook-2010');
    assert.equal(rule.outcome, 'applied');
    assert.equal(rule.stage, 'request-head');
    assert.deepEqual(rule.changes, [{ action: 'clientVersion', target: 'X-ClientApplication', before: OUTLOOK, after: 'Outlook/14.0.7268.5000' }]);
    assert.match(rule.explain, /14\.0\.7268\.5000/);
    assert.equal(x!.error, undefined);
  });

  it('MAPI/HTTP: a full product token replaces the whole token', async (t) => {
    const upstream = await mapiBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: other-client
    match: { protocol: mapihttp }
    actions:
      - clientVersion: "MacOutlook/16.80.2312.1017"
`);
    const res = await mapiCall(proxy, upstream.url, mapiHeaders('Connect'));
    assert.equal(res.statusCode, 200);
    assert.equal(header(onlyRequest(upstream).rawHeaders, 'X-ClientApplication'), 'MacOutlook/16.80.2312.1017');
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'other-client').changes, [{ action: 'clientVersion', target: 'X-ClientApplication', before: OUTLOOK, after: 'MacOutlook/16.80.2312.1017' }]);
  });

  it('FPSE, percent-encoded client: the version goes back as %3a…%2e…, Content-Length follows, the server answers the new version', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: look-like-wss2-client
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - clientVersion: "6.0.2.5523"
`);
    const sent = `method=server+version%3a${OFFICE_2007.replace(/\./g, '%2e')}`;
    const res = await fpseCall(proxy, upstream, SHTML, sent);

    const seen = onlyRequest(upstream);
    assert.equal(seen.body.toString('latin1'), 'method=server+version%3a6%2e0%2e2%2e5523');
    assert.equal(header(seen.rawHeaders, 'Content-Length'), String(seen.body.length), 'Content-Length is the length of the body the upstream got');

    // The simulator negotiated with the version it saw: Min(6.0.2.5523, 14.0.0.6029).
    assert.equal(res.statusCode, 200);
    assert.equal(methodLine(res.body), 'server version:6.0.2.5523');
    assert.equal(serverList(res.body), SHAREPOINT_2010);
    assert.deepEqual(res.body, upstream.answers[0]?.body, 'the answer itself passes untouched');

    const [x] = await proxy.waitForExchanges(1);
    assert.equal(header(x!.request.rawHeaders, 'Content-Length'), String(sent.length));
    assert.equal(header(x!.forwarded?.rawHeaders ?? [], 'Content-Length'), String(seen.body.length));
    const rule = ruleRecord(x, 'look-like-wss2-client');
    assert.equal(rule.outcome, 'applied');
    assert.equal(rule.stage, 'request-body');
    assert.deepEqual(rule.changes, [{ action: 'clientVersion', target: 'request body: method', before: OFFICE_2007, after: '6.0.2.5523' }]);
    assert.equal(x!.bytes.request, sent.length, 'bytes.request counts what the client sent');
    assert.equal(x!.protocol?.protocol, 'fpse');
  });

  it('FPSE, plain client: `:` and `.` stay plain, and the other parameters keep their bytes', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: fp2002-client
    match: { protocol: fpse, fpseMethod: open service }
    actions:
      - clientVersion: "5.0.2.6790"
`);
    const res = await fpseCall(proxy, upstream, AUTHOR, 'method=open+service:6.0.2.5614&service_name=/');
    assert.equal(onlyRequest(upstream).body.toString('latin1'), 'method=open+service:5.0.2.6790&service_name=/');
    assert.equal(header(onlyRequest(upstream).rawHeaders, 'Content-Length'), String('method=open+service:5.0.2.6790&service_name=/'.length));
    assert.equal(methodLine(res.body), 'open service:5.0.2.6790');
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'fp2002-client').changes, [{ action: 'clientVersion', target: 'request body: method', before: '6.0.2.5614', after: '5.0.2.6790' }]);
  });

  it('FPSE `put document`: the first line is rewritten, the binary tail after its LF reaches the upstream byte for byte', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: put-as-wss2
    match: { protocol: fpse, fpseMethod: put document }
    actions:
      - clientVersion: "6.0.2.5523"
`);
    const body = readFileSync(join(FPSE_FIXTURES, 'req-put-document.bin'));
    const lf = body.indexOf(0x0a);
    const tail = body.subarray(lf + 1);
    const res = await proxiedRequest(proxy.port, `${upstream.url}${AUTHOR}`, { method: 'POST', headers: { Host: new URL(upstream.url).host, ...FPSE_HEADERS }, body, timeoutMs: 5000 });

    const seen = onlyRequest(upstream);
    const seenLf = seen.body.indexOf(0x0a);
    assert.match(seen.body.subarray(0, seenLf).toString('latin1'), /^method=put\+document%3a6%2e0%2e2%2e5523&service%5fname=/);
    assert.deepEqual(seen.body.subarray(seenLf + 1), tail, 'the document bytes are untouched');
    assert.equal(seen.body.length, body.length - '12%2e0%2e0%2e6211'.length + '6%2e0%2e2%2e5523'.length);
    assert.equal(header(seen.rawHeaders, 'Content-Length'), String(seen.body.length));
    // The simulator counted the document it received.
    assert.match(res.body.toString('latin1'), new RegExp(`vti_filesize\\s*<li>IR\\|${tail.length}|IR\\|${tail.length}`));
    assert.equal(methodLine(res.body), 'put document:6.0.2.5523');
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(ruleRecord(x, 'put-as-wss2').outcome, 'applied');
    assert.equal(x!.bytes.request, body.length);
  });

  it('FPSE with a chunked request body (first line split across chunks): rewritten, and the rest follows', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: chunked
    match: { protocol: fpse, fpseMethod: put document }
    actions:
      - clientVersion: "6.0.2.5523"
`);
    const { req, response } = startRequest(proxy.port, `${upstream.url}${AUTHOR}`, {
      method: 'POST',
      headers: { Host: new URL(upstream.url).host, 'Content-Type': 'application/x-www-form-urlencoded', 'Transfer-Encoding': 'chunked' },
      timeoutMs: 5000,
    });
    const tail = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0x0a, 0x00, 0x0d, 0x0a, 0xff, 0x6d, 0x65]);
    req.write('method=put+document%3a12%2e0%2e0%2e62');
    await delay(50);
    req.write('11&service%5fname=%2f&document=%5bdocument%5fname%3da%2etxt%5d\n');
    await delay(50);
    req.end(tail);
    const res = await response;

    const seen = onlyRequest(upstream);
    assert.equal(seen.body.toString('latin1'), `method=put+document%3a6%2e0%2e2%2e5523&service%5fname=%2f&document=%5bdocument%5fname%3da%2etxt%5d\n${tail.toString('latin1')}`);
    assert.equal(res.statusCode, 200);
    assert.equal(methodLine(res.body), 'put document:6.0.2.5523');
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(ruleRecord(x, 'chunked').outcome, 'applied');
    assert.equal(x!.error, undefined);
  });

  it('FPSE with Expect: 100-continue under a rule that reads the body: the client gets its 100 and its answer', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: expecting
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - clientVersion: "6.0.2.5523"
`);
    const body = 'method=server+version%3a12%2e0%2e0%2e6415';
    const raw = fpseRaw(upstream, SHTML, body, 'Expect: 100-continue\r\n');
    const head = raw.slice(0, raw.length - body.length);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    await conn.write(head);
    const interim = await conn.readResponse(3000);
    assert.equal(interim.statusCode, 100, 'the proxy invites the body it needs to read');
    await conn.write(body);
    const res = await conn.readResponse(3000);
    assert.equal(res.statusCode, 200);
    assert.equal(methodLine(res.body), 'server version:6.0.2.5523');
    const seen = onlyRequest(upstream);
    assert.equal(seen.body.toString('latin1'), 'method=server+version%3a6%2e0%2e2%2e5523');
    assert.equal(header(seen.rawHeaders, 'Expect'), undefined, 'the upstream is not asked for a second 100');
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(ruleRecord(x, 'expecting').outcome, 'applied');
    assert.equal(header(x!.request.rawHeaders, 'Expect'), '100-continue');
  });

  it(
    'FPSE under a rule that matches only `protocol: fpse`: the method line is still rewritten',
    async (t) => {
      const upstream = await fpseBehindRelay(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: any-fpse
    match: { protocol: fpse }
    actions:
      - clientVersion: "6.0.2.5523"
`);
      const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
      const [x] = await proxy.waitForExchanges(1);
      assert.equal(ruleRecord(x, 'any-fpse').outcome, 'applied', `record: ${JSON.stringify(x!.rules)}`);
      assert.equal(onlyRequest(upstream).body.toString('latin1'), 'method=server+version%3a6%2e0%2e2%2e5523');
      assert.equal(methodLine(res.body), 'server version:6.0.2.5523');
    },
  );
});

// ---------------------------------------------------------------------------------------------

/** One piece of a long-poll answer: bytes written after waiting `after` ms. */
interface Step {
  after: number;
  bytes: Buffer;
}

const DONE = Buffer.concat([
  Buffer.from('DONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 800\r\nX-StartTime: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n'),
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
]);

/** An Exchange-like NotificationWait: chunked, echoes the X-* headers, writes `steps` as timed. */
async function longPollUpstream(t: TestContext, steps: Step[]): Promise<{ port: number; url: string; writes: Write[]; seen: SeenRequest[] }> {
  const writes: Write[] = [];
  const seen: SeenRequest[] = [];
  const upstream = await startServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    void (async () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, body: await readBody(req), socket: 0, at: clock() });
      res.socket?.setNoDelay(true);
      res.writeHead(200, [
        'Cache-Control', 'private',
        'Content-Type', 'application/mapi-http',
        'X-RequestType', String(req.headers['x-requesttype'] ?? ''),
        'X-RequestId', String(req.headers['x-requestid'] ?? ''),
        'X-ResponseCode', '0',
        'X-PendingPeriod', '300',
        'X-ServerApplication', EXCHANGE_2019,
      ]);
      res.flushHeaders();
      for (const step of steps) {
        if (step.after > 0) await delay(step.after);
        if (res.destroyed) return;
        writes.push({ at: clock(), bytes: step.bytes });
        res.write(step.bytes);
      }
      res.end();
    })();
  });
  t.after(() => upstream.close());
  return { port: upstream.port, url: upstream.url, writes, seen };
}

describe('serverVersion action', () => {
  it('MAPI/HTTP: X-ServerApplication is rewritten while the long poll keeps streaming (PENDING reaches the client as sent)', { timeout: 15_000 }, async (t) => {
    const steps: Step[] = [
      { after: 0, bytes: Buffer.from('PROCESSING\r\n') },
      { after: 300, bytes: Buffer.from('PENDING\r\n') },
      { after: 300, bytes: Buffer.from('PENDING\r\n') },
      { after: 200, bytes: DONE },
    ];
    const upstream = await longPollUpstream(t, steps);
    const proxy = await rulesProxy(t, `
rules:
  - id: exchange-2013-sp1
    match: { protocol: mapihttp, requestType: NotificationWait }
    actions:
      - serverVersion: "15.00.0847.032"
`);
    const { req, response } = startRequest(proxy.port, `${upstream.url}${EMSMDB}`, {
      method: 'POST',
      headers: { Host: new URL(upstream.url).host, ...mapiHeaders('NotificationWait'), 'Content-Length': '8' },
      timeoutMs: 10_000,
    });
    req.end(Buffer.alloc(8));
    const res = await response;

    assert.equal(header(upstream.seen[0]!.rawHeaders, 'X-ClientApplication'), OUTLOOK, 'the request passed unchanged');
    assert.equal(res.statusCode, 200);
    assert.equal(header(res.rawHeaders, 'X-ServerApplication'), 'Exchange/15.00.0847.032', 'the bare version keeps the Exchange/ token, written as given');
    assert.deepEqual(res.body, Buffer.concat(steps.map((s) => s.bytes)), 'the body is untouched');
    const arrivals = assertEachPieceWithinBound(upstream.writes, res.chunks, 'client');
    assert.ok(arrivals[1]! - arrivals[0]! > 250 && arrivals[2]! - arrivals[1]! > 250, 'the keep-alives arrived as far apart as they were written');

    const [x] = await proxy.waitForExchanges(1);
    assert.equal(header(x!.upstreamResponse?.rawHeaders ?? [], 'X-ServerApplication'), EXCHANGE_2019, 'the record keeps what the upstream sent');
    assert.equal(header(x!.response?.rawHeaders ?? [], 'X-ServerApplication'), 'Exchange/15.00.0847.032');
    const rule = ruleRecord(x, 'exchange-2013-sp1');
    assert.equal(rule.outcome, 'applied');
    assert.deepEqual(rule.changes, [{ action: 'serverVersion', target: 'X-ServerApplication', before: EXCHANGE_2019, after: 'Exchange/15.00.0847.032' }]);
    assert.equal(x!.bytes.response, res.body.length);
  });

  it('MAPI/HTTP through the simulator: a Connect answer carries the rewritten header, body unchanged', async (t) => {
    const upstream = await mapiBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: sp1
    match: { protocol: mapihttp }
    actions:
      - serverVersion: "Exchange/15.00.0847.032"
`);
    const res = await mapiCall(proxy, upstream.url, mapiHeaders('Connect'));
    assert.equal(header(res.rawHeaders, 'X-ServerApplication'), 'Exchange/15.00.0847.032');
    assert.equal(header(upstream.answers[0]!.rawHeaders, 'X-ServerApplication'), EXCHANGE_2019);
    assert.deepEqual(res.body, upstream.answers[0]!.body);
  });

  it('FPSE: a server older than the client: list and method line become 5.0.2.6790 (Min), Content-Length fixed', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: fp2002
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - serverVersion: "5.0.2.6790"
`);
    const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');

    const original = upstream.answers[0]!.body;
    assert.equal(methodLine(original), `server version:${OFFICE_2007}`, 'the simulator answered Min(12.0.0.6415, 14.0.0.6029)');
    assert.equal(serverList(original), SHAREPOINT_2010);
    assert.equal(onlyRequest(upstream).body.toString('latin1'), 'method=server+version%3a12%2e0%2e0%2e6415', 'the request passed unchanged');

    assert.equal(res.statusCode, 200);
    assert.equal(methodLine(res.body), 'server version:5.0.2.6790');
    assert.equal(serverList(res.body), '5.0.2.6790');
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(res.body.length));
    assert.equal(res.body.toString().replace(/5\.0\.2\.6790/, OFFICE_2007).replace('major ver=5', 'major ver=14').replace('phase ver=2', 'phase ver=0').replace('ver incr=6790', 'ver incr=6029'), original.toString(), 'nothing else in the packet changed');
    assert.equal(header(res.rawHeaders, 'MicrosoftSharePointTeamServices'), '5.0.2.6790');

    const [x] = await proxy.waitForExchanges(1);
    assert.equal(header(x!.upstreamResponse?.rawHeaders ?? [], 'Content-Length'), String(original.length));
    assert.equal(header(x!.response?.rawHeaders ?? [], 'Content-Length'), String(res.body.length));
    const rule = ruleRecord(x, 'fp2002');
    assert.equal(rule.outcome, 'applied');
    assert.deepEqual(
      rule.changes.map((c) => [c.target, c.before, c.after]),
      [
        ['response body: method line', OFFICE_2007, '5.0.2.6790'],
        ['response body: server version', SHAREPOINT_2010, '5.0.2.6790'],
        ['MicrosoftSharePointTeamServices', SHAREPOINT_2010, '5.0.2.6790'],
      ],
    );
    // The verdicts judge what the client took part in: a 5.0.2.6790 server.
    assert.equal(x!.protocol?.versions.server, '5.0.2.6790');
    assert.equal(x!.protocol?.versions.negotiated, '5.0.2.6790');
  });

  it('FPSE: a server newer than the client: the list says 15.0.0.4420, the method line stays the client\'s', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: sp2013
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - serverVersion: "15.0.0.4420"
`);
    const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(methodLine(res.body), `server version:${OFFICE_2007}`);
    assert.equal(serverList(res.body), '15.0.0.4420');
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(res.body.length));
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'sp2013').changes.map((c) => c.target), ['response body: server version', 'MicrosoftSharePointTeamServices'], 'the method line already said Min: no change recorded');
  });

  it('FPSE `only: method-line`: the method line says 5.0.2.6790, the server list and the build header stay', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: line-only
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - serverVersion: { version: "5.0.2.6790", only: method-line }
`);
    const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(methodLine(res.body), 'server version:5.0.2.6790');
    assert.equal(serverList(res.body), SHAREPOINT_2010);
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(res.body.length));
    assert.equal(header(res.rawHeaders, 'MicrosoftSharePointTeamServices'), SHAREPOINT_2010);
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'line-only').changes, [{ action: 'serverVersion', target: 'response body: method line', before: OFFICE_2007, after: '5.0.2.6790' }]);
  });

  it('FPSE `only: server-list` on a server version answer: the list changes, the method line does not', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: list-only
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - serverVersion: { version: "5.0.2.6790", only: server-list }
`);
    const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(methodLine(res.body), `server version:${OFFICE_2007}`);
    assert.equal(serverList(res.body), '5.0.2.6790');
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(res.body.length));
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'list-only').changes.map((c) => [c.target, c.after]), [
      ['response body: server version', '5.0.2.6790'],
      ['MicrosoftSharePointTeamServices', '5.0.2.6790'],
    ]);
  });

  it('FPSE _vti_inf.html: FPVersion is rewritten, Content-Length follows', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: inf
    match: { protocol: fpse }
    actions:
      - serverVersion: "5.0.2.6790"
`);
    // GET, as clients discover the server (MS-FPSE 3.1.3.2.1).
    const { req, response } = startRequest(proxy.port, `${upstream.url}/_vti_inf.html`, { headers: { Host: new URL(upstream.url).host }, timeoutMs: 5000 });
    req.end();
    const got = await response;
    assert.equal(got.statusCode, 200);
    assert.match(got.body.toString(), / FPVersion="5\.0\.2\.6790"/);
    assert.equal(header(got.rawHeaders, 'Content-Length'), String(got.body.length));
    const original = upstream.answers.at(-1)!.body.toString();
    assert.match(original, / FPVersion="14\.0\.0\.6029"/);
    assert.equal(got.body.toString(), original.replace('14.0.0.6029', '5.0.2.6790'));
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'inf').changes[0], { action: 'serverVersion', target: 'response body: FPVersion', before: SHAREPOINT_2010, after: '5.0.2.6790' });
  });

  it('FPSE answer over the 256 KiB buffer cap: it streams unchanged and the record lists the rule as skipped, with the reason', async (t) => {
    // A `get document` answer: a packet line, then a large document (MS-FPSE 3.1.5.3.4).
    const big = Buffer.concat([
      Buffer.from('<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=get document:12.0.0.6415\n<p>server version=\n<ul>\n<li>major ver=14\n<li>minor ver=0\n<li>phase ver=0\n<li>ver incr=6029\n</ul>\n</body>\n</html>\n'),
      Buffer.alloc(300 * 1024, 0x5a),
    ]);
    const upstream = await startRecordingServer((_seen, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-vermeer-rpc', 'Content-Length': String(big.length) });
      res.end(big);
    });
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: too-big
    match: { protocol: fpse, fpseMethod: get document }
    actions:
      - serverVersion: "5.0.2.6790"
`);
    const res = await fpseCall(proxy, upstream, AUTHOR, 'method=get+document%3a12%2e0%2e0%2e6415&document%5fname=big%2ebin');
    assert.equal(res.statusCode, 200);
    assert.equal(res.body.length, big.length);
    assert.ok(res.body.equals(big), 'the body reached the client unchanged');
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(big.length));
    const [x] = await proxy.waitForExchanges(1);
    const rule = ruleRecord(x, 'too-big');
    assert.equal(rule.outcome, 'skipped');
    assert.match(rule.reason ?? '', /256 KiB buffer cap/);
    assert.deepEqual(rule.changes, []);
    assert.equal(x!.bytes.response, big.length);
    assert.ok(proxy.logs.lines.some((l) => l.msg === 'rule skipped' && l.rule === 'too-big'), 'the skip is logged');
  });

  it(
    'FPSE under `match: { protocol: fpse }` (the shipped fpse-downgrade-to-fp2002): a 4.0.2.7802 client keeps its own version on the method line',
    async (t) => {
      const upstream = await fpseBehindRelay(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: fp2002
    match: { protocol: fpse }
    actions:
      - serverVersion: "5.0.2.6790"
`);
      const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a4%2e0%2e2%2e7802');
      assert.equal(methodLine(upstream.answers[0]!.body), 'server version:4.0.2.7802');
      assert.equal(serverList(res.body), '5.0.2.6790');
      assert.equal(methodLine(res.body), 'server version:4.0.2.7802', 'Min(4.0.2.7802, 5.0.2.6790)');
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('reject action', () => {
  it('FPSE client-too-old: a 262156 packet (HTTP 200, osstatus=0, msg=), the upstream never sees it, the connection stays usable', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: too-old
    match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }
    actions:
      - reject: client-too-old
`);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const refused = await conn.request(fpseRaw(upstream, SHTML, 'method=server+version%3a3%2e0%2e2%2e1000'), 3000);
    assert.equal(refused.statusCode, 200);
    assert.equal(header(refused.rawHeaders, 'Content-Type'), 'application/x-vermeer-rpc');
    assert.equal(header(refused.rawHeaders, 'Content-Length'), String(refused.body.length));
    const text = refused.body.toString();
    assert.match(text, /<li>status=262156\n/);
    assert.match(text, /<li>osstatus=0\n/);
    assert.match(text, /<li>msg=[^\n]+/);
    assert.match(methodLine(refused.body) ?? '', /^server version/);
    assert.equal(upstream.requests.length, 0, 'the upstream never saw the refused request');

    // Same connection, an acceptable client: it goes through.
    const accepted = await conn.request(fpseRaw(upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415'), 3000);
    assert.equal(accepted.statusCode, 200);
    assert.equal(methodLine(accepted.body), `server version:${OFFICE_2007}`);
    assert.equal(onlyRequest(upstream).body.toString(), 'method=server+version%3a12%2e0%2e0%2e6415');

    const [x, second] = await proxy.waitForExchanges(2);
    assert.equal(x!.response?.source, 'rule');
    assert.equal(x!.response?.statusCode, 200);
    assert.equal(x!.upstream, undefined, 'no upstream connection for the refused request');
    assert.equal(x!.error, undefined, 'an intended refusal is not a traffic failure');
    const rule = ruleRecord(x, 'too-old');
    assert.equal(rule.outcome, 'applied');
    assert.deepEqual(rule.changes, [{ action: 'reject', target: 'response', after: 'FPSE status 262156 (0x0004000C, client too old)' }]);
    assert.equal(x!.client.connection, second!.client.connection, 'both on one client connection');
    assert.equal(second!.rules, undefined, 'the second request matched no rule');
    assert.equal(x!.protocol?.verdicts.map((v) => v.code).join(), 'rejected-client-too-old');
  });

  it(
    'FPSE client-too-old: the refusal\'s method line and msg carry the client version the rule read',
    async (t) => {
      const upstream = await fpseBehindRelay(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: too-old
    match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }
    actions:
      - reject: client-too-old
`);
      const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a3%2e0%2e2%2e1000');
      // reject-answers.ts: with only the client's version known, the method line carries it (§2.8).
      assert.equal(methodLine(res.body), 'server version:3.0.2.1000');
      assert.match(res.body.toString(), /<li>msg=[^\n]*3\.0\.2\.1000/);
    },
  );

  it(
    'FPSE reject in a rule decided at the request head (`match: { protocol: fpse }`): the packet still names the method',
    async (t) => {
      const upstream = await fpseBehindRelay(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: refuse-all
    match: { protocol: fpse }
    actions:
      - reject: client-too-old
`);
      const res = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
      assert.match(res.body.toString(), /<li>status=262156\n/);
      assert.equal(upstream.requests.length, 0);
      assert.match(methodLine(res.body) ?? '', /^server version/);
    },
  );

  it(
    'the record of a refused request has no `forwarded` head: nothing was forwarded',
    async (t) => {
      const upstream = await fpseBehindRelay(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: too-old
    match: { protocol: fpse, clientVersion: "< 4.0.2.2611" }
    actions:
      - reject: client-too-old
`);
      await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a3%2e0%2e2%2e1000');
      const [x] = await proxy.waitForExchanges(1);
      assert.equal(upstream.requests.length, 0);
      assert.equal(x!.forwarded, undefined, `forwarded on the record: ${JSON.stringify(x!.forwarded)}`);
    },
  );

  it('a refusal before a large request body: the body is drained and the keep-alive connection carries the next request', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: too-large
    match: { method: POST, path: /upload }
    actions:
      - reject: 413
`);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const host = new URL(upstream.url).host;
    const body = Buffer.alloc(256 * 1024, 0x41);
    await conn.write(Buffer.concat([Buffer.from(`POST ${upstream.url}/upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    const refused = await conn.readResponse(3000);
    assert.equal(refused.statusCode, 413);
    const next = await conn.request(`GET ${upstream.url}/after HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 3000);
    assert.equal(next.statusCode, 200);
    assert.equal(onlyRequest(upstream).url, '/after');
    const [x] = await proxy.waitForExchanges(2);
    assert.equal(x!.bytes.request, body.length, 'the whole body was read (and dropped)');
    assert.equal(x!.error, undefined);
  });

  it('FPSE by number and by hex: the status list carries the number', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: bad-url
    match: { protocol: fpse, fpseMethod: url to web url }
    actions:
      - reject: 589829
  - id: hex
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - reject: "0x0004000C"
`);
    const a = await fpseCall(proxy, upstream, SHTML, 'method=url+to+web+url%3a12%2e0%2e0%2e6415&url=%2fx');
    assert.equal(a.statusCode, 200);
    assert.match(a.body.toString(), /<li>status=589829\n<li>osstatus=0\n<li>msg=/);
    const b = await fpseCall(proxy, upstream, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.match(b.body.toString(), /<li>status=262156\n/);
    assert.equal(upstream.requests.length, 0);
    const xs = await proxy.waitForExchanges(2);
    assert.match(ruleRecord(xs[0], 'bad-url').changes[0]?.after ?? '', /^FPSE status 589829 \(0x00090005/);
    assert.match(ruleRecord(xs[1], 'hex').changes[0]?.after ?? '', /^FPSE status 262156 \(0x0004000C/);
  });

  for (const [arg, code] of [['context-not-found', '10'], ['endpoint-disabled', '16'], ['10', '10']] as const) {
    it(`MAPI/HTTP reject: ${arg} → HTTP 200, text/html, X-ResponseCode ${code}, X-ServerApplication; the upstream sees nothing`, async (t) => {
      const upstream = await mapiBehindRelay(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: refuse
    match: { protocol: mapihttp, requestType: Execute }
    actions:
      - reject: ${arg}
`);
      const res = await mapiCall(proxy, upstream.url, mapiHeaders('Execute'), Buffer.alloc(8));
      assert.equal(res.statusCode, 200);
      assert.equal(header(res.rawHeaders, 'Content-Type'), 'text/html');
      assert.equal(header(res.rawHeaders, 'X-ResponseCode'), code);
      assert.ok(header(res.rawHeaders, 'X-ServerApplication')?.startsWith('Exchange/'), 'X-ServerApplication present');
      assert.equal(header(res.rawHeaders, 'X-RequestId'), REQUEST_ID, 'echoed');
      assert.equal(header(res.rawHeaders, 'X-ClientInfo'), CLIENT_INFO, 'echoed');
      assert.equal(header(res.rawHeaders, 'X-RequestType'), 'Execute', 'echoed');
      assert.equal(header(res.rawHeaders, 'Content-Length'), String(res.body.length));
      assert.match(res.body.toString(), /<html/i);
      assert.equal(upstream.requests.length, 0);
      const [x] = await proxy.waitForExchanges(1);
      assert.equal(x!.response?.source, 'rule');
      assert.equal(ruleRecord(x, 'refuse').outcome, 'applied');
      assert.match(ruleRecord(x, 'refuse').changes[0]?.after ?? '', new RegExp(`^MAPI/HTTP X-ResponseCode ${code} `));
      assert.equal(x!.error, undefined);
    });
  }

  it(
    'MAPI/HTTP reject on a session that has seen its server: X-ServerApplication is that server\'s, not a default',
    async (t) => {
      const server = await mapiServer(t, { server: 'Exchange/15.00.0847.032' });
      const upstream = await recordingRelay(t, server.url);
      const proxy = await rulesProxy(t, `
rules:
  - id: lost
    match: { protocol: mapihttp, requestType: Execute }
    actions:
      - reject: context-not-found
`);
      const connect = await mapiCall(proxy, upstream.url, mapiHeaders('Connect'));
      assert.equal(header(connect.rawHeaders, 'X-ServerApplication'), 'Exchange/15.00.0847.032');
      const refused = await mapiCall(proxy, upstream.url, mapiHeaders('Execute'));
      assert.equal(header(refused.rawHeaders, 'X-ResponseCode'), '10');
      assert.equal(header(refused.rawHeaders, 'X-ServerApplication'), 'Exchange/15.00.0847.032');
    },
  );

  it('MAPI/HTTP reject by number (YAML integer) and the keep-alive connection goes on', async (t) => {
    const upstream = await mapiBehindRelay(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: disabled
    match: { protocol: mapihttp, requestType: Execute }
    actions:
      - reject: 16
`);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const head = (type: string): string =>
      `POST ${upstream.url}${EMSMDB} HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\nContent-Type: application/mapi-http\r\n` +
      `X-RequestType: ${type}\r\nX-RequestId: ${REQUEST_ID}\r\nX-ClientInfo: ${CLIENT_INFO}\r\nX-ClientApplication: ${OUTLOOK}\r\nContent-Length: 0\r\n\r\n`;
    const refused = await conn.request(head('Execute'), 3000);
    assert.equal(refused.statusCode, 200);
    assert.equal(header(refused.rawHeaders, 'X-ResponseCode'), '16');
    const ok = await conn.request(head('Connect'), 3000);
    assert.equal(ok.statusCode, 200);
    assert.equal(header(ok.rawHeaders, 'X-ResponseCode'), '0');
    assert.equal(upstream.requests.length, 1);
    assert.equal(header(upstream.requests[0]!.rawHeaders, 'X-RequestType'), 'Connect');
  });

  it('plain HTTP reject by status: 403 with a short body; the upstream sees nothing; the connection stays usable', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: forbidden
    match: { protocol: http, path: /secret/* }
    actions:
      - reject: 403
`);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const get = (path: string): string => `GET ${upstream.url}${path} HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`;
    const refused = await conn.request(get('/secret/a.txt'), 3000);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.statusMessage, 'Forbidden');
    assert.equal(header(refused.rawHeaders, 'Content-Length'), String(refused.body.length));
    assert.equal(upstream.requests.length, 0);
    const ok = await conn.request(get('/public.txt'), 3000);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.body.toString(), 'ok');
    assert.equal(onlyRequest(upstream).url, '/public.txt');
    const [x] = await proxy.waitForExchanges(2);
    assert.equal(x!.response?.statusCode, 403);
    assert.equal(x!.response?.source, 'rule');
    assert.equal(x!.error, undefined);
    assert.deepEqual(ruleRecord(x, 'forbidden').changes, [{ action: 'reject', target: 'response', after: 'HTTP 403 Forbidden' }]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('respond, status, setHeader, removeHeader', () => {
  it('respond: status, headers and body from the rule; the upstream is never asked', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: canned
    match: { path: /maintenance }
    actions:
      - respond: { status: 503, headers: { Retry-After: "120", X-Canned: "yes" }, body: "down for maintenance\\n" }
`);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const res = await conn.request(`GET ${upstream.url}/maintenance HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`, 3000);
    assert.equal(res.statusCode, 503);
    assert.equal(res.statusMessage, 'Service Unavailable');
    assert.equal(header(res.rawHeaders, 'Retry-After'), '120');
    assert.equal(header(res.rawHeaders, 'X-Canned'), 'yes');
    assert.equal(res.body.toString(), 'down for maintenance\n');
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(res.body.length));
    assert.equal(upstream.requests.length, 0);
    // The connection is still good.
    const next = await conn.request(`GET ${upstream.url}/other HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`, 3000);
    assert.equal(next.statusCode, 200);
    const [x] = await proxy.waitForExchanges(2);
    assert.equal(x!.response?.source, 'rule');
    assert.equal(x!.response?.statusCode, 503);
    assert.equal(x!.bytes.response, res.body.length);
    assert.deepEqual(ruleRecord(x, 'canned').changes, [{ action: 'respond', target: 'response', after: `HTTP 503, ${res.body.length} bytes` }]);
    assert.equal(x!.error, undefined);
  });

  it('respond with file: (relative to the rule file) sends the file\'s bytes', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const dir = await ruleFolder(t);
    const page = Buffer.concat([Buffer.from('<html><body>canned</body></html>\n'), Buffer.from([0, 0xff, 0x0d, 0x0a])]);
    await writeFile(join(dir, 'page.html'), page);
    const file = await writeRules(t, `
rules:
  - id: from-file
    match: { path: "/page" }
    actions:
      - respond: { status: 200, headers: { Content-Type: text/html }, file: page.html }
`, 'rules.yaml', dir);
    const proxy = await startProxy({ rules: [file], seed: SEED });
    t.after(() => proxy.close());
    const { req, response } = startRequest(proxy.port, `${upstream.url}/page`, { headers: { Host: new URL(upstream.url).host }, timeoutMs: 5000 });
    req.end();
    const res = await response;
    assert.equal(res.statusCode, 200);
    assert.equal(header(res.rawHeaders, 'Content-Type'), 'text/html');
    assert.deepEqual(res.body, page);
    assert.equal(upstream.requests.length, 0);
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(ruleRecord(x, 'from-file').outcome, 'applied');
    assert.match(ruleRecord(x, 'from-file').explain, /page\.html/);
  });

  it('status: the client gets 503 with the upstream\'s headers and body; the record keeps the upstream\'s 200', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: unavailable
    match: { path: /a }
    actions:
      - status: 503
`);
    const { req, response } = startRequest(proxy.port, `${upstream.url}/a`, { headers: { Host: new URL(upstream.url).host }, timeoutMs: 5000 });
    req.end();
    const res = await response;
    assert.equal(onlyRequest(upstream).url, '/a');
    assert.equal(res.statusCode, 503);
    assert.equal(res.statusMessage, 'Service Unavailable');
    assert.equal(res.body.toString(), 'ok');
    assert.equal(header(res.rawHeaders, 'Content-Type'), 'text/plain');
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(x!.response?.statusCode, 503);
    assert.equal(x!.response?.source, 'upstream');
    assert.equal(x!.upstreamResponse?.statusCode, 200);
    assert.deepEqual(ruleRecord(x, 'unavailable').changes, [{ action: 'status', target: 'status', before: '200 OK', after: '503 Service Unavailable' }]);
    assert.equal(ruleRecord(x, 'unavailable').stage, 'request-head');
  });

  it(
    'status: 204 turns the answer bodyless: no body and no Content-Length reach the client',
    async (t) => {
      const upstream = await startRecordingServer();
      t.after(() => upstream.close());
      const proxy = await rulesProxy(t, `
rules:
  - id: no-content
    match: { path: /a }
    actions:
      - status: 204
`);
      const conn = await RawConnection.open(proxy.port);
      t.after(() => conn.destroy());
      const res = await conn.request(`GET ${upstream.url}/a HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`, 3000);
      assert.equal(res.statusCode, 204);
      assert.equal(res.body.length, 0);
      assert.equal(header(res.rawHeaders, 'Content-Length'), undefined, `head: ${res.headLines.join(' | ')}`);
    },
  );

  it('setHeader and removeHeader on the request: the upstream sees the edit, the record has before and after', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: edit-request
    match: { path: /h }
    actions:
      - setHeader: { name: X-Added, value: "new" }
      - setHeader: { name: User-Agent, value: "Rewritten/1.0" }
      - removeHeader: X-Secret
`);
    const { req, response } = startRequest(proxy.port, `${upstream.url}/h`, {
      headers: ['Host', new URL(upstream.url).host, 'User-Agent', 'Original/2.0', 'X-Secret', 'a', 'Accept', '*/*', 'X-Secret', 'b'],
      timeoutMs: 5000,
    });
    req.end();
    const res = await response;
    assert.equal(res.statusCode, 200);
    const seen = onlyRequest(upstream);
    assert.equal(header(seen.rawHeaders, 'X-Added'), 'new');
    assert.equal(header(seen.rawHeaders, 'User-Agent'), 'Rewritten/1.0');
    assert.deepEqual(headers(seen.rawHeaders, 'X-Secret'), []);
    assert.deepEqual(headerNames(seen.rawHeaders).filter((n) => n !== 'connection'), ['host', 'user-agent', 'accept', 'x-added'], 'edited in place, added at the end');
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(headers(x!.request.rawHeaders, 'X-Secret'), ['a', 'b']);
    assert.equal(header(x!.forwarded?.rawHeaders ?? [], 'User-Agent'), 'Rewritten/1.0');
    assert.deepEqual(ruleRecord(x, 'edit-request').changes, [
      { action: 'setHeader', target: 'X-Added', after: 'new' },
      { action: 'setHeader', target: 'User-Agent', before: 'Original/2.0', after: 'Rewritten/1.0' },
      { action: 'removeHeader', target: 'X-Secret', before: 'a, b' },
    ]);
  });

  it('setHeader and removeHeader with on: response: the client sees the edit, the record keeps the upstream\'s head', async (t) => {
    const upstream = await startRecordingServer((_seen, res) => {
      res.writeHead(200, [ 'Content-Type', 'text/plain', 'Server', 'Upstream/1.0', 'X-Powered-By', 'ASP.NET', 'Content-Length', '2' ]);
      res.end('ok');
    });
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: edit-response
    match: { path: /r }
    actions:
      - setHeader: { name: Server, value: "Proxy-Made/2.0", on: response }
      - removeHeader: { name: X-Powered-By, on: response }
      - setHeader: { name: X-To-Upstream, value: "1", on: request }
`);
    const { req, response } = startRequest(proxy.port, `${upstream.url}/r`, { headers: { Host: new URL(upstream.url).host }, timeoutMs: 5000 });
    req.end();
    const res = await response;
    assert.equal(header(onlyRequest(upstream).rawHeaders, 'X-To-Upstream'), '1');
    assert.equal(header(onlyRequest(upstream).rawHeaders, 'Server'), undefined, 'the response edit did not touch the request');
    assert.equal(header(res.rawHeaders, 'Server'), 'Proxy-Made/2.0');
    assert.equal(header(res.rawHeaders, 'X-Powered-By'), undefined);
    assert.equal(res.body.toString(), 'ok');
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(header(x!.upstreamResponse?.rawHeaders ?? [], 'Server'), 'Upstream/1.0');
    assert.equal(header(x!.upstreamResponse?.rawHeaders ?? [], 'X-Powered-By'), 'ASP.NET');
    assert.equal(header(x!.response?.rawHeaders ?? [], 'Server'), 'Proxy-Made/2.0');
    const changes = ruleRecord(x, 'edit-response').changes;
    assert.deepEqual(
      [...changes].sort((a, b) => a.target.localeCompare(b.target)),
      [
        { action: 'setHeader', target: 'Server', before: 'Upstream/1.0', after: 'Proxy-Made/2.0' },
        { action: 'setHeader', target: 'X-To-Upstream', after: '1' },
        { action: 'removeHeader', target: 'X-Powered-By', before: 'ASP.NET' },
      ].sort((a, b) => a.target.localeCompare(b.target)),
    );
  });

  it('setHeader on the response of a rule answer (reject): the header is on the refusal too', async (t) => {
    const upstream = await startRecordingServer();
    t.after(() => upstream.close());
    const proxy = await rulesProxy(t, `
rules:
  - id: tag
    priority: 10
    match: { path: /x }
    actions:
      - setHeader: { name: X-Tagged, value: "yes", on: response }
  - id: refuse
    match: { path: /x }
    actions:
      - reject: 429
`);
    const { req, response } = startRequest(proxy.port, `${upstream.url}/x`, { headers: { Host: new URL(upstream.url).host }, timeoutMs: 5000 });
    req.end();
    const res = await response;
    assert.equal(res.statusCode, 429);
    assert.equal(header(res.rawHeaders, 'X-Tagged'), 'yes');
    assert.equal(upstream.requests.length, 0);
  });
});

// Reverse mode takes the same path through the rules: one action shown there too.
describe('actions in reverse mode', () => {
  it('clientVersion on FPSE through a reverse proxy', async (t) => {
    const upstream = await fpseBehindRelay(t);
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, `
rules:
  - id: rev
    match: { protocol: fpse, fpseMethod: server version }
    actions:
      - clientVersion: "6.0.2.5523"
`);
    const { req, response } = startRequest(proxy.port, SHTML, {
      method: 'POST',
      headers: { Host: proxy.upstreamAuthority, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': '41' },
      timeoutMs: 5000,
    });
    req.end('method=server+version%3a12%2e0%2e0%2e6415');
    const res = await withTimeout(response, 5000, 'the reverse answer');
    assert.equal(methodLine(res.body), 'server version:6.0.2.5523');
    assert.equal(onlyRequest(upstream).body.toString(), 'method=server+version%3a6%2e0%2e2%2e5523');
  });
});
