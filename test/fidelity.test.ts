/**
 * Fidelity (docs/running.md "Fidelity"): what the client sent reaches the upstream, and what the
 * upstream sent reaches the client, with header order, case and repetition kept; only the
 * connection-specific fields of RFC 9110 §7.6.1 are removed, Host is set as RFC 9112 §3.2.2 (forward)
 * or --target/--keep-host (reverse) require, and nothing is added unless asked for.
 * Requests go over raw sockets so the test controls every byte; each test checks the upstream's
 * view, the client's view and the record.
 */
import type net from 'node:net';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { header, headerNames, headers, rawRequest, type ParsedResponse } from './helpers/client.js';
import { MODES, startProxyFor, type Exchange, type ModeProxy } from './helpers/proxy.js';
import { hasHead, readUntil, startRawServer, startRecordingServer, type RawTestServer, type RecordingServer } from './helpers/servers.js';

/** A request head as bytes: request line, raw header pairs, empty line, then the body. */
function rawHead(requestLine: string, raw: string[], body = ''): string {
  let text = `${requestLine}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]!}: ${raw[i + 1]!}\r\n`;
  return `${text}\r\n${body}`;
}

/**
 * The proxy's own upstream hop may announce its persistence (`Connection: keep-alive`, appended
 * last by node:http); that field belongs to the proxy's connection, not to the client's message.
 */
function withoutProxyHop(raw: string[]): string[] {
  const out = raw.slice();
  while (out.length >= 2 && /^(connection|keep-alive)$/i.test(out[out.length - 2]!) && /^keep-alive$|^timeout=/i.test(out[out.length - 1]!)) {
    out.splice(out.length - 2, 2);
  }
  return out;
}

/** The same for the client hop of a response (node:http appends `Connection: keep-alive`). */
const withoutClientHop = withoutProxyHop;

/** What the upstream received according to the record. */
function forwardedHeaders(x: Exchange): string[] {
  return x.forwarded?.rawHeaders ?? x.request.rawHeaders;
}

/**
 * The upstream received exactly `expected` (after the proxy's own hop field), in order. The
 * message names order and case, so a reordering is not mistaken for a missing field.
 */
function assertUpstreamHead(actual: string[], expected: string[]): void {
  assert.deepEqual(
    withoutProxyHop(actual),
    expected,
    `the upstream must receive the fields in the client's order, case and repetition;\n  sent: ${JSON.stringify(expected)}\n  got:  ${JSON.stringify(actual)}`,
  );
}

async function onlyExchange(proxy: ModeProxy): Promise<Exchange> {
  const [x] = await proxy.waitForExchanges(1);
  assert.ok(x);
  return x;
}

/** A raw upstream that reads one request head, then writes `response` exactly. */
async function startScriptedUpstream(response: string): Promise<RawTestServer & { heads: string[] }> {
  const heads: string[] = [];
  const server = await startRawServer((socket: net.Socket) => {
    void readUntil(socket, hasHead).then(
      (bytes) => {
        heads.push(bytes.toString('latin1'));
        socket.write(response, 'latin1');
      },
      () => undefined,
    );
  });
  return Object.assign(server, { heads });
}

const HOP_BY_HOP_NAMES = ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];

for (const mode of MODES) {
  describe(`fidelity, ${mode} mode`, () => {
    /** Runs `body` against a recording upstream and a proxy for it, and closes both after. */
    async function withProxy(
      overrides: Parameters<typeof startProxyFor>[2],
      body: (upstream: RecordingServer, proxy: ModeProxy) => Promise<void>,
    ): Promise<void> {
      const upstream = await startRecordingServer();
      try {
        const proxy = await startProxyFor(mode, upstream.port, overrides);
        try {
          await body(upstream, proxy);
        } finally {
          await proxy.close();
        }
      } finally {
        await upstream.close();
      }
    }

    it('request headers reach the upstream in their order and case, repeated fields repeated', () =>
      withProxy({}, async (upstream, proxy) => {
        const sent = [
          'Host', proxy.upstreamAuthority,
          'x-CuStOm-A', 'one',
          'X-Zeta', 'z',
          'accept', '*/*',
          'X-ALPHA', 'a',
          'Cookie', 'a=1',
          'Cookie', 'b=2',
          'user-AGENT', 'Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.4266; Pro)',
        ];
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/fidelity')} HTTP/1.1`, sent));
        assert.equal(response?.statusCode, 200);
        assert.equal(upstream.requests.length, 1);
        const seen = upstream.requests[0]!;
        assertUpstreamHead(seen.rawHeaders, sent);

        const x = await onlyExchange(proxy);
        assert.deepEqual(x.request.rawHeaders, sent, 'record: request.rawHeaders is what the client sent');
        assert.deepEqual(forwardedHeaders(x), withoutProxyHop(seen.rawHeaders), 'record: what the upstream received');
      }));

    it('interleaved repeats (A, B, A) keep their order and case on the way to the upstream', () =>
      withProxy({}, async (upstream, proxy) => {
        const sent = ['Host', proxy.upstreamAuthority, 'X-Rep', '1', 'X-Between', 'b', 'x-rep', '2', 'Accept', '*/*'];
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/interleaved')} HTTP/1.1`, sent));
        assert.equal(response?.statusCode, 200);
        const seen = upstream.requests[0]!;
        assertUpstreamHead(seen.rawHeaders, sent);
        const x = await onlyExchange(proxy);
        assert.deepEqual(x.request.rawHeaders, sent);
        assert.deepEqual(forwardedHeaders(x), withoutProxyHop(seen.rawHeaders), 'the record says what the upstream received');
      }));

    it('drops connection-specific request fields (RFC 9110 §7.6.1) and passes every other field', () =>
      withProxy({}, async (upstream, proxy) => {
        const sent = [
          'Host', proxy.upstreamAuthority,
          'Connection', 'close, X-Hop',
          'X-Hop', '1',
          'Keep-Alive', 'timeout=42',
          'Proxy-Connection', 'keep-alive',
          'TE', 'trailers',
          'Trailer', 'X-Checksum',
          // Not an upgrade request (no `Connection: upgrade`), so Upgrade is just a hop field.
          'Upgrade', 'h2c',
          'X-End-To-End', 'kept',
          'Content-Type', 'text/plain',
          'Content-Length', '4',
        ];
        const { response } = await rawRequest(proxy.port, rawHead(`POST ${proxy.target('/hop')} HTTP/1.1`, sent, 'body'));
        assert.equal(response?.statusCode, 200);

        const seen = upstream.requests[0]!;
        const names = headerNames(seen.rawHeaders);
        for (const name of HOP_BY_HOP_NAMES) assert.ok(!names.includes(name), `the upstream must not see ${name}: ${JSON.stringify(seen.rawHeaders)}`);
        for (const value of headers(seen.rawHeaders, 'connection')) {
          assert.ok(!/x-hop|close/i.test(value), `the client's Connection options are not the upstream's: "Connection: ${value}"`);
        }
        assert.equal(header(seen.rawHeaders, 'x-end-to-end'), 'kept');
        assert.equal(header(seen.rawHeaders, 'content-type'), 'text/plain');
        assert.equal(seen.body.toString(), 'body');
        assertUpstreamHead(seen.rawHeaders, ['Host', proxy.upstreamAuthority, 'X-End-To-End', 'kept', 'Content-Type', 'text/plain', 'Content-Length', '4']);

        const x = await onlyExchange(proxy);
        assert.deepEqual(x.request.rawHeaders, sent, 'the record keeps what the client sent, hop fields included');
        assert.ok(x.forwarded, 'the record shows that the upstream received something else');
        assert.deepEqual(x.forwarded.rawHeaders, withoutProxyHop(seen.rawHeaders));
      }));

    it('adds no X-Forwarded-* fields by default', () =>
      withProxy({}, async (upstream, proxy) => {
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/plain')} HTTP/1.1`, ['Host', proxy.upstreamAuthority]));
        assert.equal(response?.statusCode, 200);
        const names = headerNames(upstream.requests[0]!.rawHeaders);
        assert.deepEqual(names.filter((n) => n.startsWith('x-forwarded') || n === 'forwarded'), []);
        const x = await onlyExchange(proxy);
        assert.deepEqual(headerNames(forwardedHeaders(x)).filter((n) => n.startsWith('x-forwarded')), []);
      }));

    it('with forwarded: true, appends the client to X-Forwarded-For and adds -Proto and -Host', () =>
      withProxy({ forwarded: true }, async (upstream, proxy) => {
        const clientHost = mode === 'reverse' ? 'app.example.test:8080' : proxy.upstreamAuthority;
        const first = await rawRequest(
          proxy.port,
          rawHead(`GET ${proxy.target('/xff')} HTTP/1.1`, ['Host', clientHost, 'X-Forwarded-For', '203.0.113.7']),
        );
        assert.equal(first.response?.statusCode, 200);
        const second = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/xff2')} HTTP/1.1`, ['Host', clientHost]));
        assert.equal(second.response?.statusCode, 200);

        const [withList, withoutList] = upstream.requests;
        assert.deepEqual(headers(withList!.rawHeaders, 'x-forwarded-for'), ['203.0.113.7, 127.0.0.1'], 'the client address is appended to the list');
        assert.deepEqual(headers(withoutList!.rawHeaders, 'x-forwarded-for'), ['127.0.0.1']);
        for (const seen of [withList!, withoutList!]) {
          assert.deepEqual(headers(seen.rawHeaders, 'x-forwarded-proto'), ['http']);
          assert.deepEqual(headers(seen.rawHeaders, 'x-forwarded-host'), [clientHost], 'X-Forwarded-Host is the Host the client asked for');
        }
        const records = await proxy.waitForExchanges(2);
        const forFirst = records.find((x) => x.request.url.endsWith('/xff'));
        assert.deepEqual(headers(forwardedHeaders(forFirst!), 'x-forwarded-for'), ['203.0.113.7, 127.0.0.1']);
      }));

    it('forwards the request path byte for byte', () =>
      withProxy({}, async (upstream, proxy) => {
        // Nothing normalised: empty segments, dot segments, percent-escapes (even invalid ones).
        const path = '/a//b/./../c/%2e%2E/?x=%2F&y=%zz&q=a+b&&e=';
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target(path)} HTTP/1.1`, ['Host', proxy.upstreamAuthority]));
        assert.equal(response?.statusCode, 200);
        assert.equal(upstream.requests[0]!.url, path);
        const x = await onlyExchange(proxy);
        assert.equal(x.request.url, proxy.target(path));
        assert.equal(x.forwarded?.path ?? x.request.url, path);
      }));

    it('relays response headers in their order and case, with the reason phrase and no Date added', async () => {
      const upstreamLines = [
        'x-OdD-Case', '1',
        'WWW-Authenticate', 'NTLM',
        'WWW-Authenticate', 'Negotiate',
        'Set-Cookie', 'a=1; Path=/',
        'Set-Cookie', 'b=2; Path=/; HttpOnly',
        'X-Zeta', 'z',
        'content-length', '5',
      ];
      const raw = await startScriptedUpstream(`${rawHead('HTTP/1.1 299 Whatever Reason', upstreamLines)}hello`);
      const proxy = await startProxyFor(mode, raw.port);
      try {
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/r')} HTTP/1.1`, ['Host', proxy.upstreamAuthority]));
        assert.ok(response, 'a response');
        assertResponse(response, 'HTTP/1.1 299 Whatever Reason', upstreamLines, 'hello');

        const x = await onlyExchange(proxy);
        assert.equal(x.response?.statusCode, 299);
        assert.equal(x.response?.statusMessage, 'Whatever Reason');
        assert.deepEqual(x.response?.rawHeaders, upstreamLines, 'the record has the relayed head');
        assert.equal(x.upstreamResponse, undefined, 'nothing differs, so no upstreamResponse');
      } finally {
        await proxy.close();
        await raw.close();
      }
    });

    it('relays interleaved repeated response fields (A, B, A) in order', async () => {
      const upstreamLines = ['Set-Cookie', 'a=1', 'X-Middle', 'm', 'set-cookie', 'b=2', 'Content-Length', '2'];
      const raw = await startScriptedUpstream(`${rawHead('HTTP/1.1 200 OK', upstreamLines)}ok`);
      const proxy = await startProxyFor(mode, raw.port);
      try {
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/r')} HTTP/1.1`, ['Host', proxy.upstreamAuthority]));
        assert.ok(response);
        assertResponse(response, 'HTTP/1.1 200 OK', upstreamLines, 'ok');
      } finally {
        await proxy.close();
        await raw.close();
      }
    });

    it('drops connection-specific response fields (RFC 9110 §7.6.1) and passes every other field', async () => {
      const upstreamLines = [
        'Connection', 'X-Hop',
        'X-Hop', '1',
        'Keep-Alive', 'timeout=99, max=7',
        'Proxy-Connection', 'keep-alive',
        'TE', 'trailers',
        'Trailer', 'X-Checksum',
        'Upgrade', 'h2c',
        'X-End-To-End', 'kept',
        'Content-Length', '2',
      ];
      const raw = await startScriptedUpstream(`${rawHead('HTTP/1.1 200 OK', upstreamLines)}ok`);
      const proxy = await startProxyFor(mode, raw.port);
      try {
        const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/hop')} HTTP/1.1`, ['Host', proxy.upstreamAuthority]));
        assert.ok(response);
        assert.equal(response.statusCode, 200);
        assert.equal(response.body.toString(), 'ok');
        const names = headerNames(response.rawHeaders);
        for (const name of ['x-hop', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
          assert.ok(!names.includes(name), `the client must not see ${name}: ${JSON.stringify(response.headLines)}`);
        }
        assert.ok(!headers(response.rawHeaders, 'keep-alive').includes('timeout=99, max=7'), "the upstream's Keep-Alive is not the client's");
        for (const value of headers(response.rawHeaders, 'connection')) assert.ok(!/x-hop/i.test(value), `Connection: ${value}`);
        assert.deepEqual(withoutClientHop(response.rawHeaders), ['X-End-To-End', 'kept', 'Content-Length', '2']);

        const x = await onlyExchange(proxy);
        assert.deepEqual(x.response?.rawHeaders, ['X-End-To-End', 'kept', 'Content-Length', '2'], 'record: what the client received');
        assert.deepEqual(x.upstreamResponse?.rawHeaders, upstreamLines, 'record: what the upstream sent');
      } finally {
        await proxy.close();
        await raw.close();
      }
    });
  });
}

/** The client received exactly the upstream's status line and fields, in order, plus its own hop. */
function assertResponse(response: ParsedResponse, statusLine: string, upstreamLines: string[], body: string): void {
  assert.equal(response.headLines[0], statusLine);
  assert.deepEqual(withoutClientHop(response.rawHeaders), upstreamLines, `client got:\n${response.headLines.join('\n')}`);
  assert.equal(header(response.rawHeaders, 'date'), undefined, 'no Date added to a response that had none');
  assert.equal(response.body.toString(), body);
}

describe('fidelity, forward mode only', () => {
  it('sends origin-form upstream and sets Host from the absolute-form target (RFC 9112 §3.2.2)', async () => {
    const upstream = await startRecordingServer();
    const proxy = await startProxyFor('forward', upstream.port);
    try {
      const authority = proxy.upstreamAuthority;
      await rawRequest(proxy.port, rawHead(`GET http://${authority}/p?q=1 HTTP/1.1`, ['Host', 'wrong.example', 'X-After', 'a']));
      await rawRequest(proxy.port, rawHead(`GET http://${authority} HTTP/1.1`, ['Host', authority]));
      assert.equal(upstream.requests.length, 2);
      const [withPath, bare] = upstream.requests;
      assert.equal(withPath!.url, '/p?q=1');
      // The Host the client wrote is replaced, in place, by the target's authority.
      assert.deepEqual(headers(withPath!.rawHeaders, 'host'), [authority]);
      assertUpstreamHead(withPath!.rawHeaders, ['Host', authority, 'X-After', 'a']);
      assert.equal(bare!.url, '/', 'an empty path becomes "/"');
      const records = await proxy.waitForExchanges(2);
      const x = records.find((r) => r.request.url.endsWith('/p?q=1'))!;
      assert.equal(x.request.url, `http://${authority}/p?q=1`);
      assert.deepEqual(x.request.rawHeaders, ['Host', 'wrong.example', 'X-After', 'a']);
      assert.equal(x.forwarded?.path, '/p?q=1');
      assert.deepEqual(x.forwarded?.rawHeaders, ['Host', authority, 'X-After', 'a']);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  it('does not pass Proxy-Authorization on to the origin (RFC 9110 §11.7.2)', async () => {
    const upstream = await startRecordingServer();
    const proxy = await startProxyFor('forward', upstream.port);
    try {
      const sent = ['Host', proxy.upstreamAuthority, 'Proxy-Authorization', 'Basic dXNlcjpwYXNz', 'Authorization', 'Bearer for-the-origin'];
      const { response } = await rawRequest(proxy.port, rawHead(`GET ${proxy.target('/auth')} HTTP/1.1`, sent));
      assert.equal(response?.statusCode, 200);
      const seen = upstream.requests[0]!;
      assert.equal(header(seen.rawHeaders, 'proxy-authorization'), undefined);
      assert.equal(header(seen.rawHeaders, 'authorization'), 'Bearer for-the-origin');
      const x = await onlyExchange(proxy);
      assert.equal(header(x.request.rawHeaders, 'proxy-authorization'), 'Basic dXNlcjpwYXNz');
      assert.equal(header(forwardedHeaders(x), 'proxy-authorization'), undefined);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('fidelity, reverse mode only', () => {
  it('rewrites Host to the target authority, in place', async () => {
    const upstream = await startRecordingServer();
    const proxy = await startProxyFor('reverse', upstream.port);
    try {
      const sent = ['X-Before', 'b', 'Host', `127.0.0.1:${proxy.port}`, 'X-After', 'a'];
      const { response } = await rawRequest(proxy.port, rawHead('GET /rev HTTP/1.1', sent));
      assert.equal(response?.statusCode, 200);
      assert.deepEqual(headers(upstream.requests[0]!.rawHeaders, 'host'), [proxy.upstreamAuthority]);
      assertUpstreamHead(upstream.requests[0]!.rawHeaders, ['X-Before', 'b', 'Host', proxy.upstreamAuthority, 'X-After', 'a']);
      const x = await onlyExchange(proxy);
      assert.deepEqual(x.request.rawHeaders, sent);
      assert.deepEqual(x.forwarded?.rawHeaders, ['X-Before', 'b', 'Host', proxy.upstreamAuthority, 'X-After', 'a']);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  it('with keepHost: true, keeps the client\'s Host', async () => {
    const upstream = await startRecordingServer();
    const proxy = await startProxyFor('reverse', upstream.port, { keepHost: true });
    try {
      const sent = ['Host', 'mail.example.test', 'X-After', 'a'];
      const { response } = await rawRequest(proxy.port, rawHead('GET /rev HTTP/1.1', sent));
      assert.equal(response?.statusCode, 200);
      assert.deepEqual(headers(upstream.requests[0]!.rawHeaders, 'host'), ['mail.example.test']);
      assertUpstreamHead(upstream.requests[0]!.rawHeaders, sent);
      const x = await onlyExchange(proxy);
      assert.deepEqual(forwardedHeaders(x), sent);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
