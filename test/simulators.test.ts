/**
 * The protocol simulators against each other on real sockets (127.0.0.1:0), with no proxy
 * between them; the through-proxy runs live in the integration tests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../src/log.js';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { parseRpcRequest, startFpseServer, type RunningServer } from '../src/simulators/fpse-server.js';
import { createHttpClient } from '../src/simulators/http-client.js';
import { parseInnerStream, runMapiClient } from '../src/simulators/mapi-client.js';
import { startMapiServer } from '../src/simulators/mapi-server.js';

const logger = silentLogger();
const LISTEN = { host: '127.0.0.1', port: 0 };
const running: RunningServer[] = [];

after(async () => {
  await Promise.all(running.map((s) => s.close()));
});

async function fpse(options: Partial<Parameters<typeof startFpseServer>[0]> = {}): Promise<RunningServer> {
  const server = await startFpseServer({ version: '14.0.0.6029', logger, ...options }, LISTEN);
  running.push(server);
  return server;
}

async function mapi(options: Partial<Parameters<typeof startMapiServer>[0]> = {}): Promise<RunningServer> {
  const server = await startMapiServer({ server: 'Exchange/15.02.1544.014', pendingPeriodMs: 15000, logger, ...options }, LISTEN);
  running.push(server);
  return server;
}

/** One raw POST to a FPSE script, returning status, headers and body text. */
async function rpc(server: RunningServer, path: string, body: string | Buffer): Promise<{ status: number; type?: string; sps?: string; text: string }> {
  const http = createHttpClient();
  try {
    const res = await http.request(server.url, { method: 'POST', path, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
    const type = res.headers['content-type'];
    const sps = res.headers['microsoftsharepointteamservices'];
    return { status: res.status, ...(type === undefined ? {} : { type }), ...(typeof sps === 'string' ? { sps } : {}), text: res.body.toString('latin1') };
  } finally {
    http.close();
  }
}

const SHTML = '/_vti_bin/shtml.dll/_vti_rpc';
const AUTHOR = '/_vti_bin/_vti_aut/author.dll';

describe('fpse simulators', () => {
  it('negotiates Min(client, server): Office 12.0.0.6415 against SharePoint 14.0.0.6029', async () => {
    const server = await fpse();
    const report = await runFpseClient({ server: server.url, version: '12.0.0.6415', logger });
    assert.equal(report.rejected, false);
    assert.equal(report.negotiated, '12.0.0.6415');
    assert.equal(report.serverVersion, '14.0.0.6029');
    assert.deepEqual(
      report.steps.map((s) => [s.request, s.status, s.methodLine]),
      [
        ['GET /_vti_inf.html', 200, undefined],
        ['server version:12.0.0.6415', 200, 'server version:12.0.0.6415'],
        ['open service:12.0.0.6415', 200, 'open service:12.0.0.6415'],
        ['url to web url:12.0.0.6415', 200, 'url to web url:12.0.0.6415'],
      ],
    );
    assert.ok(report.steps.every((s) => s.error === undefined));
    // One kept-alive connection for the whole conversation.
    assert.equal(new Set(report.steps.map((s) => s.connection)).size, 1);
  });

  it('negotiates the server version when the client is newer, with plain encoding too', async () => {
    const server = await fpse({ version: '6.0.2.5528' });
    const report = await runFpseClient({ server: server.url, version: '12.0.0.6415', encoding: 'plain', logger });
    assert.equal(report.negotiated, '6.0.2.5528');
    assert.equal(report.steps[2]?.request, 'open service:6.0.2.5528');
  });

  it('rejects a client below 4.0.2.2611 with status 262156 and the client stops', async () => {
    const server = await fpse();
    const report = await runFpseClient({ server: server.url, version: '3.0.2.1000', logger });
    assert.equal(report.rejected, true);
    assert.equal(report.steps.length, 2);
    assert.match(report.steps[1]?.error ?? '', /^status=262156 /);
    assert.equal(report.negotiated, undefined);
  });

  it('echoes a fixed version when configured (WSS 2.0 style 6.0.0.0) and the client uses it', async () => {
    const server = await fpse({ version: '6.0.2.5528', echo: { fixed: '6.0.0.0' } });
    const report = await runFpseClient({ server: server.url, version: '6.0.2.5614', logger });
    assert.equal(report.negotiated, '6.0.0.0');
    assert.equal(report.steps[1]?.methodLine, 'server version:6.0.0.0');
    assert.equal(report.steps[3]?.request, 'url to web url:6.0.0.0');
  });

  it('abandons a server older than 3.0.2.1002 without a word (MS-FPSE 1.7.1)', async () => {
    const server = await fpse({ version: '3.0.2.0926' });
    const report = await runFpseClient({ server: server.url, version: '12.0.0.6415', logger });
    assert.equal(report.rejected, false);
    assert.match(report.abandoned ?? '', /older than 3\.0\.2\.1002/);
    assert.equal(report.steps.length, 2);
  });

  it('sends absolute-form targets when given a forward proxy (the server itself stands in for one here)', async () => {
    const server = await fpse();
    const report = await runFpseClient({ server: 'http://sharepoint.example', via: server.url, version: '12.0.0.6415', logger });
    assert.equal(report.negotiated, '12.0.0.6415');
    assert.equal(report.steps.length, 4);
  });

  it('serves _vti_inf.html in the §2.1 shape', async () => {
    const server = await fpse();
    const http = createHttpClient();
    try {
      const res = await http.request(server.url, { method: 'GET', path: '/_vti_inf.html' });
      assert.equal(res.status, 200);
      assert.match(res.body.toString('latin1'), /<!-- FrontPage Configuration Information\n FPVersion="14\.0\.0\.6029"\nFPShtmlScriptUrl="_vti_bin\/shtml\.dll\/_vti_rpc"\n/);
    } finally {
      http.close();
    }
  });

  it('answers the real Office encoding and a plain one alike, with the vermeer headers', async () => {
    const server = await fpse();
    const office = await rpc(server, SHTML, 'method=server+version%3a12%2e0%2e0%2e6415&service%5fname=%2f');
    const plain = await rpc(server, SHTML, 'method=server version:12.0.0.6415&service_name=/');
    assert.equal(office.text, plain.text);
    assert.equal(office.type, 'application/x-vermeer-rpc');
    assert.equal(office.sps, '14.0.0.6029');
    assert.match(office.text, /<p>method=server version:12\.0\.0\.6415\n<p>server version=\n<ul>\n<li>major ver=14\n/);
  });

  it("answers a version-less method with the server's version, or with none when asked", async () => {
    assert.match((await rpc(await fpse(), SHTML, 'method=server+version')).text, /<p>method=server version:14\.0\.0\.6029\n/);
    assert.match((await rpc(await fpse({ versionlessEcho: 'none' }), SHTML, 'method=server+version')).text, /<p>method=server version\n/);
  });

  it('answers an unknown method with an error packet', async () => {
    const res = await rpc(await fpse(), AUTHOR, 'method=frobnicate+widgets%3a12%2e0%2e0%2e6415');
    assert.equal(res.status, 200);
    assert.match(res.text, /<p>method=frobnicate widgets:12\.0\.0\.6415\n<p>status=\n<ul>\n<li>status=1966086\n<li>osstatus=0\n<li>msg=/);
  });

  it('reads the whole put document body before answering', async () => {
    const file = Buffer.alloc(100000, 0x61);
    const head = 'method=put+document%3a12%2e0%2e0%2e6415&service%5fname=%2f&document=[document%5fname=a%2etxt;meta%5finfo=[]]&put%5foption=overwrite\n';
    const res = await rpc(await fpse(), AUTHOR, Buffer.concat([Buffer.from(head), file]));
    assert.match(res.text, /<li>document_name=a\.txt\n<li>meta_info=\n<ul>\n<li>vti_filesize\n<li>IR\|100000\n/);
  });

  it('parses request bodies robustly', () => {
    const parsed = parseRpcRequest(Buffer.from('method=open+service%3A5%2E0%2E2%2E6790&service_name=%2f&bad=%zz\r\nTAIL'));
    assert.equal(parsed.method, 'open service');
    assert.equal(parsed.versionText, '5.0.2.6790');
    assert.equal(parsed.params.get('service_name'), '/');
    assert.equal(parsed.params.get('bad'), '%zz');
    assert.equal(parsed.tail.toString(), 'TAIL');
  });
});

describe('mapi simulators', () => {
  it('runs the full Outlook conversation with meta-tags and X-ServerApplication on every response', async () => {
    const server = await mapi();
    const report = await runMapiClient({ server: server.url, client: 'Outlook/16.0.15928.20006', logger });
    assert.equal(report.serverApplication, 'Exchange/15.02.1544.014');
    assert.deepEqual(
      report.steps.map((s) => `${s.endpoint}:${s.requestType}`),
      ['emsmdb:Connect', 'emsmdb:Execute', 'emsmdb:PING', 'emsmdb:Disconnect', 'nspi:Bind', 'nspi:GetMailboxUrl', 'nspi:Unbind'],
    );
    for (const step of report.steps) {
      assert.equal(step.status, 200, step.requestType);
      assert.equal(step.responseCode, 0, step.requestType);
      assert.equal(step.serverApplication, 'Exchange/15.02.1544.014', step.requestType);
      assert.deepEqual(step.metaTags, ['PROCESSING', 'DONE'], step.requestType);
      assert.deepEqual(step.additionalHeaders.map(([name]) => name), ['X-ResponseCode', 'X-ElapsedTime', 'X-StartTime'], step.requestType);
    }
    assert.equal(report.steps.find((s) => s.requestType === 'PING')?.bodyLength, 0);
    assert.ok((report.steps.find((s) => s.requestType === 'Connect')?.bodyLength ?? 0) > 20);
  });

  it('sends absolute-form targets when given a forward proxy (the server itself stands in for one here)', async () => {
    const server = await mapi();
    const report = await runMapiClient({ server: 'http://mail.example', via: server.url, client: 'Outlook/15.0.4815.1002', logger });
    assert.equal(report.steps.length, 7);
    assert.ok(report.steps.every((s) => s.responseCode === 0));
  });

  it('holds NotificationWait with PENDING keep-alives about one pendingPeriod apart', async () => {
    const server = await mapi({ pendingPeriodMs: 100, notificationWaitMs: 450 });
    const report = await runMapiClient({ server: server.url, client: 'Outlook/16.0.15928.20006', notificationWait: true, logger });
    const wait = report.steps.find((s) => s.requestType === 'NotificationWait');
    assert.ok(wait);
    assert.equal(wait.responseCode, 0);
    assert.deepEqual(wait.metaTags, ['PROCESSING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'DONE']);
    const times = wait.metaTagTimes;
    // PROCESSING at once, then a PENDING every period (gaps measured, not absolute times, so a slow start does not matter).
    for (let i = 1; i <= 4; i++) {
      const gap = times[i]! - times[i - 1]!;
      assert.ok(gap > 50 && gap < 250, `PENDING gap ${gap} ms (times ${times.join(', ')})`);
    }
  });

  it('sends each meta-tag as its own chunk (spec example 4.2)', async () => {
    const server = await mapi({ pendingPeriodMs: 50, notificationWaitMs: 120 });
    // Connect through the client's own transport to get the cookie, then a raw NotificationWait.
    const http = createHttpClient();
    const base = { 'Content-Type': 'application/mapi-http', 'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:1', 'X-ClientInfo': '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1' };
    let cookie: string;
    try {
      const res = await http.request(server.url, { method: 'POST', path: '/mapi/emsmdb/?MailboxId=a@b', headers: { ...base, 'X-RequestType': 'Connect' }, body: Buffer.alloc(24) });
      cookie = (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
    } finally {
      http.close();
    }
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1');
      const parts: Buffer[] = [];
      socket.on('data', (d: Buffer) => parts.push(d));
      socket.on('end', () => resolve(Buffer.concat(parts).toString('latin1')));
      socket.on('error', reject);
      const headers = Object.entries({ ...base, 'X-RequestType': 'NotificationWait', Cookie: cookie }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      // write, not end: a half-close makes Node end the response early.
      socket.write(`POST /mapi/emsmdb/?MailboxId=a@b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 8\r\n${headers}\r\n\0\0\0\0\0\0\0\0`);
    });
    assert.match(raw, /\r\nTransfer-Encoding: chunked\r\n/i);
    assert.match(raw, /\r\nX-ServerApplication: Exchange\/15\.02\.1544\.014\r\n/);
    assert.match(raw, /\r\n\r\nc\r\nPROCESSING\r\n\r\n9\r\nPENDING\r\n\r\n9\r\nPENDING\r\n\r\n[0-9a-f]+\r\nDONE\r\nX-ResponseCode: 0\r\n/);
    assert.match(raw, /\r\n0\r\n\r\n$/);
  });

  describe('errors: HTTP 200, X-ResponseCode, text/html, X-ServerApplication', () => {
    async function post(headers: Record<string, string>, path = '/mapi/emsmdb/?MailboxId=a@b') {
      const server = await mapi();
      const http = createHttpClient();
      try {
        return await http.request(server.url, { method: 'POST', path, headers, body: Buffer.alloc(4) });
      } finally {
        http.close();
      }
    }
    const good = { 'Content-Type': 'application/mapi-http', 'X-RequestType': 'Execute', 'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:7', 'X-ClientInfo': '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1' };
    const cases: Array<[string, Record<string, string>, string, string | undefined]> = [
      ['an unknown session cookie → 10 Context Not Found', { ...good, Cookie: 'MapiContext=bogus; MapiSequence=x' }, '10', undefined],
      ['no session cookie → 13 Missing Cookie', good, '13', undefined],
      ['no X-RequestType → 7 Missing Header', { 'Content-Type': good['Content-Type'], 'X-RequestId': good['X-RequestId'] }, '7', undefined],
      ['a wrong Content-Type → 4 Invalid Header', { ...good, 'Content-Type': 'application/octet-stream' }, '4', undefined],
      ['an nspi request type at emsmdb → 5 Invalid Request Type', { ...good, 'X-RequestType': 'Bind' }, '5', undefined],
      ['a path outside /mapi → 3 Invalid Path', good, '3', '/ews/exchange.asmx'],
    ];
    for (const [name, headers, code, path] of cases) {
      it(name, async () => {
        const res = await post(headers, path);
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-responsecode'], code);
        assert.equal(res.headers['content-type'], 'text/html');
        assert.equal(res.headers['x-serverapplication'], 'Exchange/15.02.1544.014');
        assert.match(res.body.toString(), /<h1>Diagnostic Information<\/h1>/);
        if (headers['X-RequestId'] !== undefined) assert.equal(res.headers['x-requestid'], headers['X-RequestId']);
      });
    }

    it('a 401 also carries X-ServerApplication (§4.4)', async () => {
      const server = await mapi({ requireAuthorization: true });
      const report = await runMapiClient({ server: server.url, client: 'Outlook/16.0.15928.20006', logger });
      assert.deepEqual(report.steps.map((s) => [s.requestType, s.status, s.serverApplication]), [
        ['Connect', 401, 'Exchange/15.02.1544.014'],
        ['Bind', 401, 'Exchange/15.02.1544.014'],
      ]);
      const authorized = await runMapiClient({ server: server.url, client: 'Outlook/16.0.15928.20006', authorization: 'Basic dTpw', logger });
      assert.ok(authorized.steps.every((s) => s.status === 200 && s.responseCode === 0));
    });
  });

  it('parses gromox-style streams: bare PENDING, repeated PROCESSING (§1.8)', () => {
    const stream = parseInnerStream(Buffer.from('PROCESSING\r\nPENDINGPENDINGPROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n\r\nBODY', 'latin1'));
    assert.deepEqual(stream.metaTags.map((m) => m.tag), ['PROCESSING', 'PENDING', 'PENDING', 'PROCESSING', 'DONE']);
    assert.deepEqual(stream.headers, [['X-ResponseCode', '0']]);
    assert.equal(stream.body.toString(), 'BODY');
    assert.equal(stream.complete, true);
  });
});
