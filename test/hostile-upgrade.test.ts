/**
 * Hostile input, part 2 of issue 21: `Connection: Upgrade` + `Upgrade: anything` must not be a way
 * around the rules and the protocol observers. Node hands such a request to the proxy's upgrade
 * path (upgrade.ts), which used to forward it untouched. Here, with real sockets: request-side
 * actions (reject, setHeader) and response-side ones on a declined upgrade apply as on any request;
 * an Upgrade request that carries a body (RFC 9110 §7.8: a server may ignore Upgrade and answer
 * normally) reaches the upstream whole instead of timing out; an MAPI/HTTP or FPSE request with
 * Upgrade is still observed; and a real WebSocket beside a rule that does not match it is still
 * relayed. Each case checks what the client got, what the upstream received, what the record
 * says, and that a well-behaved client is still served.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { parseTarget } from '../src/config.js';
import { header, headers, RawConnection, rawRequest, waitUntil, withTimeout } from './helpers/client.js';
import { EMSMDB, FPSE_HEADERS, SHTML, closeLater, fpseServer, mapiServer, protocolOf } from './helpers/protocol.js';
import { recordingRelay, ruleRecord, rulesProxyFor } from './helpers/rule-files.js';
import { startProxy, type ModeProxy } from './helpers/proxy.js';
import { startRecordingServer, startServer, type RecordingServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: anything\r\n';

/** An upstream that records plain requests and answers 101 to upgrades, recording their heads. */
async function upgradeUpstream(t: TestContext): Promise<RecordingServer & { upgrades: string[][] }> {
  const upstream = closeLater(t, await startRecordingServer());
  const upgrades: string[][] = [];
  upstream.server.on('upgrade', (req: { rawHeaders: string[] }, socket: net.Socket) => {
    upgrades.push(req.rawHeaders);
    socket.on('error', () => undefined);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: anything\r\n\r\n');
    socket.on('data', (chunk: Buffer) => socket.write(chunk)); // echo, the switched protocol
    socket.once('end', () => socket.end());
  });
  return Object.assign(upstream, { upgrades });
}

/** A plain request through the same proxy still gets its answer: the proxy kept serving. */
async function stillServes(proxy: ModeProxy): Promise<void> {
  const { response } = await rawRequest(proxy.port, `GET ${proxy.target('/healthy')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n\r\n`);
  assert.equal(response?.statusCode, 200, 'a well-behaved client is still served');
}

/**
 * Writes `bytes` on a fresh connection to the proxy and reports how it ended; the client gives up
 * (destroys its socket) after `giveUpMs` when the proxy never ends it (a hang).
 */
function endingOf(port: number, bytes: string, giveUpMs = 3000): Promise<{ error?: string; received: Buffer; ended: boolean; gaveUp: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    const timer = setTimeout(() => socket.destroy(), giveUpMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => (ended = true));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      const gaveUp = !ended && error === undefined;
      clearTimeout(timer);
      resolve({ ...(error !== undefined && { error }), received: Buffer.concat(chunks), ended, gaveUp });
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

describe('hostile: Upgrade does not bypass rules or observers', () => {
  it('reject on an Upgrade request: the client gets 403, the upstream sees nothing, the record names the rule', async (t) => {
    const upstream = await upgradeUpstream(t);
    const proxy = await rulesProxyFor(t, 'forward', upstream.port, 'rules:\n  - id: no-admin\n    match: { path: "/admin*" }\n    actions:\n      - reject: 403\n');
    const { response } = await rawRequest(proxy.port, `GET ${proxy.target('/admin/panel')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}\r\n`);
    assert.equal(response?.statusCode, 403);
    const [exchange] = await proxy.waitForExchanges(1);
    assert.equal(exchange!.response?.statusCode, 403);
    assert.equal(exchange!.response?.source, 'rule');
    assert.equal(ruleRecord(exchange, 'no-admin').outcome, 'applied');
    assert.equal(exchange!.forwarded, undefined, 'the record does not claim a forwarded head');
    await stillServes(proxy);
    assert.deepEqual(upstream.upgrades, [], 'the upstream never saw the upgrade request');
    assert.deepEqual(upstream.requests.map((r) => r.url), ['/healthy']);
  });

  it('setHeader reaches the upstream of an upgrade, and the 101 and the switched bytes still pass', async (t) => {
    const upstream = await upgradeUpstream(t);
    const proxy = await rulesProxyFor(
      t,
      'reverse',
      upstream.port,
      'rules:\n  - id: tag\n    match: { path: "/chat" }\n    actions:\n      - setHeader: { name: X-Tagged, value: "yes" }\n      - removeHeader: X-Secret\n',
    );
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const switched = await conn.request(`GET /chat HTTP/1.1\r\nHost: x\r\nX-Secret: s3\r\n${UPGRADE}\r\n`, 5000, { head: true });
    assert.equal(switched.statusCode, 101);
    await conn.write('ping-bytes');
    await conn.waitFor((unread) => unread.includes('ping-bytes'), 3000, 'the echo through the switched connection');
    assert.equal(upstream.upgrades.length, 1);
    const seen = upstream.upgrades[0]!;
    assert.equal(header(seen, 'x-tagged'), 'yes');
    assert.equal(header(seen, 'x-secret'), undefined);
    assert.equal(header(seen, 'upgrade'), 'anything', 'the upgrade itself is still forwarded');
    conn.destroy();
    const [exchange] = await proxy.waitForExchanges(1);
    assert.equal(exchange!.kind, 'upgrade');
    assert.equal(ruleRecord(exchange, 'tag').outcome, 'applied');
    assert.equal(header(exchange!.forwarded!.rawHeaders, 'x-tagged'), 'yes');
    await stillServes(proxy);
  });

  it('respond (after a delay), close, reset and hang end an Upgrade request before the upstream sees it', async (t) => {
    const upstream = await upgradeUpstream(t);
    const proxy = await rulesProxyFor(
      t,
      'forward',
      upstream.port,
      `rules:
  - id: canned
    match: { path: /canned }
    actions:
      - delay: 200ms
      - respond: { status: 200, headers: { X-Canned: "yes" }, body: "from the rule" }
  - id: drop
    match: { path: /drop }
    actions:
      - close: true
  - id: rst
    match: { path: /rst }
    actions:
      - reset: true
  - id: stall
    match: { path: /hang }
    actions:
      - hang: true
`,
    );
    const upgrade = (path: string): string => `GET ${proxy.target(path)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}\r\n`;

    const sentAt = Date.now();
    const canned = await rawRequest(proxy.port, upgrade('/canned'));
    assert.equal(canned.response?.statusCode, 200);
    assert.equal(header(canned.response.rawHeaders, 'x-canned'), 'yes');
    assert.equal(canned.response?.body.toString(), 'from the rule');
    // The delay is the rule's own, so a lower bound only (never an upper one).
    assert.ok(Date.now() - sentAt >= 190, 'the delay held the answer back');

    const dropped = await endingOf(proxy.port, upgrade('/drop'));
    assert.deepEqual({ received: dropped.received.length, error: dropped.error, ended: dropped.ended }, { received: 0, error: undefined, ended: true }, 'an orderly close, no answer');
    const reset = await endingOf(proxy.port, upgrade('/rst'));
    assert.equal(reset.error, 'ECONNRESET');
    assert.equal(reset.received.length, 0);
    const hung = await endingOf(proxy.port, upgrade('/hang'), 300);
    assert.equal(hung.gaveUp, true, 'never answered, the client gave up');
    assert.equal(hung.received.length, 0);

    const records = await proxy.waitForExchanges(4);
    for (const [id, path] of [['canned', '/canned'], ['drop', '/drop'], ['rst', '/rst'], ['stall', '/hang']] as const) {
      const x = records.find((r) => r.request.url === proxy.target(path));
      assert.equal(ruleRecord(x, id).outcome, 'applied', `${id} on the record`);
      assert.equal(x!.error, undefined, `${id}: an intended ending is not a traffic failure`);
      assert.equal(x!.forwarded, undefined);
    }
    assert.equal(records.find((r) => r.request.url === proxy.target('/canned'))!.response?.source, 'rule');
    await stillServes(proxy);
    assert.deepEqual(upstream.upgrades, [], 'the upstream saw none of them');
  });

  it('a response-side status rewrite applies when the upstream declines the upgrade', async (t) => {
    const upstream = closeLater(t, await startRecordingServer()); // no upgrade listener: answers 200
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, 'rules:\n  - id: teapot\n    match: { path: "/declined" }\n    actions:\n      - status: 418\n      - setHeader: { name: X-Seen, value: "rule", on: response }\n');
    const { response } = await rawRequest(proxy.port, `GET /declined HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`);
    assert.equal(response?.statusCode, 418);
    assert.equal(header(response.rawHeaders, 'x-seen'), 'rule');
    assert.equal(response?.body.toString(), 'ok', 'the upstream body is relayed');
    const [exchange] = await proxy.waitForExchanges(1);
    assert.equal(exchange!.response?.statusCode, 418);
    assert.equal(exchange!.upstreamResponse?.statusCode, 200);
    assert.equal(ruleRecord(exchange, 'teapot').outcome, 'applied');
    assert.deepEqual(upstream.requests.map((r) => r.url), ['/declined']);
    await stillServes(proxy);
  });

  it('response-side actions do not touch a 101; the record says why they did not run', async (t) => {
    const upstream = await upgradeUpstream(t);
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, 'rules:\n  - id: teapot\n    match: { path: "/chat" }\n    actions:\n      - status: 418\n');
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const switched = await conn.request(`GET /chat HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`, 5000, { head: true });
    assert.equal(switched.statusCode, 101, 'the switch is relayed as the upstream sent it');
    conn.destroy();
    const [exchange] = await proxy.waitForExchanges(1);
    const rule = ruleRecord(exchange, 'teapot');
    assert.equal(rule.outcome, 'skipped');
    assert.match(rule.reason ?? '', /switched protocols \(101\)/);
  });

  for (const framing of ['content-length', 'chunked'] as const) {
    it(`an Upgrade request with a body (${framing}) reaches the upstream whole and is answered`, async (t) => {
      const upstream = closeLater(t, await startRecordingServer());
      const proxy = await rulesProxyFor(t, 'forward', upstream.port, 'rules:\n  - id: tag\n    match: { path: "/upload" }\n    actions:\n      - setHeader: { name: X-Tagged, value: "yes" }\n');
      const body = 'hello, upgraded world';
      const framed =
        framing === 'content-length'
          ? `Content-Length: ${body.length}\r\n\r\n${body}`
          : `Transfer-Encoding: chunked\r\n\r\n7\r\n${body.slice(0, 7)}\r\n${(body.length - 7).toString(16)}\r\n${body.slice(7)}\r\n0\r\n\r\n`;
      const conn = await RawConnection.open(proxy.port);
      t.after(() => conn.destroy());
      // The head and the start of the body in one write, the rest later: both halves must arrive.
      const text = `POST ${proxy.target('/upload')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}${framed}`;
      const cut = text.indexOf('\r\n\r\n') + 9;
      await conn.write(text.slice(0, cut));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await conn.write(text.slice(cut));
      const response = await conn.readResponse(5000);
      assert.equal(response.statusCode, 200);
      assert.equal(response.body.toString(), 'ok');
      assert.equal(upstream.requests.length, 1);
      assert.equal(upstream.requests[0]!.body.toString(), body);
      assert.equal(header(upstream.requests[0]!.rawHeaders, 'x-tagged'), 'yes');
      // The proxy does not switch protocols after a body: Upgrade is hop-by-hop (RFC 9110 §7.6.1).
      assert.equal(header(upstream.requests[0]!.rawHeaders, 'upgrade'), undefined);
      // The connection is still HTTP: a second request on it is answered too.
      const again = await conn.request(`GET ${proxy.target('/healthy')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n\r\n`);
      assert.equal(again.statusCode, 200);
      const [exchange] = await proxy.waitForExchanges(2);
      assert.equal(exchange!.request.url, proxy.target('/upload'));
      assert.equal(header(exchange!.request.rawHeaders, 'upgrade'), 'anything', 'the record keeps the head as the client sent it');
      assert.equal(exchange!.bytes.request, body.length);
      assert.equal(ruleRecord(exchange, 'tag').outcome, 'applied');
      assert.deepEqual(
        headers(exchange!.request.rawHeaders, 'connection'),
        ['Upgrade'],
      );
    });
  }

  it('a request pipelined after an Upgrade request with a body, in the same packet, is answered too', async (t) => {
    const upstream = closeLater(t, await startRecordingServer());
    const proxy = await rulesProxyFor(t, 'forward', upstream.port, 'rules:\n  - id: unrelated\n    match: { path: "/nothing-here" }\n    actions:\n      - reject: 404\n');
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const host = `Host: ${proxy.upstreamAuthority}\r\n`;
    await conn.write(`POST ${proxy.target('/first')} HTTP/1.1\r\n${host}${UPGRADE}Content-Length: 5\r\n\r\nhelloGET ${proxy.target('/second')} HTTP/1.1\r\n${host}\r\n`);
    const first = await conn.readResponse(3000);
    const second = await conn.readResponse(3000);
    assert.deepEqual([first.statusCode, second.statusCode], [200, 200]);
    assert.deepEqual(upstream.requests.map((r) => `${r.url} ${r.body.toString()}`), ['/first hello', '/second ']);
    const records = await proxy.waitForExchanges(2);
    assert.deepEqual(records.map((r) => r.request.url).sort(), [proxy.target('/first'), proxy.target('/second')].sort());
  });

  it('an Upgrade request with a body and Expect: 100-continue gets the upstream\'s 100, then its answer', async (t) => {
    const upstream = closeLater(t, await startRecordingServer());
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, 'rules:\n  - id: unrelated\n    match: { path: "/nothing-here" }\n    actions:\n      - reject: 404\n');
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const cont = await conn.request(`PUT /doc HTTP/1.1\r\nHost: x\r\n${UPGRADE}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`, 3000);
    assert.equal(cont.statusCode, 100, 'the client waiting for 100 is not left hanging');
    const done = await conn.request('hello', 3000);
    assert.equal(done.statusCode, 200);
    assert.equal(upstream.requests[0]?.body.toString(), 'hello');
  });

  it('a connection kept alive after an Upgrade request with a body is closed by a shutdown, like any other', async (t) => {
    const upstream = closeLater(t, await startRecordingServer());
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, 'rules:\n  - id: unrelated\n    match: { path: "/nothing-here" }\n    actions:\n      - reject: 404\n');
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    const answered = await conn.request(`POST /a HTTP/1.1\r\nHost: x\r\n${UPGRADE}Content-Length: 2\r\n\r\nhi`, 3000);
    assert.equal(answered.statusCode, 200);
    await withTimeout(proxy.close(200), 3000, 'the proxy to close');
    await conn.waitForClose(3000, 'the idle connection to be closed by the shutdown');
    assert.equal(proxy.app.proxy.connectionCount(), 0);
  });

  it('over TLS (--tls): an Upgrade request with a body and one pipelined after it are both answered', async (t) => {
    const upstream = closeLater(t, await startRecordingServer());
    const caDir = tempDir(t);
    const proxy = await startProxy({ target: parseTarget(`http://127.0.0.1:${upstream.port}`), tls: true, interception: { caDir, intercept: ['*'], noIntercept: [] } });
    t.after(() => proxy.close());
    const socket = tls.connect({ host: '127.0.0.1', port: proxy.port, servername: 'localhost', ca: readFileSync(join(caDir, 'ca.pem'), 'utf8') });
    t.after(() => socket.destroy());
    socket.on('error', () => undefined);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await withTimeout(new Promise((resolve) => socket.once('secureConnect', resolve)), 5000, 'the TLS handshake');
    socket.write(`POST /first HTTP/1.1\r\nHost: x\r\n${UPGRADE}Content-Length: 5\r\n\r\nhelloGET /second HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitUntil(() => Buffer.concat(received).toString().split('HTTP/1.1 200').length === 3, 5000, 'two answers');
    assert.deepEqual(upstream.requests.map((r) => `${r.url} ${r.body.toString()}`), ['/first hello', '/second ']);
    const records = await proxy.waitForExchanges(2);
    assert.ok(records.every((r) => r.response?.statusCode === 200));
  });

  it('ambiguous body framings on an Upgrade request are refused before anything reaches the upstream', async (t) => {
    // Guards the replay (upgrade-replay.ts): the head parsed again must be refused as the first
    // parse would refuse it, and a request hidden in the body must never reach the upstream.
    const upstream = closeLater(t, await startRecordingServer());
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, 'rules:\n  - id: unrelated\n    match: { path: "/nothing-here" }\n    actions:\n      - reject: 404\n');
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const framings = {
      'Content-Length with Transfer-Encoding': 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'two Content-Lengths': 'Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd',
      'chunked, identity': 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
      'xchunked': 'Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
      'a Content-Length that is not a number': 'Content-Length: 4x\r\n\r\nabcd',
    };
    for (const [name, framing] of Object.entries(framings)) {
      const { response } = await rawRequest(proxy.port, `POST /a HTTP/1.1\r\nHost: x\r\n${UPGRADE}${framing}${smuggled}`, 3000);
      assert.equal(response?.statusCode, 400, name);
    }
    const records = await proxy.waitForExchanges(Object.keys(framings).length);
    for (const x of records) assert.match(x.error?.code ?? '', /^HPE_/, `${x.error?.code ?? 'no error'} on the record`);
    assert.deepEqual(upstream.requests, [], 'the upstream received nothing');
    await stillServes(proxy);
  });

  it('an MAPI/HTTP request with Upgrade and a body is still observed and judged', async (t) => {
    const mapi = await mapiServer(t);
    const relay = await recordingRelay(t, mapi.url);
    const proxy = await rulesProxyFor(t, 'forward', relay.port, 'rules:\n  - id: unrelated\n    match: { path: "/nothing-here" }\n    actions:\n      - reject: 404\n');
    const body = Buffer.alloc(24, 1);
    const head =
      `POST ${proxy.target(EMSMDB)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}Content-Type: application/mapi-http\r\n` +
      'X-RequestType: Connect\r\nX-RequestId: {E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1\r\nX-ClientInfo: {2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1\r\n' +
      `X-ClientApplication: Outlook/16.0.15928.20006\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { response } = await rawRequest(proxy.port, Buffer.concat([Buffer.from(head, 'latin1'), body]));
    assert.equal(response?.statusCode, 200);
    assert.equal(relay.requests.length, 1);
    assert.equal(relay.requests[0]!.body.length, body.length);
    const [exchange] = await proxy.waitForExchanges(1);
    assert.equal(protocolOf(exchange).protocol, 'mapihttp');
  });

  it('an FPSE discovery GET with Upgrade (no body, declined upstream) is still observed', async (t) => {
    const fpse = await fpseServer(t);
    const proxy = await rulesProxyFor(t, 'forward', Number(new URL(fpse.url).port), 'rules:\n  - id: unrelated\n    match: { path: "/nothing-here" }\n    actions:\n      - reject: 404\n');
    const { response } = await rawRequest(proxy.port, `GET ${proxy.target('/_vti_inf.html')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}\r\n`);
    assert.equal(response?.statusCode, 200);
    assert.match(response.body.toString(), /FPVersion/);
    const [exchange] = await proxy.waitForExchanges(1);
    assert.equal(protocolOf(exchange).protocol, 'fpse');
    // And an RPC POST with Upgrade: its body's first line is read as on any FPSE call.
    const rpc = `method=server+version%3a12%2e0%2e0%2e6415`;
    const post = await rawRequest(
      proxy.port,
      `POST ${proxy.target(SHTML)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}` +
        Object.entries(FPSE_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
        `Content-Length: ${rpc.length}\r\n\r\n${rpc}`,
    );
    assert.equal(post.response?.statusCode, 200);
    const [, call] = await proxy.waitForExchanges(2);
    assert.equal(protocolOf(call).protocol, 'fpse');
  });

  it('an FPSE answer to a declined upgrade is collected and rewritten by a response-body rule, with a response-side delay', async (t) => {
    const fpse = await fpseServer(t);
    const proxy = await rulesProxyFor(
      t,
      'forward',
      Number(new URL(fpse.url).port),
      'rules:\n  - id: inf\n    match: { protocol: fpse }\n    actions:\n      - serverVersion: "5.0.2.6790"\n      - delay: { duration: 150ms, phase: response-head }\n',
    );
    const sentAt = Date.now();
    const { response } = await rawRequest(proxy.port, `GET ${proxy.target('/_vti_inf.html')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n${UPGRADE}\r\n`);
    assert.equal(response?.statusCode, 200);
    assert.ok(Date.now() - sentAt >= 140, 'the response-side delay held the answer back');
    assert.match(response.body.toString(), / FPVersion="5\.0\.2\.6790"/);
    assert.equal(header(response.rawHeaders, 'content-length'), String(response.body.length));
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'inf').changes[0], { action: 'serverVersion', target: 'response body: FPVersion', before: '14.0.0.6029', after: '5.0.2.6790' });
    assert.equal(protocolOf(x).protocol, 'fpse');
  });

  it('a real WebSocket is still relayed beside a rule that does not match it', async (t) => {
    const upstream = closeLater(t, await startServer((_req, res) => res.end('ok')));
    const wss = new WebSocketServer({ server: upstream.server });
    t.after(() => wss.close());
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const proxy = await rulesProxyFor(t, 'reverse', upstream.port, 'rules:\n  - id: no-admin\n    match: { path: "/admin*" }\n    actions:\n      - reject: 403\n');
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/socket`);
    t.after(() => ws.terminate());
    await withTimeout(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 3000, 'the WebSocket to open');
    const payload = Buffer.from([0, 1, 2, 250, 251, 252]);
    const echoed = withTimeout(new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data))), 3000, 'the echo');
    ws.send(payload);
    assert.deepEqual(await echoed, payload);
    ws.close();
    const [exchange] = await proxy.waitForExchanges(1);
    assert.equal(exchange!.kind, 'upgrade');
    assert.equal(exchange!.response?.statusCode, 101);
    assert.equal(exchange!.rules, undefined, 'no rule met it');
    await stillServes(proxy);
  });
});
