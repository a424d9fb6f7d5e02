/**
 * `./proxy har` output against the HAR 1.2 JSON Schema (issue 6 item 3 and Acceptance): the
 * schema is har-schema (the one har-validator used), checked with ajv 8 and made as strict as the
 * spec (helpers/har-validator.ts, which the control API's HAR export is checked with too).
 * First on hand-built journal lines of every kind, then end to end: a recording proxy between
 * real clients and the FPSE and MAPI/HTTP simulators, an HTTPS upstream and a WebSocket server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import tls from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import type { Exchange } from '../src/core/exchange.js';
import { exchangeLine, type ExchangeLine } from '../src/record/entry.js';
import type { HarEntry } from '../src/record/har.js';
import { writeHar, type HarWriteResult } from '../src/record/har-write.js';
import type { JournalProblem } from '../src/record/journal-read.js';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { runMapiClient } from '../src/simulators/mapi-client.js';
import { openCa } from '../src/tls/ca.js';
import { proxiedRequest, withTimeout } from './helpers/client.js';
import { assertValidHar, byId, nonCustomExtras, validate } from './helpers/har-validator.js';
import { createLogSink } from './helpers/log-sink.js';
import { fpseServer, logger, mapiServer } from './helpers/protocol.js';
import { startProxy } from './helpers/proxy.js';
import { makeTestCa, startHttpsServer } from './helpers/tls.js';

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Conversion

const dir = mkdtempSync(join(tmpdir(), 'vp-har-schema-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Har {
  log: { version: string; creator: { name: string; version: string }; entries: HarEntry[] };
}

async function convert(paths: string[]): Promise<{ har: Har; text: string; result: HarWriteResult; problems: JournalProblem[] }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const problems: JournalProblem[] = [];
  const result = await writeHar(paths, out, { onProblem: (p) => problems.push(p) });
  const text = Buffer.concat(chunks).toString('utf8');
  return { har: JSON.parse(text) as Har, text, result, problems };
}

const T0 = Date.parse('2024-05-01T12:00:00Z');
let n = 0;

function exchange(overrides: Partial<Exchange>): Exchange {
  n += 1;
  return {
    id: `hand-${n}`,
    kind: 'http',
    client: { address: '127.0.0.1', port: 40000 + n, connection: n },
    url: 'http://example.test/',
    request: { method: 'GET', url: 'http://example.test/', httpVersion: '1.1', rawHeaders: ['Host', 'example.test'] },
    response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'text/plain'], source: 'upstream' },
    bytes: { request: 0, response: 2 },
    timings: { start: T0 + n, upstreamConnected: T0 + n + 1, responseHead: T0 + n + 3, end: T0 + n + 4 },
    bodies: { response: { bytes: Buffer.from('hi'), size: 2, truncated: false } },
    ...overrides,
  };
}

/** One line of every kind the journal holds, each with the custom fields it can carry. */
function everyKind(): ExchangeLine[] {
  const binary = Buffer.concat([Buffer.from([0xff]), randomBytes(4095)]);
  return [
    exchange({ url: 'http://example.test/?a=1', request: { method: 'GET', url: 'http://example.test/?a=1', httpVersion: '1.1', rawHeaders: ['Host', 'example.test', 'Cookie', 'a=<redacted 3 bytes>'] } }),
    exchange({
      url: 'http://fpse.test/_vti_bin/_vti_aut/author.dll',
      request: { method: 'POST', url: 'http://fpse.test/_vti_bin/_vti_aut/author.dll', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/x-www-form-urlencoded'] },
      bodies: { request: { bytes: Buffer.from('method=server+version'), size: 21, truncated: false } },
      bytes: { request: 21, response: 0 },
      protocol: { protocol: 'fpse', summary: 's', conversation: 'c', operation: 'server version', versions: { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }, facts: { endpoint: 'author' }, verdicts: [{ code: 'accepted', level: 'ok', message: 'ok' }], problems: [] },
      rules: [{ id: 'r1', explain: 'Match FPSE requests, and answer server version 6.0.2.5530', stage: 'response-body', outcome: 'applied', changes: [{ action: 'serverVersion', target: 'response body: server version', before: '14.0.0.6029', after: '6.0.2.5530' }] }],
      forwarded: { path: '/_vti_bin/_vti_aut/author.dll', rawHeaders: ['Host', 'fpse.test'] },
      upstreamResponse: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' },
    }),
    exchange({
      url: 'https://mail.test/mapi/emsmdb/',
      intercepted: true,
      request: { method: 'POST', url: '/mapi/emsmdb/', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/mapi-http'] },
      bodies: { request: { bytes: binary, size: binary.length, truncated: false }, response: { bytes: binary.subarray(0, 100), size: binary.length, truncated: true } },
      bytes: { request: binary.length, response: binary.length },
      protocol: { protocol: 'mapihttp', summary: 's', conversation: 'c', operation: 'Connect', versions: { client: '16.0' }, facts: {}, verdicts: [{ code: 'rejected-client-too-old', level: 'notice', message: 'm' }], problems: ['p'] },
    }),
    exchange({ kind: 'tunnel', url: 'secure.test:443', intercepted: true, request: { method: 'CONNECT', url: 'secure.test:443', httpVersion: '1.1', rawHeaders: [] }, response: { statusCode: 200, statusMessage: 'Connection Established', httpVersion: '1.1', rawHeaders: [], source: 'proxy' }, bodies: undefined, bytes: { request: 10, response: 20 }, ended: 'client-closed' }),
    exchange({
      kind: 'upgrade',
      url: 'http://ws.test/chat',
      request: { method: 'GET', url: 'http://ws.test/chat', httpVersion: '1.1', rawHeaders: ['Upgrade', 'websocket'] },
      response: { statusCode: 101, statusMessage: 'Switching Protocols', httpVersion: '1.1', rawHeaders: ['Upgrade', 'websocket'], source: 'upstream' },
      bodies: undefined,
      websocket: { counts: { client: 1, server: 1 }, dropped: 0, problems: [], messages: [{ from: 'client', time: T0, opcode: 1, data: Buffer.from('hi'), size: 2 }, { from: 'server', time: T0 + 1, opcode: 2, data: binary.subarray(0, 8), size: 8 }] },
      ended: 'upstream-closed',
    }),
    exchange({ response: undefined, bodies: undefined, error: { code: 'ECONNRESET', message: 'socket hang up', phase: 'response-head' }, timings: { start: T0, end: T0 + 1 }, hints: ['a hint'] }),
    exchange({ url: '', request: { method: '', url: '', httpVersion: '', rawHeaders: [] }, error: { code: 'HPE_INVALID_METHOD', message: 'bad', phase: 'request-head' }, response: { statusCode: 400, statusMessage: 'Bad Request', httpVersion: '1.1', rawHeaders: [], source: 'proxy' } }),
  ].map(exchangeLine);
}

describe('HAR schema: hand-built lines of every kind', () => {
  it('validates, custom fields included', async () => {
    const file = join(dir, 'every-kind.ndjson');
    const lines = everyKind();
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { har, result } = await convert([file]);
    assert.equal(result.entries, lines.length);
    assertValidHar(har);
    const customs = new Set(har.log.entries.flatMap((e) => Object.keys(e).filter((k) => k.startsWith('_'))));
    for (const name of ['_id', '_client', '_versions', '_rules', '_error', '_intercepted', '_tunnel', '_resourceType', '_webSocketMessages', '_forwarded', '_upstreamResponse', '_hints']) {
      assert.ok(customs.has(name), `no entry carries ${name}`);
    }
  });

  it('the validator refuses what HAR 1.2 forbids (so a pass means something)', async () => {
    const file = join(dir, 'control.ndjson');
    writeFileSync(file, JSON.stringify(exchangeLine(exchange({}))) + '\n');
    const { har } = await convert([file]);
    assertValidHar(har);
    const broken = (mutate: (e: Record<string, unknown> & HarEntry) => void): unknown => {
      const copy = structuredClone(har);
      mutate(copy.log.entries[0] as Record<string, unknown> & HarEntry);
      return copy;
    };
    assert.equal(validate(broken((e) => (e.timings.wait = -5))), false, 'a negative wait');
    assert.equal(validate(broken((e) => delete (e as Partial<HarEntry>).cache)), false, 'no cache');
    assert.equal(validate(broken((e) => (e.request.url = 'not a url'))), false, 'a relative url');
    assert.equal(validate(broken((e) => (e.startedDateTime = 'yesterday'))), false, 'startedDateTime');
    assert.equal(validate(broken((e) => (e.response.status = 'ok' as never))), false, 'a string status');
    assert.deepEqual(nonCustomExtras(broken((e) => (e.response.content = { ...e.response.content, encodig: 'base64' } as never)), byId.get('har.json#')!, '', []), ['.log.entries[0].response.content.encodig']);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end

const quiet = createLogSink('warn').logger;
const SECRET = 'c2VjcmV0LWhhci1lMmU6cGFzc3dvcmQ';

/** Echoes the request body back with its Content-Type, as application/octet-stream. */
async function echoServer(t: TestContext): Promise<string> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const bodyOut = Buffer.concat(chunks);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bodyOut.length), 'Set-Cookie': `session=${SECRET}; Path=/; HttpOnly` });
      res.end(bodyOut);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** A WebSocket server that answers each message with its reverse, text as text, binary as binary. */
async function wsServer(t: TestContext): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary) => ws.send(isBinary ? Buffer.from(data).reverse() : [...data.toString()].reverse().join(''), { binary: isBinary })));
  t.after(() => {
    for (const client of wss.clients) client.terminate();
    return new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
}

/** GET `url` over a CONNECT tunnel through the proxy, trusting `ca` (the proxy's CA). */
async function httpsThroughProxy(proxyPort: number, url: string, ca: string): Promise<string> {
  const { host, pathname } = new URL(url);
  const socket = await withTimeout(
    new Promise<net.Socket>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: host, headers: { Host: host }, agent: false });
      req.once('connect', (res, s) => (res.statusCode === 200 ? resolve(s) : reject(new Error(`CONNECT answered ${res.statusCode ?? '?'}`))));
      req.once('error', reject);
      req.end();
    }),
    5000,
    'the CONNECT tunnel',
  );
  const secure = tls.connect({ socket, ca, host: new URL(url).hostname });
  // No `agent`: with `agent: false` node:https would open a connection of its own instead.
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: Number(new URL(url).port), path: pathname, createConnection: () => secure }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          secure.destroy();
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
      });
      req.once('error', reject);
      req.end();
    }),
    5000,
    'the HTTPS request through the tunnel',
  );
}

/** Opens a WebSocket through the forward proxy (absolute-form target), sends, waits for both answers. */
async function wsThroughProxy(proxyPort: number, url: string): Promise<void> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    createConnection: () => net.connect(proxyPort, '127.0.0.1'),
    finishRequest: (req) => {
      req.path = url.replace(/^ws:/, 'http:');
      req.end();
    },
  });
  const answers: unknown[] = [];
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      // One at a time, so the record's order is known: send, receive, send, receive.
      ws.once('open', () => ws.send('hello'));
      ws.on('message', (data) => {
        answers.push(data);
        if (answers.length === 1) ws.send(Buffer.from([1, 2, 3, 0xff]));
        else ws.close(1000, 'done');
      });
      ws.once('close', () => resolve());
    }),
    5000,
    'the WebSocket exchange',
  );
}

describe('HAR schema: a real recording', () => {
  let ca: Awaited<ReturnType<typeof makeTestCa>>;
  before(async () => {
    ca = await makeTestCa('har-upstream');
  });

  it('FPSE, MAPI/HTTP, plain (3 MB binary), HTTPS and WebSocket traffic converts to a valid HAR; the 3 MB body survives byte for byte; no secret leaks', async (t) => {
    const recordDir = mkdtempSync(join(dir, 'rec-'));
    const caDir = join(recordDir, 'ca');
    const upstreamCaFile = join(recordDir, 'upstream-ca.pem');
    writeFileSync(upstreamCaFile, ca.certPem);
    await openCa(caDir, quiet);

    const fpse = await fpseServer(t);
    const mail = await mapiServer(t);
    const echo = await echoServer(t);
    const wsUrl = await wsServer(t);
    const secure = await startHttpsServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`hello ${req.url ?? ''}`);
    }, await ca.issue(['127.0.0.1']));
    t.after(() => secure.close());

    const proxy = await startProxy({
      record: { path: recordDir, captureBytes: 4 * MiB, rotateBytes: 256 * MiB },
      interception: { caDir, intercept: ['*'], noIntercept: [] },
      upstreamCa: [upstreamCaFile],
    });
    t.after(() => proxy.close(200));

    const fpseReport = await runFpseClient({ server: fpse.url, via: proxy.url, version: '12.0.0.6415', logger });
    assert.equal(fpseReport.negotiated, '12.0.0.6415');
    await runMapiClient({ server: mail.url, via: proxy.url, client: 'Outlook/16.0.15928.20006', authorization: `Basic ${SECRET}`, logger });
    const blob = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), randomBytes(3 * MiB - 3)]);
    const echoed = await proxiedRequest(proxy.port, `${echo}/blob`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', Cookie: `token=${SECRET}` }, body: blob, timeoutMs: 10_000 });
    assert.ok(echoed.body.equals(blob), 'the echo server did not send the blob back');
    assert.equal(await httpsThroughProxy(proxy.port, `${secure.url}/secure-path`, readFileSync(join(caDir, 'ca.pem'), 'utf8')), 'hello /secure-path');
    await wsThroughProxy(proxy.port, `${wsUrl}/chat`);

    // Tunnels and upgrades finish when their connections close; wait for every record.
    const expected = proxy.started.length;
    await proxy.waitForExchanges(expected, 5000);
    const recorded = proxy.exchanges.slice();
    await proxy.close();

    const { har, text, result, problems } = await convert([recordDir]);
    assert.deepEqual(problems, []);
    assert.equal(result.entries, recorded.length);
    assertValidHar(har);
    assert.ok(!text.includes(SECRET), 'a secret reached the HAR');

    const entries = har.log.entries;
    assert.deepEqual(entries.map((e) => e._id).sort(), recorded.map((x) => x.id).sort());
    const protocols = new Set(entries.map((e) => (e._versions as { protocol?: string } | undefined)?.protocol ?? 'http'));
    assert.deepEqual([...protocols].sort(), ['fpse', 'http', 'mapihttp']);
    const fpseAccepted = entries.find((e) => (e._versions as { verdicts: Array<{ code: string }> } | undefined)?.verdicts.some((v) => v.code === 'accepted'));
    assert.ok(fpseAccepted, 'no FPSE entry with the accepted verdict');

    const put = entries.find((e) => e.request.method === 'PUT');
    assert.ok(put, 'no PUT entry');
    assert.equal(put.request.postData?._encoding, 'base64');
    assert.ok(Buffer.from(put.request.postData?.text ?? '', 'base64').equals(blob), 'the request body differs after the round trip');
    assert.equal(put.response.content.encoding, 'base64');
    assert.equal(put.response.content.size, blob.length);
    assert.ok(Buffer.from(put.response.content.text ?? '', 'base64').equals(blob), 'the response body differs after the round trip');

    const inner = entries.find((e) => e.request.url === `${secure.url}/secure-path`);
    assert.ok(inner, `no intercepted entry for ${secure.url}/secure-path; urls: ${entries.map((e) => e.request.url).join(' ')}`);
    assert.equal(inner._intercepted, true);
    assert.equal(inner.response.content.text, 'hello /secure-path');
    const tunnel = entries.find((e) => e.request.method === 'CONNECT');
    assert.ok(tunnel, 'no CONNECT entry');
    assert.equal((tunnel._tunnel as { intercepted: boolean }).intercepted, true);

    const socket = entries.find((e) => e._resourceType === 'websocket');
    assert.ok(socket, 'no websocket entry');
    assert.equal(socket.request.url, `${wsUrl}/chat`);
    const messages = socket._webSocketMessages as Array<{ type: string; opcode: number; data: string }>;
    assert.deepEqual(
      messages.filter((m) => m.opcode === 1 || m.opcode === 2).map((m) => [m.type, m.opcode, m.data]),
      [
        ['send', 1, 'hello'],
        ['receive', 1, 'olleh'],
        ['send', 2, Buffer.from([1, 2, 3, 0xff]).toString('base64')],
        ['receive', 2, Buffer.from([0xff, 3, 2, 1]).toString('base64')],
      ],
    );
  });
});
