/**
 * Every matcher through the real proxy (issue 4 item 3; docs/rules.md): for each, one
 * request that matches and one that does not, told apart on the wire (a matching rule tags the
 * request the upstream receives, or the response the client receives when the rule can only
 * decide on the response) and on the record (`rules`, with the stage the rule was decided in).
 * Then the order of rules: priority, final actions, and the gates `skip`, `every`, `times` and
 * `chance`, whose decisions repeat across two proxies with the same seed (issue 4 item 5).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import type { Exchange } from '../src/core/exchange.js';
import { header, parseResponse, startRequest, withTimeout, type CollectedResponse, type ParsedResponse } from './helpers/client.js';
import { EMSMDB, FPSE_HEADERS, SHTML, AUTHOR, fpseServer, mapiServer } from './helpers/protocol.js';
import type { TestProxy } from './helpers/proxy.js';
import { outcomes, recordingRelay, ruleRecord, rulesProxy } from './helpers/rule-files.js';
import { startRecordingServer, type RecordingServer, type SeenRequest } from './helpers/servers.js';

const OUTLOOK = 'Outlook/16.0.15928.20006';

async function recorder(t: TestContext, answer?: Parameters<typeof startRecordingServer>[0]): Promise<RecordingServer> {
  const upstream = await startRecordingServer(answer);
  t.after(() => upstream.close());
  return upstream;
}

/** One request through the forward proxy to `origin` + `path`; `headers` beside Host. */
function send(proxy: TestProxy, origin: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<CollectedResponse> {
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const all: Record<string, string> = { Host: new URL(origin).host, ...(body !== undefined && { 'Content-Length': String(body.length) }), ...options.headers };
  const { req, response } = startRequest(proxy.port, `${origin}${path}`, { method: options.method ?? 'GET', headers: all, timeoutMs: 5000 });
  req.end(body);
  return response;
}

function mapi(proxy: TestProxy, origin: string, type: string, extra: Record<string, string> = {}): Promise<CollectedResponse> {
  return send(proxy, origin, EMSMDB, {
    method: 'POST',
    headers: { 'Content-Type': 'application/mapi-http', 'X-RequestType': type, 'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1', 'X-ClientInfo': '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1', 'X-ClientApplication': OUTLOOK, ...extra },
    body: Buffer.alloc(0),
  });
}

function fpse(proxy: TestProxy, origin: string, path: string, body: string): Promise<CollectedResponse> {
  return send(proxy, origin, path, { method: 'POST', headers: { ...FPSE_HEADERS }, body });
}

/** The tag a matching rule put on a request the upstream received. */
function tagOf(seen: SeenRequest | undefined): string | undefined {
  assert.ok(seen, 'the upstream received the request');
  return header(seen.rawHeaders, 'X-Matched');
}

/** The finished exchange whose request-target ends with `path` (the n-th such, default first). */
function exchangeFor(proxy: TestProxy, path: string, n = 0): Exchange {
  const found = proxy.exchanges.filter((x) => x.request.url.endsWith(path))[n];
  assert.ok(found, `no exchange #${n} for ${path}; have ${proxy.exchanges.map((x) => x.request.url).join(', ')}`);
  return found;
}

/** A rule set with one rule per matcher, each tagging the request with its id. */
function tagRule(id: string, match: string, on: 'request' | 'response' = 'request'): string {
  return `
  - id: ${id}
    match: ${match}
    actions:
      - setHeader: { name: X-Matched, value: ${id}${on === 'response' ? ', on: response' : ''} }
`;
}

/** A raw GET from a chosen local address (the `client` matcher reads the peer address). */
async function getFrom(localAddress: string, proxyPort: number, upstream: RecordingServer, path: string): Promise<ParsedResponse> {
  const socket = net.connect({ port: proxyPort, host: '127.0.0.1', localAddress });
  const received: Buffer[] = [];
  try {
    return await withTimeout(
      new Promise<ParsedResponse>((resolve, reject) => {
        socket.on('error', reject);
        socket.on('data', (d: Buffer) => {
          received.push(d);
          const parsed = parseResponse(Buffer.concat(received));
          if (parsed) resolve(parsed);
        });
        socket.on('connect', () => socket.write(`GET ${upstream.url}${path} HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`));
      }),
      5000,
      `the answer to a request from ${localAddress}`,
    );
  } finally {
    socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

describe('matchers on the wire', () => {
  it('host (glob): a request for 127.0.0.2 matches *.0.0.2, one for 127.0.0.1 does not', async (t) => {
    const one = await recorder(t);
    // A second upstream on another loopback address, so the two requests differ only in host.
    const seenOnTwo: SeenRequest[] = [];
    const two = http.createServer((req, res) => {
      seenOnTwo.push({ method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), socket: 0, at: 0 });
      req.resume();
      res.end('two');
    });
    await new Promise<void>((resolve) => two.listen(0, '127.0.0.2', resolve));
    t.after(() => new Promise<void>((resolve) => { two.close(() => resolve()); two.closeAllConnections(); }));
    const twoUrl = `http://127.0.0.2:${(two.address() as AddressInfo).port}`;

    const proxy = await rulesProxy(t, `rules:${tagRule('by-host', '{ host: "*.0.0.2" }')}`);
    assert.equal((await send(proxy, twoUrl, '/h')).body.toString(), 'two');
    await send(proxy, one.url, '/h');
    assert.equal(tagOf(seenOnTwo[0]), 'by-host');
    assert.equal(tagOf(one.requests[0]), undefined);
    await proxy.waitForExchanges(2);
    const matched = proxy.exchanges.find((x) => x.url.startsWith(twoUrl))!;
    assert.equal(ruleRecord(matched, 'by-host').stage, 'request-head');
    assert.equal(ruleRecord(matched, 'by-host').explain, 'when host matches *.0.0.2: set request header X-Matched: by-host');
    assert.equal(proxy.exchanges.find((x) => x.url.startsWith(one.url))!.rules, undefined, 'a rule that did not match is not on the record');
  });

  it('path: a glob reads the path without the query (any case); a /regex/ reads the query too', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('glob', '{ path: "/docs/*.txt" }')}${tagRule('regex', "{ path: '/^.api.v[0-9]+.items[?]debug=1$/' }")}`);
    const paths = ['/docs/a.txt', '/DOCS/B.TXT?x=1', '/docs/a.pdf', '/api/v2/items?debug=1', '/api/v2/items', '/api/vx/items?debug=1'];
    for (const path of paths) await send(proxy, upstream.url, path);
    assert.deepEqual(
      upstream.requests.map((r) => [r.url, tagOf(r) ?? '-']),
      [
        ['/docs/a.txt', 'glob'],
        ['/DOCS/B.TXT?x=1', 'glob'],
        ['/docs/a.pdf', '-'],
        ['/api/v2/items?debug=1', 'regex'],
        ['/api/v2/items', '-'],
        ['/api/vx/items?debug=1', '-'],
      ],
    );
    await proxy.waitForExchanges(paths.length);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/docs/a.txt')), ['glob applied']);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/api/v2/items?debug=1')), ['regex applied']);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/docs/a.pdf')), []);
  });

  it('method: [PUT, DELETE] matches a PUT, not a GET', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('writes', '{ method: [PUT, DELETE] }')}`);
    await send(proxy, upstream.url, '/m', { method: 'PUT', body: 'x' });
    await send(proxy, upstream.url, '/m');
    assert.deepEqual(upstream.requests.map((r) => [r.method, tagOf(r) ?? '-']), [['PUT', 'writes'], ['GET', '-']]);
    await proxy.waitForExchanges(2);
    assert.deepEqual(proxy.exchanges.map(outcomes), [['writes applied'], []]);
  });

  it('protocol: mapihttp matches a MAPI/HTTP POST, not an FPSE one', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('mapi-only', '{ protocol: mapihttp }')}`);
    await mapi(proxy, upstream.url, 'Connect');
    await fpse(proxy, upstream.url, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.deepEqual(upstream.requests.map((r) => [r.url, tagOf(r) ?? '-']), [[EMSMDB, 'mapi-only'], [SHTML, '-']]);
    await proxy.waitForExchanges(2);
    assert.deepEqual(outcomes(exchangeFor(proxy, EMSMDB)), ['mapi-only applied']);
    assert.deepEqual(outcomes(exchangeFor(proxy, SHTML)), []);
  });

  it('requestType: Execute matches X-RequestType Execute (any case), not Connect', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('execute', '{ requestType: Execute }')}`);
    await mapi(proxy, upstream.url, 'Execute');
    await mapi(proxy, upstream.url, 'execute');
    await mapi(proxy, upstream.url, 'Connect');
    assert.deepEqual(upstream.requests.map((r) => [header(r.rawHeaders, 'X-RequestType'), tagOf(r) ?? '-']), [['Execute', 'execute'], ['execute', 'execute'], ['Connect', '-']]);
    await proxy.waitForExchanges(3);
    assert.equal(ruleRecord(proxy.exchanges[0], 'execute').stage, 'request-head');
  });

  it('fpseMethod: "open service" matches that method (decided on the body\'s first line), not "server version"', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('open', '{ fpseMethod: open service }')}`);
    await fpse(proxy, upstream.url, AUTHOR, 'method=open+service%3a12%2e0%2e0%2e6415&service%5fname=%2f');
    await fpse(proxy, upstream.url, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.deepEqual(upstream.requests.map((r) => [r.url, tagOf(r) ?? '-']), [[AUTHOR, 'open'], [SHTML, '-']]);
    // The body went through whole either way.
    assert.equal(upstream.requests[0]!.body.toString(), 'method=open+service%3a12%2e0%2e0%2e6415&service%5fname=%2f');
    await proxy.waitForExchanges(2);
    assert.equal(ruleRecord(exchangeFor(proxy, AUTHOR), 'open').stage, 'request-body');
    assert.deepEqual(outcomes(exchangeFor(proxy, SHTML)), []);
  });

  it('clientVersion: a MAPI/HTTP range on X-ClientApplication and an FPSE range on the method line', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('new-outlook', '{ protocol: mapihttp, clientVersion: ">= 16" }')}${tagRule('old-fpse', '{ protocol: fpse, clientVersion: "< 4.0.2.2611" }')}`);
    await mapi(proxy, upstream.url, 'Connect');
    await mapi(proxy, upstream.url, 'Connect', { 'X-ClientApplication': 'Outlook/14.0.7268.5000' });
    await fpse(proxy, upstream.url, SHTML, 'method=server+version%3a3%2e0%2e2%2e1000');
    await fpse(proxy, upstream.url, SHTML, 'method=server+version%3a4%2e0%2e2%2e2611');
    assert.deepEqual(upstream.requests.map((r) => tagOf(r) ?? '-'), ['new-outlook', '-', 'old-fpse', '-']);
    await proxy.waitForExchanges(4);
    const byOrder = (n: number): Exchange => proxy.exchanges.filter((x) => x.request.url.endsWith(SHTML))[n]!;
    assert.equal(ruleRecord(byOrder(0), 'old-fpse').stage, 'request-body');
    assert.deepEqual(outcomes(byOrder(1)), [], '4.0.2.2611 is the floor itself: not older');
  });

  it('serverVersion (MAPI/HTTP): decided on the response head; the tag goes on the response', async (t) => {
    // Answers with the X-ServerApplication the request asks for.
    const upstream = await recorder(t, (seen, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'X-ServerApplication': header(seen.rawHeaders, 'X-Want-Server') ?? '', 'X-ResponseCode': '0', 'Content-Length': '0' });
      res.end();
    });
    const proxy = await rulesProxy(t, `rules:${tagRule('before-2016', '{ protocol: mapihttp, serverVersion: "< 15.1" }', 'response')}`);
    const old = await mapi(proxy, upstream.url, 'Connect', { 'X-Want-Server': 'Exchange/15.00.0847.032' });
    const current = await mapi(proxy, upstream.url, 'Connect', { 'X-Want-Server': 'Exchange/15.02.1544.014' });
    assert.equal(header(old.rawHeaders, 'X-Matched'), 'before-2016');
    assert.equal(header(current.rawHeaders, 'X-Matched'), undefined);
    assert.deepEqual(upstream.requests.map((r) => tagOf(r) ?? '-'), ['-', '-'], 'a response rule does not touch the request');
    await proxy.waitForExchanges(2);
    assert.equal(ruleRecord(proxy.exchanges[0], 'before-2016').stage, 'response-head');
    assert.deepEqual(outcomes(proxy.exchanges[1]), []);
  });

  it('serverVersion (FPSE): decided on the packet\'s server version list; the tag goes on the response', async (t) => {
    const old = await fpseServer(t, { version: '5.0.2.6790' });
    const current = await fpseServer(t, { version: '14.0.0.6029' });
    const proxy = await rulesProxy(t, `rules:${tagRule('pre-wss', '{ protocol: fpse, serverVersion: "< 6" }', 'response')}`);
    const a = await fpse(proxy, old.url, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    const b = await fpse(proxy, current.url, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415');
    assert.equal(header(a.rawHeaders, 'X-Matched'), 'pre-wss');
    assert.match(a.body.toString(), /major ver=5\n/, 'the packet itself passes as the server wrote it');
    assert.equal(header(b.rawHeaders, 'X-Matched'), undefined);
    await proxy.waitForExchanges(2);
    const x = proxy.exchanges.find((e) => e.url.startsWith(old.url))!;
    assert.equal(ruleRecord(x, 'pre-wss').stage, 'response-body');
    assert.equal(ruleRecord(x, 'pre-wss').outcome, 'applied');
    assert.deepEqual(outcomes(proxy.exchanges.find((e) => e.url.startsWith(current.url))), []);
  });

  it('header: presence, /regex/ and an exact value, all required', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('flagged', '{ header: { X-Flag: true, X-Build: "/^1[0-9]$/", X-Mode: "test" } }')}`);
    await send(proxy, upstream.url, '/1', { headers: { 'X-Flag': '', 'X-Build': '15', 'X-Mode': 'test' } });
    await send(proxy, upstream.url, '/2', { headers: { 'X-Build': '15', 'X-Mode': 'test' } });
    await send(proxy, upstream.url, '/3', { headers: { 'X-Flag': '1', 'X-Build': '9', 'X-Mode': 'test' } });
    await send(proxy, upstream.url, '/4', { headers: { 'X-Flag': '1', 'X-Build': '15', 'X-Mode': 'test2' } });
    assert.deepEqual(upstream.requests.map((r) => [r.url, tagOf(r) ?? '-']), [['/1', 'flagged'], ['/2', '-'], ['/3', '-'], ['/4', '-']]);
    await proxy.waitForExchanges(4);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/1')), ['flagged applied']);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/2')), []);
  });

  it('client: an address matches only that peer; a CIDR matches the block', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `rules:${tagRule('from-two', '{ client: "127.0.0.2" }')}${tagRule('loopback', '{ client: "127.0.0.0/8" }')}`);
    await getFrom('127.0.0.2', proxy.port, upstream, '/from-2');
    await getFrom('127.0.0.1', proxy.port, upstream, '/from-1');
    // Both rules set the same header: the later one (in file order) wins on the wire.
    assert.deepEqual(upstream.requests.map((r) => [r.url, tagOf(r) ?? '-']), [['/from-2', 'loopback'], ['/from-1', 'loopback']]);
    await proxy.waitForExchanges(2);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/from-2')), ['from-two applied', 'loopback applied']);
    assert.deepEqual(outcomes(exchangeFor(proxy, '/from-1')), ['loopback applied']);
    assert.equal(exchangeFor(proxy, '/from-2').client.address, '127.0.0.2');
  });
});

// ---------------------------------------------------------------------------------------------

describe('priority, final actions and gates', () => {
  it('a final action in the higher-priority rule stops the other: the upstream sees nothing, the other never runs', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: tag-first-in-file
    match: { path: /p }
    actions:
      - setHeader: { name: X-Matched, value: tag }
  - id: refuse
    priority: 5
    match: { path: /p }
    actions:
      - reject: 403
`);
    const res = await send(proxy, upstream.url, '/p');
    assert.equal(res.statusCode, 403);
    assert.equal(upstream.requests.length, 0);
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(outcomes(x), ['refuse applied'], 'the cut-off rule is not on the record');
  });

  it('without priority, file order decides: a non-final rule first, then the final one (the answer carries both)', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: tag
    match: { path: /p }
    actions:
      - setHeader: { name: X-Matched, value: tag, on: response }
  - id: refuse
    match: { path: /p }
    actions:
      - reject: 403
  - id: never
    match: { path: /p }
    actions:
      - setHeader: { name: X-Never, value: "1", on: response }
`);
    const res = await send(proxy, upstream.url, '/p');
    assert.equal(res.statusCode, 403);
    assert.equal(header(res.rawHeaders, 'X-Matched'), 'tag');
    assert.equal(header(res.rawHeaders, 'X-Never'), undefined, 'rules after the final action do not run');
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(outcomes(x), ['tag applied', 'refuse applied']);
  });

  it('a final rule cut off by priority keeps its `times` for later exchanges', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: first-two
    priority: 9
    times: 2
    match: { path: /q }
    actions:
      - reject: 429
  - id: once
    times: 1
    match: { path: /q }
    actions:
      - reject: 503
`);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(proxy, upstream.url, '/q')).statusCode);
    assert.deepEqual(statuses, [429, 429, 503, 200]);
    assert.equal(upstream.requests.length, 1);
    await proxy.waitForExchanges(4);
    assert.deepEqual(proxy.exchanges.map(outcomes), [['first-two applied'], ['first-two applied'], ['first-two passed', 'once applied'], ['first-two passed', 'once passed']]);
    assert.match(ruleRecord(proxy.exchanges[3], 'once').reason ?? '', /^times 1/);
  });

  it('skip, every and times: which exchanges fire, on the wire and on the record', async (t) => {
    const upstream = await recorder(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: skip2
    skip: 2
    match: { path: /g }
    actions:
      - setHeader: { name: X-Skip, value: "1" }
  - id: every3
    every: 3
    match: { path: /g }
    actions:
      - setHeader: { name: X-Every, value: "1" }
  - id: times2
    times: 2
    match: { path: /g }
    actions:
      - setHeader: { name: X-Times, value: "1" }
`);
    for (let i = 0; i < 6; i++) await send(proxy, upstream.url, '/g');
    const fired = (name: string): number[] => upstream.requests.map((r, i) => (header(r.rawHeaders, name) === undefined ? -1 : i + 1)).filter((n) => n > 0);
    assert.deepEqual(fired('X-Skip'), [3, 4, 5, 6]);
    assert.deepEqual(fired('X-Every'), [3, 6]);
    assert.deepEqual(fired('X-Times'), [1, 2]);
    await proxy.waitForExchanges(6);
    assert.deepEqual(outcomes(proxy.exchanges[0]), ['skip2 passed', 'every3 passed', 'times2 applied']);
    assert.match(ruleRecord(proxy.exchanges[0], 'skip2').reason ?? '', /^skip 2/);
    assert.match(ruleRecord(proxy.exchanges[0], 'every3').reason ?? '', /^every 3/);
    assert.deepEqual(outcomes(proxy.exchanges[5]), ['skip2 applied', 'every3 applied', 'times2 passed']);
  });

  it('chance with seed 42: two proxies make the same decisions, and they are not all the same', async (t) => {
    const upstream = await recorder(t);
    const yaml = `
rules:
  - id: coin
    chance: 0.5
    match: { path: /c }
    actions:
      - setHeader: { name: X-Coin, value: heads }
  - id: rare
    chance: 0.2
    match: { path: /c }
    actions:
      - setHeader: { name: X-Rare, value: "1" }
`;
    const run = async (): Promise<string[]> => {
      const proxy = await rulesProxy(t, yaml);
      const from = upstream.requests.length;
      for (let i = 0; i < 12; i++) await send(proxy, upstream.url, '/c');
      const xs = await proxy.waitForExchanges(12);
      const wire = upstream.requests.slice(from).map((r) => `${header(r.rawHeaders, 'X-Coin') ?? '-'}/${header(r.rawHeaders, 'X-Rare') ?? '-'}`);
      const record = xs.map((x) => outcomes(x).join(','));
      // The wire agrees with the record.
      xs.forEach((x, i) => assert.equal(ruleRecord(x, 'coin').outcome === 'applied', wire[i]!.startsWith('heads'), `exchange ${i}`));
      return [...wire, ...record];
    };
    const [a, b] = [await run(), await run()];
    assert.deepEqual(b, a, 'same seed, same traffic: same decisions');
    const coins = a.slice(0, 12).map((w) => w.startsWith('heads'));
    assert.ok(coins.includes(true) && coins.includes(false), `chance 0.5 both fired and passed in 12 tries (${a.slice(0, 12).join(' ')})`);
  });

  it('a different seed gives a different sequence (the seed is really used)', async (t) => {
    const upstream = await recorder(t);
    const yaml = `
rules:
  - id: coin
    chance: 0.5
    match: { path: /c }
    actions:
      - setHeader: { name: X-Coin, value: heads }
`;
    const run = async (seed: number): Promise<string> => {
      const proxy = await rulesProxy(t, yaml, { seed });
      const xs: Exchange[] = [];
      for (let i = 0; i < 16; i++) {
        await send(proxy, upstream.url, '/c');
        xs.push((await proxy.waitForExchanges(i + 1))[i]!);
      }
      return xs.map((x) => (ruleRecord(x, 'coin').outcome === 'applied' ? 'H' : 'T')).join('');
    };
    const forty2 = await run(42);
    assert.equal(await run(42), forty2);
    assert.notEqual(await run(7), forty2);
  });
});

// The simulators answer through the relay: matchers judge the same exchange the simulators see.
describe('matchers against the simulators', () => {
  it('requestType and clientVersion on a MAPI/HTTP simulator: only the matching request is refused', async (t) => {
    const server = await mapiServer(t);
    const relay = await recordingRelay(t, server.url);
    const proxy = await rulesProxy(t, `
rules:
  - id: old-outlook-connect
    match: { requestType: Connect, clientVersion: "< 15" }
    actions:
      - reject: endpoint-disabled
`);
    const refused = await mapi(proxy, relay.url, 'Connect', { 'X-ClientApplication': 'Outlook/14.0.7268.5000' });
    const accepted = await mapi(proxy, relay.url, 'Connect');
    assert.equal(header(refused.rawHeaders, 'X-ResponseCode'), '16');
    assert.equal(header(accepted.rawHeaders, 'X-ResponseCode'), '0');
    assert.equal(relay.requests.length, 1);
    assert.equal(header(relay.requests[0]!.rawHeaders, 'X-ClientApplication'), OUTLOOK);
  });
});
