/**
 * Journal → HAR 1.2 (src/record/har.ts, har-write.ts): exchange lines built by hand, written to a
 * journal file in a temp folder, converted, parsed back and checked field by field. No sockets
 * (STYLE.md habit 9); the schema check and the end-to-end recording are in test/har-schema.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { constants, createDeflateRaw, deflateRawSync, gzipSync } from 'node:zlib';
import type { RuleRecord } from '../../src/core/exchange.js';
import { ProgramError } from '../../src/errors.js';
import { encodeBody, exchangeLine, type ExchangeLine, type JournalLine, type RunLine } from '../../src/record/entry.js';
import type { HarEntry } from '../../src/record/har.js';
import { parseSince, writeHar, type HarFilters, type HarWriteResult } from '../../src/record/har-write.js';
import type { JournalProblem } from '../../src/record/journal-read.js';
import { createProgressBar } from '../../src/record/progress.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(join(tmpdir(), 'har-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
let counter = 0;

function body(data: Buffer | string, truncatedAt?: number): { bytes: Buffer; size: number; truncated: boolean } {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return truncatedAt === undefined ? { bytes, size: bytes.length, truncated: false } : { bytes: bytes.subarray(0, truncatedAt), size: bytes.length, truncated: true };
}

/** An exchange line of a plain GET answered 200, with whatever the case changes. */
function line(overrides: Partial<ExchangeLine> = {}): ExchangeLine {
  counter += 1;
  return {
    v: 1,
    type: 'exchange',
    id: `run01-${counter}`,
    kind: 'http',
    client: { address: '127.0.0.1', port: 50000 + counter, connection: counter },
    url: 'http://example.test/',
    request: { method: 'GET', url: 'http://example.test/', httpVersion: '1.1', rawHeaders: ['Host', 'example.test'] },
    response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Length', '0'], source: 'upstream' },
    bytes: { request: 0, response: 0 },
    timings: { start: T0, upstreamConnected: T0 + 5, responseHead: T0 + 25, end: T0 + 40 },
    ...overrides,
  };
}

const RUN: RunLine = { v: 1, type: 'run', time: T0, tool: '0.1.0', mode: 'forward', captureBytes: 1 << 20, redaction: { enabled: true, extraHeaders: [] }, part: 1 };

function journal(name: string, lines: Array<JournalLine | string>, tail = ''): string {
  const file = join(dir, `${name}.ndjson`);
  writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n' + tail);
  return file;
}

interface Converted {
  har: { log: { version: string; creator: { name: string; version: string }; entries: HarEntry[] } };
  result: HarWriteResult;
  problems: JournalProblem[];
  text: string;
}

async function convert(files: string[], filters?: HarFilters): Promise<Converted> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const problems: JournalProblem[] = [];
  const result = await writeHar(files, out, { ...(filters && { filters }), onProblem: (p) => problems.push(p) });
  out.end();
  const text = Buffer.concat(chunks).toString('utf8');
  return { har: JSON.parse(text) as Converted['har'], result, problems, text };
}

async function one(l: ExchangeLine): Promise<HarEntry> {
  const { har, result } = await convert([journal(`one-${l.id}`, [RUN, l])]);
  assert.equal(result.entries, 1);
  return har.log.entries[0]!;
}

/** permessage-deflate payloads of one connection, sharing the compression window (RFC 7692 §7.2.1). */
async function deflateMessages(texts: string[]): Promise<Buffer[]> {
  const deflate = createDeflateRaw();
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const messages: Buffer[] = [];
  for (const text of texts) {
    deflate.write(text);
    await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    messages.push(Buffer.concat(out.splice(0)).subarray(0, -4));
  }
  deflate.close();
  return messages;
}

const FPSE_PROTOCOL: NonNullable<ExchangeLine['protocol']> = {
  protocol: 'fpse',
  summary: 'fpse "server version" client=12.0.0.6415 server=14.0.0.6029 negotiated=12.0.0.6415 accepted',
  conversation: '127.0.0.1 fpse.test',
  operation: 'server version',
  versions: { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' },
  facts: { endpoint: 'author', request: { method: 'server version', version: '12.0.0.6415' } },
  verdicts: [{ code: 'accepted', level: 'ok', message: 'the server accepted the client' }],
  problems: [],
};

const MAPI_PROTOCOL: NonNullable<ExchangeLine['protocol']> = {
  protocol: 'mapihttp',
  summary: 'mapihttp Connect client=16.0.1 server=15.1.2507.6 rejected-client-too-old',
  conversation: 'client-info-1',
  operation: 'Connect',
  versions: { client: '16.0.1', server: '15.1.2507.6' },
  facts: { requestType: 'Connect', responseCode: 0 },
  verdicts: [{ code: 'rejected-client-too-old', level: 'notice', message: 'the server refused the client build' }],
  problems: ['a problem'],
};

describe('har: log and entries', () => {
  it('writes a HAR 1.2 log whose creator is version-proxy at the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const { har } = await convert([journal('empty', [RUN])]);
    assert.equal(har.log.version, '1.2');
    assert.deepEqual(har.log.creator, { name: 'version-proxy', version: pkg.version });
    assert.deepEqual(har.log.entries, []);
  });

  it('plain GET: absolute URL, headers in order with duplicates, cookies, query, redirect, timings', async () => {
    const raw = ['Host', 'example.test', 'Cookie', 'a=1; b=<redacted 5 bytes>', 'X-Dup', 'one', 'x-dup', 'two', 'Cookie', 'c=3'];
    const e = await one(
      line({
        url: 'http://example.test/path?q=a%20b&empty=&q=2',
        request: { method: 'GET', url: 'http://example.test/path?q=a%20b&empty=&q=2', httpVersion: '1.1', rawHeaders: raw },
        response: {
          statusCode: 302,
          statusMessage: 'Found',
          httpVersion: '1.1',
          rawHeaders: ['Location', '/elsewhere', 'Set-Cookie', 'sid=<redacted 32 bytes>; Path=/; HttpOnly; Secure; Expires=Wed, 21 Oct 2026 07:28:00 GMT', 'Content-Type', 'text/plain; charset=utf-8'],
          source: 'upstream',
        },
        bodies: { response: encodeBody(body('moved')) },
        bytes: { request: 0, response: 5 },
      }),
    );
    assert.equal(e.startedDateTime, '2024-05-01T12:00:00.000Z');
    assert.equal(e.request.method, 'GET');
    assert.equal(e.request.url, 'http://example.test/path?q=a%20b&empty=&q=2');
    assert.equal(e.request.httpVersion, 'HTTP/1.1');
    assert.deepEqual(
      e.request.headers.map((h) => `${h.name}: ${h.value}`),
      ['Host: example.test', 'Cookie: a=1; b=<redacted 5 bytes>', 'X-Dup: one', 'x-dup: two', 'Cookie: c=3'],
    );
    assert.deepEqual(e.request.cookies, [
      { name: 'a', value: '1' },
      { name: 'b', value: '<redacted 5 bytes>' },
      { name: 'c', value: '3' },
    ]);
    assert.deepEqual(e.request.queryString, [
      { name: 'q', value: 'a b' },
      { name: 'empty', value: '' },
      { name: 'q', value: '2' },
    ]);
    assert.equal(e.request.postData, undefined);
    assert.equal(e.request.headersSize, -1);
    assert.equal(e.request.bodySize, 0);
    assert.equal(e.response.status, 302);
    assert.equal(e.response.statusText, 'Found');
    assert.equal(e.response.httpVersion, 'HTTP/1.1');
    assert.equal(e.response.redirectURL, '/elsewhere');
    assert.deepEqual(e.response.cookies, [{ name: 'sid', value: '<redacted 32 bytes>', path: '/', httpOnly: true, secure: true, expires: '2026-10-21T07:28:00.000Z' }]);
    assert.deepEqual(e.response.content, { size: 5, mimeType: 'text/plain; charset=utf-8', text: 'moved' });
    assert.equal(e.response.bodySize, 5);
    assert.deepEqual(e.timings, { blocked: -1, dns: -1, connect: 5, send: 0, wait: 20, receive: 15, ssl: -1 });
    assert.equal(e.time, 40);
    assert.equal(e._id, `run01-${counter}`);
    assert.deepEqual(e._client, { address: '127.0.0.1', port: 50000 + counter, connection: counter });
    assert.equal(e.connection, String(counter));
    assert.equal(e._versions, undefined);
    assert.equal(e._intercepted, undefined);
    assert.deepEqual(e.cache, {});
  });

  it('FPSE: _versions holds the protocol record; the form body is postData text', async () => {
    const form = 'method=server+version%3a12.0.0.6415&service_name=%2f';
    const e = await one(
      line({
        url: 'http://fpse.test/_vti_bin/_vti_aut/author.dll',
        request: { method: 'POST', url: 'http://fpse.test/_vti_bin/_vti_aut/author.dll', httpVersion: '1.1', rawHeaders: ['Host', 'fpse.test', 'Content-Type', 'application/x-www-form-urlencoded'] },
        response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/x-vermeer-rpc'], source: 'upstream' },
        protocol: FPSE_PROTOCOL,
        bodies: { request: encodeBody(body(form)), response: encodeBody(body('<html>\n<head><title>vermeer RPC packet</title></head>\n</html>\n')) },
        bytes: { request: form.length, response: 59 },
      }),
    );
    assert.deepEqual(e._versions, {
      protocol: 'fpse',
      operation: 'server version',
      conversation: FPSE_PROTOCOL.conversation,
      versions: FPSE_PROTOCOL.versions,
      facts: FPSE_PROTOCOL.facts,
      verdicts: FPSE_PROTOCOL.verdicts,
      problems: [],
      summary: FPSE_PROTOCOL.summary,
    });
    assert.deepEqual(e.request.postData, { mimeType: 'application/x-www-form-urlencoded', text: form });
    assert.equal(e.request.bodySize, form.length);
    assert.equal(e.response.content.mimeType, 'application/x-vermeer-rpc');
  });

  it('MAPI/HTTP: a binary request body is base64 in postData.text, flagged _encoding', async () => {
    const request = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x01]);
    const e = await one(
      line({
        url: 'https://mail.test/mapi/emsmdb/?MailboxId=x@example.com',
        request: { method: 'POST', url: '/mapi/emsmdb/?MailboxId=x@example.com', httpVersion: '1.1', rawHeaders: ['Host', 'mail.test', 'Content-Type', 'application/mapi-http', 'X-RequestType', 'Connect'] },
        protocol: MAPI_PROTOCOL,
        intercepted: true,
        bodies: { request: encodeBody(body(request)) },
        bytes: { request: request.length, response: 0 },
      }),
    );
    assert.equal(e._versions && (e._versions as { protocol: string }).protocol, 'mapihttp');
    assert.deepEqual(e.request.postData, { mimeType: 'application/mapi-http', text: request.toString('base64'), _encoding: 'base64' });
    assert.deepEqual(e.request.queryString, [{ name: 'MailboxId', value: 'x@example.com' }]);
    assert.equal(e._intercepted, true);
    assert.equal(e.request.url, 'https://mail.test/mapi/emsmdb/?MailboxId=x@example.com');
  });

  it('an origin-form target with no absolute url is rebuilt from Host, and said so', async () => {
    const e = await one(line({ url: '/only/path', request: { method: 'GET', url: '/only/path', httpVersion: '1.1', rawHeaders: ['Host', 'h.test:81'] } }));
    assert.equal(e.request.url, 'http://h.test:81/only/path');
    assert.match(e.request.comment ?? '', /rebuilt from Host/);
    const bad = await one(line({ url: '', request: { method: '', url: '', httpVersion: '', rawHeaders: [] }, error: { code: 'HPE_INVALID_METHOD', message: 'bad', phase: 'request-head' } }));
    assert.equal(bad.request.url, 'about:blank');
    assert.equal(bad.request.httpVersion, '');
    assert.match(bad.request.comment ?? '', /could not be read/);
  });

  it('tunnel: a CONNECT entry with _tunnel (target, bytes, ended, intercepted)', async () => {
    const e = await one(
      line({
        kind: 'tunnel',
        url: 'secure.test:443',
        request: { method: 'CONNECT', url: 'secure.test:443', httpVersion: '1.1', rawHeaders: ['Host', 'secure.test:443'] },
        response: { statusCode: 200, statusMessage: 'Connection Established', httpVersion: '1.1', rawHeaders: [], source: 'proxy' },
        bytes: { request: 5120, response: 40960 },
        ended: 'client-closed',
        timings: { start: T0, upstreamConnected: T0 + 3, responseHead: T0 + 3, end: T0 + 1000 },
      }),
    );
    assert.equal(e.request.method, 'CONNECT');
    assert.equal(e.request.url, 'https://secure.test:443/');
    assert.equal(e.response.status, 200);
    assert.equal(e.response._source, 'proxy');
    assert.equal(e.response.bodySize, 0);
    assert.deepEqual(e._tunnel, { target: 'secure.test:443', bytes: { request: 5120, response: 40960 }, ended: 'client-closed', intercepted: false });
    assert.deepEqual(e.timings, { blocked: -1, dns: -1, connect: 3, send: 0, wait: 0, receive: 997, ssl: -1 });
  });

  it('WebSocket: _resourceType and Chrome-style _webSocketMessages (send/receive, seconds, binary base64, inflated deflate)', async () => {
    const binary = Buffer.from([0x00, 0x01, 0xfe, 0xff]);
    const inflated = 'hello compressed';
    // RFC 7692 §7.2.1: the sender drops the trailing 00 00 FF FF of a sync flush.
    const compressed = deflateRawSync(Buffer.from(inflated), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    // With context takeover (RFC 7692 §7.1.1) the second message points back into the first.
    const [, takeover] = await deflateMessages(['hello hello hello world of websockets', 'hello hello hello world of websockets again']);
    const ws = {
      counts: { client: 2, server: 3 },
      dropped: 1,
      problems: [],
      messages: [
        { from: 'client' as const, time: T0 + 100.5, opcode: 1, data: Buffer.from('ping me'), size: 7 },
        { from: 'server' as const, time: T0 + 200, opcode: 2, data: binary, size: 4 },
        { from: 'server' as const, time: T0 + 300, opcode: 1, data: compressed, size: compressed.length, compressed: true },
        { from: 'client' as const, time: T0 + 400, opcode: 1, data: Buffer.from('long tex'), size: 9000, truncated: true },
        { from: 'server' as const, time: T0 + 500, opcode: 1, data: takeover!, size: takeover!.length, compressed: true },
      ],
    };
    const l = exchangeLine({
      ...line({
        kind: 'upgrade',
        url: 'http://ws.test/socket',
        request: { method: 'GET', url: 'http://ws.test/socket', httpVersion: '1.1', rawHeaders: ['Host', 'ws.test', 'Upgrade', 'websocket', 'Connection', 'Upgrade'] },
        response: { statusCode: 101, statusMessage: 'Switching Protocols', httpVersion: '1.1', rawHeaders: ['Upgrade', 'websocket', 'Connection', 'Upgrade'], source: 'upstream' },
        bytes: { request: 120, response: 340 },
        ended: 'client-closed',
      }),
      websocket: ws,
    } as never);
    const e = await one(l);
    assert.equal(e._resourceType, 'websocket');
    assert.equal(e.request.url, 'ws://ws.test/socket');
    assert.equal(e.response.status, 101);
    assert.deepEqual(e._webSocketMessages, [
      { type: 'send', time: (T0 + 100.5) / 1000, opcode: 1, data: 'ping me' },
      { type: 'receive', time: (T0 + 200) / 1000, opcode: 2, data: binary.toString('base64') },
      { type: 'receive', time: (T0 + 300) / 1000, opcode: 1, data: inflated },
      { type: 'send', time: (T0 + 400) / 1000, opcode: 1, data: 'long tex', _truncated: true, _realSize: 9000 },
      { type: 'receive', time: (T0 + 500) / 1000, opcode: 1, data: takeover!.toString('base64'), _encoding: 'base64', _compressed: true },
    ]);
    assert.deepEqual(e._webSocket, { counts: { client: 2, server: 3 }, dropped: 1, problems: [] });
    // The connection's bytes after the switch are frames, not an HTTP body.
    assert.deepEqual(e._upgrade, { bytes: { request: 120, response: 340 }, ended: 'client-closed' });
    assert.equal(e.request.postData, undefined);
    assert.equal(e.request.bodySize, 0);
    assert.equal(e.response.bodySize, 0);
  });

  it('aborted: status 0 and _error {code, message, phase}', async () => {
    const error = { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1', phase: 'connect' as const };
    const e = await one(line({ response: undefined, error, timings: { start: T0, end: T0 + 2 } }));
    assert.equal(e.response.status, 0);
    assert.equal(e.response.statusText, '');
    assert.deepEqual(e.response.headers, []);
    assert.deepEqual(e._error, error);
    assert.deepEqual(e.timings, { blocked: -1, dns: -1, connect: -1, send: 0, wait: 2, receive: 0, ssl: -1 });
    assert.equal(e.time, 2);
  });

  it('a truncated body: content.size is the real size, _truncated and _size (bytes kept) mark the cut', async () => {
    const full = 'x'.repeat(5000);
    const e = await one(line({ bodies: { response: encodeBody(body(full, 1000)) }, bytes: { request: 0, response: 5000 }, response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' } }));
    assert.deepEqual(e.response.content, { size: 5000, mimeType: 'application/octet-stream', text: 'x'.repeat(1000), _truncated: true, _size: 1000 });
    assert.equal(e.response.bodySize, 5000);
  });

  it('a gzip response is decoded into content.text, compression says what it saved', async () => {
    const text = 'hello '.repeat(200);
    const gz = gzipSync(text);
    const e = await one(line({ response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Encoding', 'gzip', 'Content-Type', 'text/plain'], source: 'upstream' }, bodies: { response: encodeBody(body(gz)) }, bytes: { request: 0, response: gz.length } }));
    assert.deepEqual(e.response.content, { size: text.length, compression: text.length - gz.length, mimeType: 'text/plain', text });
    assert.equal(e.response.bodySize, gz.length);
    const cut = await one(line({ response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Encoding', 'gzip'], source: 'upstream' }, bodies: { response: encodeBody(body(gz, 10)) }, bytes: { request: 0, response: gz.length } }));
    assert.equal(cut.response.content._contentEncoding, 'gzip');
    assert.equal(cut.response.content.encoding, 'base64');
    assert.deepEqual(Buffer.from(cut.response.content.text!, 'base64'), gz.subarray(0, 10));
  });

  it('_rules keeps the record\'s rules as they are, changes with before/after', async () => {
    const rules: RuleRecord[] = [
      { id: 'old-server', explain: 'Match FPSE requests, and answer server version 6.0.2.5530', stage: 'response-body', outcome: 'applied', changes: [{ action: 'serverVersion', target: 'response body: server version', before: '14.0.0.6029', after: '6.0.2.5530' }] },
      { id: 'too-big', explain: 'Match POSTs, and rewrite the body', stage: 'request-body', outcome: 'skipped', reason: 'body over the 1 MiB buffer cap', changes: [] },
    ];
    const e = await one(line({ rules, forwarded: { path: '/', rawHeaders: ['Host', 'example.test', 'X-Rule', 'yes'] }, upstreamResponse: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Server', 'x'], source: 'upstream' } }));
    assert.deepEqual(e._rules, rules);
    assert.deepEqual(e._forwarded, { path: '/', headers: [{ name: 'Host', value: 'example.test' }, { name: 'X-Rule', value: 'yes' }] });
    assert.deepEqual(e._upstreamResponse, { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', headers: [{ name: 'Server', value: 'x' }] });
  });

  it('a 3 MB binary body comes out byte for byte after decoding the HAR content', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), randomBytes(3 * 1024 * 1024 - 2)]);
    const l = line({ bodies: { request: encodeBody(body(bytes)), response: encodeBody(body(bytes)) }, bytes: { request: bytes.length, response: bytes.length }, request: { method: 'PUT', url: 'http://example.test/blob', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/octet-stream'] }, url: 'http://example.test/blob' });
    assert.equal(l.bodies?.response?.encoding, 'base64');
    const e = await one(l);
    assert.equal(e.response.content.encoding, 'base64');
    assert.equal(e.response.content.size, bytes.length);
    assert.ok(Buffer.from(e.response.content.text!, 'base64').equals(bytes), 'response body differs');
    assert.equal(e.request.postData?._encoding, 'base64');
    assert.ok(Buffer.from(e.request.postData?.text ?? "", 'base64').equals(bytes), 'request body differs');
  });
});

describe('har: filters', () => {
  const lines = [
    line({ id: 'plain', url: 'http://www.example.test/', timings: { start: T0, end: T0 + 1 } }),
    line({ id: 'fpse', url: 'http://FPSE.Contoso.test:8080/_vti_inf.html', protocol: FPSE_PROTOCOL, timings: { start: T0 + 60_000, end: T0 + 60_001 } }),
    line({ id: 'mapi', url: 'https://mail.contoso.test/mapi/emsmdb/', protocol: MAPI_PROTOCOL, timings: { start: T0 + 120_000, end: T0 + 120_001 } }),
    line({ id: 'tunnel', kind: 'tunnel', url: 'secure.contoso.test:443', request: { method: 'CONNECT', url: 'secure.contoso.test:443', httpVersion: '1.1', rawHeaders: [] } }),
  ];
  const cases: Array<[string, HarFilters, string[]]> = [
    ['no filter', {}, ['plain', 'fpse', 'mapi', 'tunnel']],
    ['--protocol fpse', { protocols: ['fpse'] }, ['fpse']],
    ['--protocol http (no protocol)', { protocols: ['http'] }, ['plain', 'tunnel']],
    ['--protocol mapihttp fpse', { protocols: ['mapihttp', 'fpse'] }, ['fpse', 'mapi']],
    ['--host *.contoso.test (case-insensitive, with or without port)', { hosts: ['*.contoso.test'] }, ['fpse', 'mapi', 'tunnel']],
    ['--host fpse.contoso.test:8080', { hosts: ['fpse.contoso.test:8080'] }, ['fpse']],
    ['--host www.*', { hosts: ['www.*'] }, ['plain']],
    ['--verdict rejected-client-too-old', { verdicts: ['rejected-client-too-old'] }, ['mapi']],
    ['--verdict accepted rejected-client-too-old', { verdicts: ['accepted', 'rejected-client-too-old'] }, ['fpse', 'mapi']],
    ['--since T0+1min', { since: T0 + 60_000 }, ['fpse', 'mapi']],
    ['all at once', { protocols: ['fpse', 'mapihttp'], hosts: ['*.contoso.test'], verdicts: ['accepted'], since: T0 }, ['fpse']],
  ];
  const file = journal('filters', [RUN, ...lines]);
  for (const [name, filters, ids] of cases) {
    it(name, async () => {
      const { har, result } = await convert([file], filters);
      assert.deepEqual(
        har.log.entries.map((e) => e._id),
        ids,
      );
      assert.equal(result.entries, ids.length);
      assert.equal(result.filteredOut, lines.length - ids.length);
    });
  }
});

describe('har: bad lines are reported, never thrown', () => {
  it('skips a non-JSON line, a torn last line, an unusable exchange and reports a dropped line', async () => {
    const good = line({ id: 'good' });
    const file = journal('bad', [RUN, 'not json at all', good, { v: 1, type: 'exchange' } as unknown as JournalLine, { v: 1, type: 'dropped', time: T0, count: 3, reason: 'the disk was slow' }], '{"v":1,"type":"exch');
    const { har, result, problems } = await convert([file]);
    assert.deepEqual(
      har.log.entries.map((e) => e._id),
      ['good'],
    );
    assert.equal(result.problems, 4);
    assert.deepEqual(
      problems.map((p) => p.line),
      [2, 4, 5, 6],
    );
    assert.match(problems[0]!.message, /not a JSON line/);
    assert.match(problems[1]!.message, /not a usable exchange record/);
    assert.match(problems[2]!.message, /dropped 3 exchange\(s\).*the disk was slow/);
    assert.match(problems[3]!.message, /cut short/);
  });

  it('reads several journals (and folders) in order', async () => {
    const a = journal('multi-a', [RUN, line({ id: 'a1' })]);
    const b = journal('multi-b', [RUN, line({ id: 'b1' }), line({ id: 'b2' })]);
    const { har } = await convert([a, b]);
    assert.deepEqual(
      har.log.entries.map((e) => e._id),
      ['a1', 'b1', 'b2'],
    );
  });

  it('reports progress up to the journals\' total size', async () => {
    const file = journal('progress', [RUN, line(), line(), line()]);
    const seen: Array<[number, number]> = [];
    await writeHar([file], new PassThrough().resume(), { onProgress: (done, total) => seen.push([done, total]) });
    const size = statSync(file).size;
    assert.ok(seen.length >= 3);
    assert.ok(seen.every(([, total]) => total === size));
    assert.deepEqual(seen.at(-1), [size, size]);
  });

  it('waits for a slow output (drain) and still writes the whole log', async () => {
    const file = journal('slow', [RUN, ...Array.from({ length: 50 }, () => line({ bodies: { response: encodeBody(body('y'.repeat(2000))) }, bytes: { request: 0, response: 2000 } }))]);
    const chunks: Buffer[] = [];
    let pending = 0;
    let maxPending = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        pending += 1;
        maxPending = Math.max(maxPending, pending);
        setImmediate(() => {
          pending -= 1;
          done();
        });
      },
    });
    let drains = 0;
    slow.on('drain', () => (drains += 1));
    const result = await writeHar([file], slow);
    await new Promise<void>((resolve) => slow.end(resolve));
    assert.equal(result.entries, 50);
    assert.ok(drains >= 10, `drained ${drains} times`);
    assert.equal(maxPending, 1, 'wrote again before the previous chunk was taken');
    const har = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Converted['har'];
    assert.equal(har.log.entries.length, 50);
  });
});

describe('har: parseSince', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  it('reads spans back from now', () => {
    assert.equal(parseSince('30s', now), now - 30_000);
    assert.equal(parseSince('10m', now), now - 600_000);
    assert.equal(parseSince('2h', now), now - 7_200_000);
    assert.equal(parseSince('1d', now), now - 86_400_000);
    assert.equal(parseSince('1h30m', now), now - 5_400_000);
  });
  it('reads ISO 8601 times', () => {
    assert.equal(parseSince('2024-05-01T10:00:00Z', now), Date.parse('2024-05-01T10:00:00Z'));
    assert.equal(parseSince('2024-05-01T10:00:00.250+02:00', now), Date.parse('2024-05-01T08:00:00.250Z'));
    assert.equal(parseSince('2024-05-01', now), Date.parse('2024-05-01T00:00:00Z'));
  });
  it('refuses anything else with ERR_BAD_OPTION and a hint', () => {
    for (const bad of ['yesterday', '10', '5 minutes', '2024-13-45T99:00', 'May 1 2024', '']) {
      assert.throws(
        () => parseSince(bad, now),
        (err: unknown) => err instanceof ProgramError && err.code === 'ERR_BAD_OPTION' && err.message.includes('--since') && (err.hint ?? '').includes('30s'),
        bad,
      );
    }
  });
});

describe('progress bar', () => {
  function fakeTty(): { stream: NodeJS.WriteStream; writes: string[] } {
    const writes: string[] = [];
    const stream = { columns: 80, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream;
    return { stream, writes };
  }

  it('redraws at most every interval, always draws 100%, and ends with the summary on its own line', () => {
    const { stream, writes } = fakeTty();
    let clock = 0;
    const bar = createProgressBar(stream, 'har', { now: () => clock });
    for (let i = 0; i <= 100; i += 1) {
      bar.update(i * 1_000_000, 100_000_000);
      clock += 10;
    }
    // 101 updates over ~1 s at most 10 a second: the first, every 10th, and the last.
    assert.ok(writes.length >= 10 && writes.length <= 12, `${writes.length} redraws`);
    assert.ok(writes.every((w) => w.startsWith('\r')));
    assert.match(writes.at(-1)!, /har \[#{30}\] 100% 100\.0\/100\.0 MB/);
    bar.done('1,234 entries written to out.har');
    assert.equal(writes.at(-1), '\r\x1b[K1,234 entries written to out.har\n');
  });

  it('fits the terminal width', () => {
    const { stream, writes } = fakeTty();
    stream.columns = 20;
    createProgressBar(stream, 'converting a long label', { now: () => 0 }).update(1, 2);
    assert.equal(writes[0], `\r${'converting a long label'.slice(0, 19)}\x1b[K`);
  });
});

