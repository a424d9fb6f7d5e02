/**
 * Every negotiation verdict (src/protocols/negotiation-*.ts) proven through the real proxy with
 * the simulators on real sockets: the verdict's code and level on the right exchange, the
 * versions and operation recorded, what the client received (observing changes nothing), and
 * the `proto` summary on the exchange's log line. Forward mode throughout; one reverse-mode
 * case shows the reverse path judges too. docs/protocols.md §2.6 (FPSE) and §1, §3 (MAPI/HTTP).
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { describe, it } from 'node:test';
import type { Exchange } from '../src/core/exchange.js';
import { runFpseClient, type FpseClientReport } from '../src/simulators/fpse-client.js';
import { parseInnerStream, runMapiClient, type MapiClientReport } from '../src/simulators/mapi-client.js';
import { header, rawRequest } from './helpers/client.js';
import {
  AUTHOR,
  EMSMDB,
  SHTML,
  closeLater,
  codesOf,
  fpseCall,
  fpseServer,
  forwardProxy,
  logger,
  mapiCall,
  mapiServer,
  modeProxy,
  protoLogged,
  protocolOf,
  verdictOf,
} from './helpers/protocol.js';
import type { TestProxy } from './helpers/proxy.js';
import { hasHead, readUntil, startRawServer } from './helpers/servers.js';

const OFFICE_2007 = '12.0.0.6415';
const SHAREPOINT_2010 = '14.0.0.6029';
const FRONTPAGE_98 = '3.0.2.1000';
const OUTLOOK = 'Outlook/16.0.15928.20006';
const EXCHANGE_2019 = 'Exchange/15.02.1544.014';

/** The client's view of a conversation without the local ports, which differ run to run. */
function withoutPorts(report: FpseClientReport): unknown {
  return { ...report, steps: report.steps.map(({ connection: _connection, ...step }) => step) };
}

/** The one finished exchange whose protocol operation is `operation` (fails if not exactly one). */
function only(proxy: TestProxy, operation: string): Exchange {
  const found = proxy.exchanges.filter((x) => x.protocol?.operation === operation);
  assert.equal(found.length, 1, `exchanges with operation ${operation}: ${proxy.exchanges.map((x) => x.protocol?.summary ?? x.request.url).join(' | ')}`);
  return found[0]!;
}

function levels(x: Exchange): Array<[string, string]> {
  return protocolOf(x).verdicts.map((v) => [v.code, v.level]);
}

describe('fpse verdicts', () => {
  it('accepted: Office 12.0.0.6415 ↔ SharePoint 14.0.0.6029 negotiates 12.0.0.6415 on the method line', async (t) => {
    const server = await fpseServer(t, { version: SHAREPOINT_2010 });
    const proxy = await forwardProxy(t);
    const direct = await runFpseClient({ server: server.url, version: OFFICE_2007, logger });
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });

    // What the client got through the proxy is what it gets without it.
    assert.deepEqual(withoutPorts(report), withoutPorts(direct));
    assert.equal(report.negotiated, OFFICE_2007);
    assert.equal(report.steps[1]?.methodLine, `server version:${OFFICE_2007}`);

    await proxy.waitForExchanges(4);
    const x = only(proxy, 'server version');
    const p = protocolOf(x);
    assert.equal(p.protocol, 'fpse');
    assert.deepEqual(levels(x), [['accepted', 'ok']]);
    assert.match(verdictOf(x, 'accepted').message, /Min\(client 12\.0\.0\.6415, server 14\.0\.0\.6029\)/);
    assert.deepEqual(p.versions, { client: OFFICE_2007, server: SHAREPOINT_2010, negotiated: OFFICE_2007 });
    assert.equal(p.conversation, `127.0.0.1 ${new URL(server.url).host}`);
    const summary = `fpse "server version" client=${OFFICE_2007} server=${SHAREPOINT_2010} negotiated=${OFFICE_2007} accepted`;
    assert.equal(p.summary, summary);
    assert.equal(await protoLogged(proxy, x), summary);
    assert.equal(x.response?.statusCode, 200);
    assert.equal(x.response?.source, 'upstream');

    // The calls after negotiation use it and are accepted on the same conversation. They
    // negotiate nothing: their method line is the server's echo (MS-FPSE 1.7.1).
    for (const operation of ['open service', 'url to web url']) {
      const later = only(proxy, operation);
      assert.deepEqual(levels(later), [['accepted', 'ok']]);
      assert.deepEqual(protocolOf(later).versions, { client: OFFICE_2007, server: SHAREPOINT_2010, negotiated: undefined, echo: OFFICE_2007 });
      assert.equal(protocolOf(later).conversation, p.conversation);
      assert.equal(protocolOf(later).summary, `fpse "${operation}" client=${OFFICE_2007} server=${SHAREPOINT_2010} echo=${OFFICE_2007} accepted`);
    }
    const inf = only(proxy, '_vti_inf.html');
    assert.deepEqual(codesOf(inf), []);
    assert.equal(protocolOf(inf).versions.server, SHAREPOINT_2010);
  });

  it('accepted in reverse mode: the reverse path observes and judges the same way', async (t) => {
    const server = await fpseServer(t, { version: SHAREPOINT_2010 });
    const proxy = await modeProxy(t, 'reverse', server.port);
    const direct = await runFpseClient({ server: server.url, version: OFFICE_2007, logger });
    const report = await runFpseClient({ server: proxy.url, version: OFFICE_2007, logger });
    assert.deepEqual(withoutPorts(report), withoutPorts(direct));

    await proxy.waitForExchanges(4);
    const x = only(proxy, 'server version');
    assert.equal(x.request.url, SHTML);
    assert.deepEqual(levels(x), [['accepted', 'ok']]);
    assert.deepEqual(protocolOf(x).versions, { client: OFFICE_2007, server: SHAREPOINT_2010, negotiated: OFFICE_2007 });
    const summary = `fpse "server version" client=${OFFICE_2007} server=${SHAREPOINT_2010} negotiated=${OFFICE_2007} accepted`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x), summary);
    assert.deepEqual(levels(only(proxy, 'open service')), [['accepted', 'ok']]);
  });

  it('rejected-client-too-old: FrontPage 98 (3.0.2.1000) gets status 262156, as the spec requires (level ok)', async (t) => {
    const server = await fpseServer(t, { version: SHAREPOINT_2010 });
    const proxy = await forwardProxy(t);
    const direct = await runFpseClient({ server: server.url, version: FRONTPAGE_98, logger });
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: FRONTPAGE_98, logger });
    assert.deepEqual(withoutPorts(report), withoutPorts(direct));
    assert.equal(report.rejected, true);
    assert.match(report.steps[1]?.error ?? '', /^status=262156 /);

    await proxy.waitForExchanges(2);
    const x = only(proxy, 'server version');
    assert.deepEqual(levels(x), [['rejected-client-too-old', 'ok']]);
    assert.match(verdictOf(x, 'rejected-client-too-old').message, /3\.0\.2\.1000 as older than 4\.0\.2\.2611/);
    // An error packet negotiates nothing.
    // The error packet lists no build, and the discovery page's FPVersion is not one (it can be a
    // product line such as SharePoint's 14.00.0.000): the server's build is unknown here.
    assert.deepEqual(protocolOf(x).versions, { client: FRONTPAGE_98, server: undefined, negotiated: undefined });
    const summary = `fpse "server version" client=${FRONTPAGE_98} status=262156 (0x0004000C) rejected-client-too-old`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x), summary);
  });

  it('server-should-have-rejected: a server with minClient 1.0.0.0 answers FrontPage 98 (violation)', async (t) => {
    const server = await fpseServer(t, { version: SHAREPOINT_2010, minClient: '1.0.0.0' });
    const proxy = await forwardProxy(t);
    const direct = await runFpseClient({ server: server.url, version: FRONTPAGE_98, logger });
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: FRONTPAGE_98, logger });
    assert.deepEqual(withoutPorts(report), withoutPorts(direct));
    assert.equal(report.rejected, false);
    assert.equal(report.negotiated, FRONTPAGE_98);

    await proxy.waitForExchanges(4);
    const x = only(proxy, 'server version');
    // The echo itself is right (Min is the client's), but the client should have been refused.
    assert.deepEqual(levels(x), [['accepted', 'ok'], ['server-should-have-rejected', 'violation']]);
    assert.match(verdictOf(x, 'server-should-have-rejected').message, /3\.0\.2\.1000, which is older than 4\.0\.2\.2611.*262156 \(0x0004000C\)/);
    assert.deepEqual(protocolOf(x).versions, { client: FRONTPAGE_98, server: SHAREPOINT_2010, negotiated: FRONTPAGE_98 });
    const summary = `fpse "server version" client=${FRONTPAGE_98} server=${SHAREPOINT_2010} negotiated=${FRONTPAGE_98} accepted server-should-have-rejected`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x), summary);
    // Every further answer to that client repeats the violation.
    assert.deepEqual(codesOf(only(proxy, 'open service')), ['accepted', 'server-should-have-rejected']);
  });

  it('client-should-reject-server: the server lists 3.0.2.1000, older than 3.0.2.1002 (notice), and the client walks away', async (t) => {
    const server = await fpseServer(t, { version: FRONTPAGE_98 });
    const proxy = await forwardProxy(t);
    const direct = await runFpseClient({ server: server.url, version: OFFICE_2007, logger });
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });
    assert.deepEqual(withoutPorts(report), withoutPorts(direct));
    // The simulated client walks away silently after learning the server build (MS-FPSE 1.7.1).
    assert.equal(report.abandoned, `server ${FRONTPAGE_98} is older than 3.0.2.1002`);
    assert.equal(report.steps.length, 2);

    await proxy.waitForExchanges(2);
    const x = only(proxy, 'server version');
    const verdict = verdictOf(x, 'client-should-reject-server');
    assert.equal(verdict.level, 'notice');
    assert.match(verdict.message, /3\.0\.2\.1000, older than 3\.0\.2\.1002/);
    assert.equal(verdictOf(x, 'accepted').level, 'ok');
    assert.deepEqual(protocolOf(x).versions, { client: OFFICE_2007, server: FRONTPAGE_98, negotiated: FRONTPAGE_98 });
    assert.equal(await protoLogged(proxy, x), protocolOf(x).summary);
    // The discovery page already shows the old FPVersion.
    assert.equal(verdictOf(only(proxy, '_vti_inf.html'), 'client-should-reject-server').level, 'notice');

    // The client did nothing wrong: `server version` is how MS-FPSE 1.7.1 has it learn the
    // server's build, and it stopped right after. So no violation may be charged to it here.
    assert.deepEqual(levels(x), [['accepted', 'ok'], ['client-should-reject-server', 'notice']]);
    const summary = `fpse "server version" client=${OFFICE_2007} server=${FRONTPAGE_98} negotiated=${FRONTPAGE_98} accepted client-should-reject-server`;
    assert.equal(protocolOf(x).summary, summary);
  });

  it('client-kept-talking: a further RPC call on the conversation after the server showed it is too old (violation)', async (t) => {
    const server = await fpseServer(t, { version: FRONTPAGE_98 });
    const proxy = await forwardProxy(t);
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });
    assert.equal(report.steps.length, 2);
    const [, negotiation] = await proxy.waitForExchanges(2);

    // A client that does not walk away: same client address, same Host, one more RPC call. It
    // carries no version, so no other rule (client too old, negotiated ignored) muddies the verdict.
    const res = await fpseCall(proxy, server, AUTHOR, 'method=open+service&service%5fname=%2f');
    assert.equal(res.statusCode, 200);
    assert.match(res.body.toString('latin1'), /<p>method=open service:3\.0\.2\.1000\n/);
    await proxy.waitForExchanges(3);
    const kept = only(proxy, 'open service');
    assert.equal(protocolOf(kept).conversation, protocolOf(negotiation).conversation);
    const verdict = verdictOf(kept, 'client-kept-talking');
    assert.equal(verdict.level, 'violation');
    assert.match(verdict.message, /server \(3\.0\.2\.1000\) is older than 3\.0\.2\.1002/);
    assert.deepEqual(levels(kept), [['client-kept-talking', 'violation']]);
    assert.deepEqual(protocolOf(kept).versions, { client: undefined, server: FRONTPAGE_98, negotiated: undefined, echo: FRONTPAGE_98 });
    const summary = `fpse "open service" server=${FRONTPAGE_98} echo=${FRONTPAGE_98} client-kept-talking`;
    assert.equal(protocolOf(kept).summary, summary);
    assert.equal(await protoLogged(proxy, kept), summary);
  });

  it('echo-mismatch: a server that always echoes 6.0.0.0 answers Office 12.0.0.6415 (violation)', async (t) => {
    const server = await fpseServer(t, { version: SHAREPOINT_2010, echo: { fixed: '6.0.0.0' } });
    const proxy = await forwardProxy(t);
    const direct = await runFpseClient({ server: server.url, version: OFFICE_2007, logger });
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });
    assert.deepEqual(withoutPorts(report), withoutPorts(direct));
    assert.equal(report.steps[1]?.methodLine, 'server version:6.0.0.0');
    assert.equal(report.negotiated, '6.0.0.0');

    await proxy.waitForExchanges(4);
    const x = only(proxy, 'server version');
    assert.deepEqual(levels(x), [['echo-mismatch', 'violation']]);
    assert.match(verdictOf(x, 'echo-mismatch').message, /method line says 6\.0\.0\.0, but Min\(client 12\.0\.0\.6415, server 14\.0\.0\.6029\) is 12\.0\.0\.6415/);
    // The record keeps both: what MS-FPSE 1.7.1 makes the negotiation (the true Min, which later
    // calls are judged against) and what the server's method line said.
    assert.deepEqual(protocolOf(x).versions, { client: OFFICE_2007, server: SHAREPOINT_2010, negotiated: OFFICE_2007, echo: '6.0.0.0' });
    const summary = `fpse "server version" client=${OFFICE_2007} server=${SHAREPOINT_2010} negotiated=${OFFICE_2007} echo=6.0.0.0 echo-mismatch`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x), summary);
  });

  it('client-ignored-negotiated: a call on 14.0.0.6029 after 12.0.0.6415 was negotiated (violation)', async (t) => {
    const server = await fpseServer(t, { version: SHAREPOINT_2010 });
    const proxy = await forwardProxy(t);
    const report = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });
    assert.equal(report.negotiated, OFFICE_2007);
    await proxy.waitForExchanges(4);
    const negotiation = only(proxy, 'server version');

    const res = await fpseCall(proxy, server, AUTHOR, 'method=open+service%3a14%2e0%2e0%2e6029&service%5fname=%2f');
    // The server itself does not mind (Min(14.0.0.6029, 14.0.0.6029)); the proxy passes it on unchanged.
    assert.equal(res.statusCode, 200);
    assert.match(res.body.toString('latin1'), /<p>method=open service:14\.0\.0\.6029\n/);
    await proxy.waitForExchanges(5);
    const x = proxy.exchanges[4]!;
    assert.equal(protocolOf(x).operation, 'open service');
    assert.equal(protocolOf(x).conversation, protocolOf(negotiation).conversation);
    assert.equal(verdictOf(x, 'client-ignored-negotiated').level, 'violation');
    assert.match(verdictOf(x, 'client-ignored-negotiated').message, /client sent 14\.0\.0\.6029, above the negotiated 12\.0\.0\.6415/);
    assert.deepEqual(levels(x), [['client-ignored-negotiated', 'violation'], ['accepted', 'ok']]);
    assert.deepEqual(protocolOf(x).versions, { client: SHAREPOINT_2010, server: SHAREPOINT_2010, negotiated: undefined, echo: SHAREPOINT_2010 });
    const summary = `fpse "open service" client=${SHAREPOINT_2010} server=${SHAREPOINT_2010} echo=${SHAREPOINT_2010} client-ignored-negotiated accepted`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x), summary);
  });
});

// ---------------------------------------------------------------------------------------------

const CLIENT_GUID = '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}';

/** Headers Outlook sends on every request (§1.3), less whatever a test wants to leave out. */
function outlookHeaders(requestType: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'Content-Type': 'application/mapi-http',
    'X-RequestType': requestType,
    'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1',
    'X-ClientInfo': `${CLIENT_GUID}:7`,
    'X-ClientApplication': OUTLOOK,
    ...extra,
  };
}

/** Step shapes that do not depend on timing or on random cookies. */
function stepShapes(report: MapiClientReport): unknown[] {
  return report.steps.map((s) => [s.requestType, s.status, s.responseCode, s.serverApplication, s.bodyLength, s.additionalHeaders.map(([name]) => name)]);
}

/**
 * A raw MAPI/HTTP upstream that answers one request per connection with `head` (status line and
 * header lines, no final CRLF) and the inner stream `inner`, framed by Content-Length. The
 * requests it read are kept.
 */
async function rawMapiUpstream(t: Parameters<typeof closeLater>[0], head: string, inner: Buffer) {
  const requests: string[] = [];
  const upstream = closeLater(
    t,
    await startRawServer((socket: net.Socket) => {
      readUntil(socket, (bytes) => complete(bytes)).then(
        (bytes) => {
          requests.push(bytes.toString('latin1'));
          socket.write(Buffer.concat([Buffer.from(`${head}\r\nContent-Length: ${inner.length}\r\n\r\n`, 'latin1'), inner]));
        },
        () => socket.destroy(),
      );
    }),
  );
  return { upstream, requests };
}

/** A whole request: head plus Content-Length body bytes. */
function complete(bytes: Buffer): boolean {
  if (!hasHead(bytes)) return false;
  const end = bytes.indexOf('\r\n\r\n') + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(bytes.subarray(0, end).toString('latin1'))?.[1];
  return bytes.length >= end + Number(length ?? 0);
}

/** A forward-mode raw request to the EMSMDB endpoint of `origin`, exact bytes. */
function rawMapiRequest(origin: string, headers: Record<string, string>): string {
  const host = new URL(origin).host;
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `POST ${origin}${EMSMDB} HTTP/1.1\r\nHost: ${host}\r\n${lines}Content-Length: 0\r\n\r\n`;
}

describe('mapi/http verdicts', () => {
  it('ok: a whole Outlook session states both builds on every exchange', async (t) => {
    const server = await mapiServer(t);
    const proxy = await forwardProxy(t);
    const direct = await runMapiClient({ server: server.url, client: OUTLOOK, notificationWait: true, logger });
    const report = await runMapiClient({ server: server.url, via: proxy.url, client: OUTLOOK, notificationWait: true, logger });
    assert.deepEqual(stepShapes(report), stepShapes(direct));
    assert.ok(report.steps.every((s) => s.status === 200 && s.responseCode === 0));
    const wait = report.steps.find((s) => s.requestType === 'NotificationWait')!;
    assert.ok(wait.metaTags.includes('PENDING'), `keep-alives reached the client: ${wait.metaTags.join(',')}`);

    const operations = ['Connect', 'Execute', 'NotificationWait', 'PING', 'Disconnect', 'Bind', 'GetMailboxUrl', 'Unbind'];
    const exchanges = await proxy.waitForExchanges(operations.length);
    assert.deepEqual(exchanges.map((x) => protocolOf(x).operation), operations);
    for (const x of exchanges) {
      const p = protocolOf(x);
      assert.equal(p.protocol, 'mapihttp');
      assert.deepEqual(levels(x), [['ok', 'ok']], p.summary);
      assert.deepEqual(p.versions, { client: OUTLOOK, server: EXCHANGE_2019 });
      assert.equal(p.conversation, exchanges[0]!.protocol!.conversation);
      assert.equal(await protoLogged(proxy, x), p.summary);
    }
    assert.match(exchanges[0]!.protocol!.conversation, /^clientinfo \{[0-9A-F-]{36}\}$/);
    const summary = `mapihttp Connect client=${OUTLOOK} server=${EXCHANGE_2019} code=0 PROCESSING,DONE ok`;
    assert.equal(exchanges[0]!.protocol!.summary, summary);
    assert.match(exchanges[2]!.protocol!.summary, /^mapihttp NotificationWait client=\S+ server=\S+ code=0 PROCESSING,PENDING×\d+,DONE ok$/);
  });

  it('header-missing: a request without X-ClientApplication (violation)', async (t) => {
    const server = await mapiServer(t);
    const proxy = await forwardProxy(t);
    const headers = outlookHeaders('PING');
    delete headers['X-ClientApplication'];
    const res = await mapiCall(proxy, server.url, headers);
    // The simulator answers PING without the header; the proxy does not interfere.
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-responsecode'], '0');
    assert.equal(res.headers['x-serverapplication'], EXCHANGE_2019);
    assert.deepEqual(parseInnerStream(res.body).metaTags.map((m) => m.tag), ['PROCESSING', 'DONE']);

    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(levels(x!), [['header-missing', 'violation']]);
    assert.match(verdictOf(x, 'header-missing').message, /request has no X-ClientApplication/);
    assert.deepEqual(protocolOf(x).versions, { client: undefined, server: EXCHANGE_2019 });
    assert.equal(protocolOf(x).operation, 'PING');
    const summary = `mapihttp PING server=${EXCHANGE_2019} code=0 PROCESSING,DONE problems=1 header-missing`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x!), summary);
  });

  it('header-missing: a response without X-ServerApplication (violation), bytes relayed unchanged', async (t) => {
    const inner = Buffer.from('PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 1\r\nX-StartTime: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n', 'latin1');
    const head = [
      'HTTP/1.1 200 OK',
      'Content-Type: application/mapi-http',
      'X-RequestType: PING',
      'X-RequestId: {E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1',
      `X-ClientInfo: ${CLIENT_GUID}:7`,
      'X-ResponseCode: 0',
    ].join('\r\n');
    const { upstream, requests } = await rawMapiUpstream(t, head, inner);
    const proxy = await forwardProxy(t);
    const result = await rawRequest(proxy.port, rawMapiRequest(upstream.url, outlookHeaders('PING')), 5000);
    const res = result.response!;
    assert.equal(requests.length, 1);
    assert.match(requests[0]!, /\r\nX-ClientApplication: Outlook\/16\.0\.15928\.20006\r\n/);
    assert.equal(res.statusCode, 200);
    assert.equal(header(res.rawHeaders, 'x-serverapplication'), undefined);
    assert.equal(header(res.rawHeaders, 'x-responsecode'), '0');
    assert.deepEqual(res.body, inner);

    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(levels(x!), [['header-missing', 'violation']]);
    assert.match(verdictOf(x, 'header-missing').message, /response has no X-ServerApplication/);
    assert.deepEqual(protocolOf(x).versions, { client: OUTLOOK, server: undefined });
    const summary = `mapihttp PING client=${OUTLOOK} code=0 PROCESSING,DONE problems=2 header-missing`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x!), summary);
  });

  it('build-changed-mid-session: the same X-ClientInfo GUID states two client builds (violation)', async (t) => {
    const server = await mapiServer(t);
    const proxy = await forwardProxy(t);
    const newer = 'Outlook/16.0.17928.20114';
    const first = await mapiCall(proxy, server.url, outlookHeaders('PING'));
    const second = await mapiCall(proxy, server.url, outlookHeaders('PING', { 'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:2', 'X-ClientApplication': newer }));
    for (const res of [first, second]) {
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-responsecode'], '0');
      assert.equal(res.headers['x-clientinfo'], `${CLIENT_GUID}:7`);
    }

    const [a, b] = await proxy.waitForExchanges(2);
    assert.deepEqual(levels(a!), [['ok', 'ok']]);
    assert.equal(protocolOf(a).conversation, `clientinfo ${CLIENT_GUID}`);
    assert.equal(protocolOf(b).conversation, protocolOf(a).conversation);
    assert.deepEqual(levels(b!), [['build-changed-mid-session', 'violation']]);
    assert.equal(verdictOf(b, 'build-changed-mid-session').message, `the client said ${OUTLOOK} earlier in this session and now ${newer}`);
    assert.deepEqual(protocolOf(b).versions, { client: newer, server: EXCHANGE_2019 });
    assert.equal(protocolOf(b).operation, 'PING');
    const summary = `mapihttp PING client=${newer} server=${EXCHANGE_2019} code=0 PROCESSING,DONE build-changed-mid-session`;
    assert.equal(protocolOf(b).summary, summary);
    assert.equal(await protoLogged(proxy, b!), summary);
  });

  it('build-changed-mid-session is not charged for other zero-padding of the same build, nor across a new Connect (MS-OXCMAPIHTTP 2.2.4.1)', async (t) => {
    const server = await mapiServer(t);
    const proxy = await forwardProxy(t);
    const padded = 'Outlook/16.00.15928.20006';
    const newer = 'Outlook/16.0.17928.20114';
    const calls: Array<[string, Record<string, string>]> = [
      ['PING', {}],
      ['PING', { 'X-ClientApplication': padded }],
      ['Connect', { 'X-ClientApplication': newer }],
      ['PING', { 'X-ClientApplication': OUTLOOK }],
    ];
    for (const [i, [type, extra]] of calls.entries()) {
      const res = await mapiCall(proxy, server.url, outlookHeaders(type, { 'X-RequestId': `{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:${i + 1}`, ...extra }));
      assert.equal(res.statusCode, 200);
    }
    const [first, samePadded, connect, back] = await proxy.waitForExchanges(calls.length);
    for (const x of [first, samePadded, connect]) assert.ok(!codesOf(x).includes('build-changed-mid-session'), protocolOf(x).summary);
    assert.equal(protocolOf(connect).versions.client, newer);
    // Within the context that Connect opened, going back to the old build is a change.
    assert.equal(verdictOf(back, 'build-changed-mid-session').message, `the client said ${newer} earlier in this session and now ${OUTLOOK}`);
  });

  it('build-unparseable: an X-ServerApplication that is no build gets a violation, never ok (MS-OXCMAPIHTTP 2.2.3.3.7)', async (t) => {
    const odd = 'Exchange/15.02.banana';
    const server = await mapiServer(t, { server: odd });
    const proxy = await forwardProxy(t);
    const report = await runMapiClient({ server: server.url, via: proxy.url, client: OUTLOOK, logger });
    assert.equal(report.serverApplication, odd);
    const exchanges = await proxy.waitForExchanges(report.steps.length);
    for (const x of exchanges) {
      const p = protocolOf(x);
      assert.deepEqual(levels(x), [['build-unparseable', 'violation']], p.summary);
      assert.equal(p.problems.length, 1);
      assert.match(p.problems[0]!, /^X-ServerApplication "Exchange\/15\.02\.banana" /);
    }
    const connect = exchanges[0]!;
    assert.equal(verdictOf(connect, 'build-unparseable').message, `X-ServerApplication "${odd}" is not a build (MS-OXCMAPIHTTP 2.2.3.3.6, 2.2.3.3.7: Outlook/n.n.n.n, Exchange/n.n.n.n)`);
    const summary = `mapihttp Connect client=${OUTLOOK} server=${odd} code=0 PROCESSING,DONE problems=1 build-unparseable`;
    assert.equal(await protoLogged(proxy, connect), summary);
  });

  it('server-predates-mapihttp: an Exchange 2010 build (14.03) on every response (violation)', async (t) => {
    const exchange2010 = 'Exchange/14.03.0123.004';
    const server = await mapiServer(t, { server: exchange2010 });
    const proxy = await forwardProxy(t);
    const report = await runMapiClient({ server: server.url, via: proxy.url, client: OUTLOOK, logger });
    assert.equal(report.serverApplication, exchange2010);
    assert.ok(report.steps.every((s) => s.status === 200 && s.responseCode === 0));

    const operations = ['Connect', 'Execute', 'PING', 'Disconnect', 'Bind', 'GetMailboxUrl', 'Unbind'];
    const exchanges = await proxy.waitForExchanges(operations.length);
    assert.deepEqual(exchanges.map((x) => protocolOf(x).operation), operations);
    for (const x of exchanges) {
      assert.deepEqual(levels(x), [['server-predates-mapihttp', 'violation']], protocolOf(x).summary);
      assert.deepEqual(protocolOf(x).versions, { client: OUTLOOK, server: exchange2010 });
    }
    const connect = exchanges[0]!;
    assert.match(verdictOf(connect, 'server-predates-mapihttp').message, /Exchange\/14\.03\.0123\.004, older than Exchange 2013 SP1 \(15\.0\.847\.32\)/);
    const summary = `mapihttp Connect client=${OUTLOOK} server=${exchange2010} code=0 PROCESSING,DONE server-predates-mapihttp`;
    assert.equal(protocolOf(connect).summary, summary);
    assert.equal(await protoLogged(proxy, connect), summary);
  });

  it('context-not-found in the response head: an unknown MapiContext cookie gets X-ResponseCode 10 (notice)', async (t) => {
    const server = await mapiServer(t);
    const proxy = await forwardProxy(t);
    const res = await mapiCall(proxy, server.url, outlookHeaders('Execute', { Cookie: 'MapiContext=no-such-context; MapiSequence=x' }), Buffer.alloc(12));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-responsecode'], '10');
    assert.equal(res.headers['content-type'], 'text/html');
    assert.match(res.body.toString('utf8'), /<p>The Session Context is not found\.<\/p>/);

    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(levels(x!), [['context-not-found', 'notice']]);
    assert.equal(verdictOf(x, 'context-not-found').message, 'X-ResponseCode 10 (Context Not Found) in the response head');
    assert.deepEqual(protocolOf(x).versions, { client: OUTLOOK, server: EXCHANGE_2019 });
    assert.equal(protocolOf(x).operation, 'Execute');
    const summary = `mapihttp Execute client=${OUTLOOK} server=${EXCHANGE_2019} code=10 context-not-found`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x!), summary);
  });

  it('context-not-found after DONE: outer X-ResponseCode 0, inner 10 — a late failure (notice)', async (t) => {
    const binary = Buffer.from([0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x0d, 0x0a]);
    const inner = Buffer.concat([
      Buffer.from('PROCESSING\r\nDONE\r\nX-ResponseCode: 10\r\nX-ElapsedTime: 1\r\nX-StartTime: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n', 'latin1'),
      binary,
    ]);
    const head = [
      'HTTP/1.1 200 OK',
      'Content-Type: application/mapi-http',
      'X-RequestType: Execute',
      'X-RequestId: {E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1',
      `X-ClientInfo: ${CLIENT_GUID}:7`,
      'X-ResponseCode: 0',
      `X-ServerApplication: ${EXCHANGE_2019}`,
    ].join('\r\n');
    const { upstream } = await rawMapiUpstream(t, head, inner);
    const proxy = await forwardProxy(t);
    const result = await rawRequest(proxy.port, rawMapiRequest(upstream.url, outlookHeaders('Execute')), 5000);
    const res = result.response!;
    assert.equal(res.statusCode, 200);
    assert.equal(header(res.rawHeaders, 'x-responsecode'), '0');
    assert.deepEqual(res.body, inner);
    const stream = parseInnerStream(res.body);
    assert.deepEqual(stream.headers[0], ['X-ResponseCode', '10']);
    assert.deepEqual(stream.body, binary);

    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(levels(x!), [['context-not-found', 'notice']]);
    const message = verdictOf(x, 'context-not-found').message;
    assert.match(message, /X-ResponseCode 10 \(Context Not Found\) after DONE/);
    assert.match(message, /late/);
    assert.deepEqual(protocolOf(x).versions, { client: OUTLOOK, server: EXCHANGE_2019 });
    // The hand-made head leaves out X-ExpirationInfo; the log line says a problem is on record.
    assert.deepEqual(protocolOf(x).problems, ['X-ExpirationInfo missing (MS-OXCMAPIHTTP 2.2.3.3.8)']);
    const summary = `mapihttp Execute client=${OUTLOOK} server=${EXCHANGE_2019} code=10 PROCESSING,DONE problems=1 context-not-found`;
    assert.equal(protocolOf(x).summary, summary);
    assert.equal(await protoLogged(proxy, x!), summary);
  });
});
