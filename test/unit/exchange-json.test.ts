/**
 * The hand-written journal line (src/record/exchange-json.ts) reads back exactly as
 * `JSON.stringify(exchangeLine(x))` does: for a record with every field present (typed
 * `Required<Exchange>`, so a field added to the record and not to the writer fails here), for
 * every kind of body, and for arbitrary header text and body bytes (property test).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import type { CapturedBody, Exchange } from '../../src/core/exchange.js';
import { exchangeLine } from '../../src/record/entry.js';
import { exchangeLineParts, type LineParts } from '../../src/record/exchange-json.js';

function text(parts: LineParts): string {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))).toString('utf8');
}

function assertSame(x: Exchange): void {
  const written = text(exchangeLineParts(x));
  assert.ok(written.endsWith('}\n'), 'one line, ending in LF');
  assert.equal(written.indexOf('\n'), written.length - 1, 'no line break inside the line');
  const expected = JSON.parse(JSON.stringify(exchangeLine(x))) as { timings: Record<string, number> };
  // Timings are written to the microsecond.
  for (const [name, value] of Object.entries(expected.timings)) expected.timings[name] = Number(value.toFixed(3));
  assert.deepEqual(JSON.parse(written), expected);
}

const body = (s: string | Buffer, truncated = false): CapturedBody => {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return { bytes, size: bytes.length + (truncated ? 100 : 0), truncated };
};

function full(): Required<Exchange> {
  return {
    id: 'abcde-1',
    kind: 'http',
    client: { address: '127.0.0.1', port: 50123, connection: 7 },
    url: 'http://example.test/_vti_bin/_vti_aut/author.dll',
    request: { method: 'POST', url: 'http://example.test/_vti_bin/_vti_aut/author.dll', httpVersion: '1.1', rawHeaders: ['Host', 'example.test', 'User-Agent', 'MSFrontPage/12.0', 'X-Quote', 'say "hi" \\ back'] },
    forwarded: { path: '/_vti_bin/_vti_aut/author.dll', rawHeaders: ['Host', 'example.test'] },
    response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/x-vermeer-rpc', 'Set-Cookie', 'a=<redacted 3 bytes>'], source: 'upstream' },
    upstreamResponse: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/x-vermeer-rpc', 'Connection', 'keep-alive'], source: 'upstream' },
    upstream: { localAddress: '127.0.0.1', localPort: 40000, reused: true },
    protocol: {
      protocol: 'fpse',
      summary: 'fpse "server version" client=12.0.0.6415',
      conversation: '127.0.0.1 example.test',
      operation: 'server version',
      versions: { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' },
      facts: { method: 'server version', nested: { list: [1, 2, 3] } },
      verdicts: [{ code: 'accepted', level: 'ok', message: 'as MS-FPSE 1.7.1 requires' }],
      problems: ['none really'],
    },
    bytes: { request: 42, response: 1100 },
    timings: { start: 1796575315168.5022, upstreamConnected: 1796575315171.2473, responseHead: 1796575315185.2847, end: 1796575315185.9634 },
    intercepted: true,
    hints: ['Extended Protection may bind auth to the TLS channel'],
    rules: [{ id: 'downgrade', explain: 'rewrite the client version', stage: 'request-body', outcome: 'applied', changes: [{ action: 'setVersion', target: 'request body: method', before: '12.0.0.6415', after: '6.0.2.5420' }] }],
    bodies: { request: body('method=server+version%3a12%2e0%2e0%2e6415\n'), response: body('<html><head><title>vermeer RPC packet</title></head>\n<body>\n</body></html>\n', true) },
    websocket: {
      messages: [
        { from: 'client', time: 1796575315170, opcode: 1, data: Buffer.from('hello'), size: 5 },
        { from: 'server', time: 1796575315171, opcode: 2, data: Buffer.from([0, 1, 2, 255]), size: 10, truncated: true, compressed: true },
      ],
      counts: { client: 1, server: 1 },
      dropped: 0,
      problems: [],
    },
    ended: 'client-closed',
    error: { code: 'ECONNRESET', message: 'socket hang up', phase: 'response-body' },
  };
}

describe('journal line writer', () => {
  it('writes a record with every field as JSON.stringify(exchangeLine) reads', () => {
    assertSame(full());
  });

  it('writes the smallest record (no optional field)', () => {
    const { id, kind, client, url, request, bytes, timings } = full();
    assertSame({ id, kind, client, url, request, bytes, timings: { start: timings.start } });
  });

  it('chooses the same encoding for every kind of body, and keeps readable bodies as their own bytes', () => {
    const cases: Array<[string, CapturedBody, 'utf8' | 'base64', boolean]> = [
      ['plain text', body('x'.repeat(1024)), 'utf8', true],
      ['text with quotes, backslashes and line ends', body('a "b" \\c\r\n\td é'), 'utf8', false],
      ['binary', body(Buffer.from([0, 1, 2, 0xff, 0xfe])), 'base64', false],
      ['a DEL byte', body('abc\x7f'), 'base64', false],
      ['invalid UTF-8 without control bytes', body(Buffer.from([0x41, 0xc3, 0x28])), 'base64', false],
      ['empty', body(''), 'utf8', false],
      ['cut short', body('partial', true), 'utf8', true],
    ];
    for (const [name, b, encoding, verbatim] of cases) {
      const x: Exchange = { ...full(), bodies: { response: b } };
      assertSame(x);
      const parts = exchangeLineParts(x);
      assert.equal(parts.includes(b.bytes), verbatim, `${name}: bytes written as they are`);
      const line = JSON.parse(text(parts)) as { bodies: { response: { encoding: string } } };
      assert.equal(line.bodies.response.encoding, encoding, name);
    }
  });

  it('keeps a body as its own bytes exactly when it is safe ASCII or UTF-8 text, wherever it starts in memory', () => {
    // The check reads four bytes at a time from the first 4-byte boundary: bodies of mostly
    // printable ASCII, starting at any offset of a larger buffer, with one byte of any value
    // put anywhere, exercise the head, the words and the tail.
    const printable = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 64 });
    fc.assert(
      fc.property(printable, fc.nat(3), fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))), (codes, start, odd) => {
        const whole = Buffer.alloc(start + codes.length);
        whole.set(codes, start);
        const bytes = whole.subarray(start);
        if (odd !== null && bytes.length > 0) bytes[odd[0] % bytes.length] = odd[1];
        const text = bytes.toString('latin1');
        // eslint-disable-next-line no-control-regex -- the bytes a JSON string cannot hold as they are
        const expected = bytes.length > 0 && !/["\\\x00-\x1f\x7f]/.test(text) && isUtf8(bytes);
        const parts = exchangeLineParts({ ...full(), bodies: { response: body(bytes) } });
        assert.equal(parts.includes(bytes), expected, JSON.stringify([...bytes]));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back as JSON.stringify(exchangeLine) for any header text and body bytes', () => {
    const headerList = fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { maxLength: 8 }).map((l) => (l.length % 2 === 0 ? l : l.slice(1)));
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')),
    );
    fc.assert(
      fc.property(headerList, fc.string({ unit: 'binary', maxLength: 30 }), bytes, bytes, fc.boolean(), (raw, message, req, res, truncated) => {
        const base = full();
        assertSame({
          ...base,
          request: { ...base.request, rawHeaders: raw },
          response: { ...base.response, statusMessage: message, rawHeaders: raw },
          bodies: { request: body(req), response: body(res, truncated) },
        });
      }),
      { numRuns: 300 },
    );
  });
});
