/**
 * Hostile framing through the real proxy (issue 21, finding 6; part of the hostile-input suite,
 * test/hostile-*.test.ts): request-smuggling framings, malformed heads, header floods and HTTP
 * version games, one table row each. For every row, on real sockets:
 *   client    the status line (and X-Proxy-Error) each hostile connection got, in order;
 *   upstream  what it received from the hostile connection: nothing for a refused head, or
 *             exactly the requests the row expects, each once, framed one way only;
 *   record    the exchange records of that connection: how many, their status and error code;
 *   service   a well-behaved client on its own keep-alive connection is answered while the
 *             hostile connection is open, and nothing was logged at error level.
 * The proxy runs in reverse mode with --keep-host, so that Host lines reach the upstream as sent.
 * A raw upstream records the bytes of each of its connections and answers each request it can
 * frame with `200 ok`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { parseTarget } from '../src/config.js';
import type { Exchange } from '../src/core/exchange.js';
import { header, RawConnection, withTimeout, type ParsedResponse } from './helpers/client.js';
import { LEVELS } from './helpers/log-sink.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { startRawServer, type RawTestServer } from './helpers/servers.js';

const H = 'Host: upstream.test\r\n';
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** Requests as a raw upstream framed them (head and body text), per upstream connection. */
interface UpstreamConn {
  bytes: string;
  requests: string[];
}

/**
 * Frames requests the way a strict server would (Content-Length, or chunked when it is the final
 * coding), answering each; `/te-identity` gets a `chunked, identity` body ended by the close.
 */
function serve(socket: net.Socket, conns: UpstreamConn[]): void {
  const conn: UpstreamConn = { bytes: '', requests: [] };
  conns.push(conn);
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    conn.bytes += chunk.toString('latin1');
    pending += chunk.toString('latin1');
    for (;;) {
      const headEnd = pending.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = pending.slice(0, headEnd);
      let end = headEnd + 4;
      if (/\r\ntransfer-encoding:[^\r]*chunked\s*(\r|$)/i.test(head)) {
        // The last chunk; searched from the head's final CRLF, so an empty body is found too.
        const lastChunk = pending.indexOf('\r\n0\r\n\r\n', headEnd + 2);
        if (lastChunk < 0) return;
        end = lastChunk + 7;
      } else {
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (length) end += Number(length[1]);
        if (pending.length < end) return;
      }
      conn.requests.push(pending.slice(0, end));
      pending = pending.slice(end);
      if (head.startsWith('GET /te-identity ')) {
        socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\nhello');
        return;
      }
      socket.write(OK);
    }
  });
}

interface Row {
  name: string;
  /** Bytes the hostile client sends (latin1). */
  send: string;
  /** The client ends its side after sending. */
  halfClose?: boolean;
  /** Status of each response the client gets, in order; the last closes the connection when >= 400. */
  statuses: number[];
  /** X-Proxy-Error of the proxy's refusal (the last response). */
  proxyError?: string;
  /** Requests the upstream receives from this connection, each as a predicate on its text. */
  upstream: Array<(request: string) => boolean>;
  /** Records of this connection in the order they finish: status and error code. */
  records: Array<{ status: number; code?: string }>;
  /** Where the refused record's error lies: the head unless the parser took the head and failed in the body. */
  phase?: 'request-body';
}

const refused = (name: string, send: string, code: string, status = 400, halfClose = false): Row => ({
  name,
  send,
  halfClose,
  statuses: [status],
  proxyError: code,
  upstream: [],
  records: [{ status, code }],
});

/** Node's parser took the head and failed in the body: the exchange had started, nothing had left. */
const inBody = (row: Row): Row => ({ ...row, phase: 'request-body' });

const ROWS: Row[] = [
  // Request smuggling: every ambiguous framing is refused before anything reaches the upstream.
  refused('Content-Length and Transfer-Encoding together (CL.TE)', `POST /s HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGG`, 'HPE_INVALID_TRANSFER_ENCODING'),
  inBody(refused('Transfer-Encoding: xchunked', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 'HPE_INVALID_TRANSFER_ENCODING')),
  refused('Transfer-Encoding: chunked, identity (chunked not final)', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 'HPE_INVALID_TRANSFER_ENCODING'),
  refused('two Transfer-Encoding lines, chunked then identity', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 'HPE_INVALID_TRANSFER_ENCODING'),
  refused('space before the colon of Transfer-Encoding', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN'),
  refused('vertical tab before chunked', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN'),
  refused('two different Content-Length lines', `POST /s HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 'HPE_UNEXPECTED_CONTENT_LENGTH'),
  refused('two equal Content-Length lines', `POST /s HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`, 'HPE_UNEXPECTED_CONTENT_LENGTH'),
  refused('Content-Length as a list', `POST /s HTTP/1.1\r\n${H}Content-Length: 3, 3\r\n\r\nabc`, 'HPE_INVALID_CONTENT_LENGTH'),
  refused('Content-Length with a sign', `POST /s HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 'HPE_INVALID_CONTENT_LENGTH'),
  refused('bare LF line ends', `GET /s HTTP/1.1\n${H.trim()}\n\n`, 'HPE_INVALID_VERSION'),
  refused('bare LF after a header', `GET /s HTTP/1.1\r\n${H.trim()}\nX-A: b\r\n\r\n`, 'HPE_CR_EXPECTED'),
  refused('obs-fold continuation line', `GET /s HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN'),
  inBody(refused('invalid chunk size', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, 'HPE_INVALID_CHUNK_SIZE')),
  inBody(refused('chunk size overflowing 64 bits', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n`, 'HPE_INVALID_CHUNK_SIZE')),
  inBody(refused('bare LF inside a chunked body', `POST /s HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n`, 'HPE_CR_EXPECTED')),
  refused('NUL in a header value', `GET /s HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN'),
  refused('CR in a header value', `GET /s HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 'HPE_LF_EXPECTED'),
  {
    name: 'Transfer-Encoding: CHUNKED (case-insensitive, RFC 9112 §7): forwarded chunked, once',
    send: `POST /upper HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    statuses: [200],
    upstream: [(r) => r.startsWith('POST /upper HTTP/1.1\r\n') && r.endsWith('\r\n\r\n3\r\nabc\r\n0\r\n\r\n') && !/content-length/i.test(r)],
    records: [{ status: 200 }],
  },

  // Malformed heads.
  refused('space inside a field name', `GET /m HTTP/1.1\r\n${H}Bad Name: x\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN'),
  refused('empty field name', `GET /m HTTP/1.1\r\n${H}: x\r\n\r\n`, 'HPE_INVALID_HEADER_TOKEN'),
  refused('lower-case protocol name', `GET /m http/1.1\r\n${H}\r\n`, 'HPE_INVALID_CONSTANT'),
  refused('a TLS ClientHello on the plain port', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'HPE_INVALID_METHOD'),
  refused('HTTP/0.9 request, then EOF', 'GET /\r\n', 'TRUNCATED_HEAD', 400, true),
  refused('a head cut off by EOF', `GET /cut HTTP/1.1\r\n${H}X-Half: val`, 'TRUNCATED_HEAD', 400, true),
  {
    name: 'a valid request, then a malformed pipelined one: 200, then 400, each recorded',
    send: `GET /pipelined HTTP/1.1\r\n${H}\r\nGARBAGE\x01 !!\r\n\r\n`,
    statuses: [200, 400],
    proxyError: 'HPE_INVALID_METHOD',
    upstream: [(r) => r.startsWith('GET /pipelined HTTP/1.1\r\n')],
    records: [{ status: 200 }, { status: 400, code: 'HPE_INVALID_METHOD' }],
  },
  {
    name: 'two valid pipelined requests, then a head cut off by EOF',
    send: `GET /p1 HTTP/1.1\r\n${H}\r\nGET /p2 HTTP/1.1\r\n${H}\r\nGET /p3 HTT`,
    halfClose: true,
    statuses: [200, 200, 400],
    proxyError: 'TRUNCATED_HEAD',
    upstream: [(r) => r.startsWith('GET /p1 '), (r) => r.startsWith('GET /p2 ')],
    records: [{ status: 200 }, { status: 200 }, { status: 400, code: 'TRUNCATED_HEAD' }],
  },

  // Header floods: all forwarded, or refused whole, never cut.
  {
    name: '3,000 small header lines under the 16 KiB cap: every one forwarded and recorded',
    send: `GET /flood HTTP/1.1\r\n${H}${'x:1\r\n'.repeat(3000)}\r\n`,
    statuses: [200],
    upstream: [(r) => r.split('\r\nx: 1').length - 1 === 3000],
    records: [{ status: 200 }],
  },
  refused('one 17 KB header line', `GET /f HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(17_000)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW', 431),
  refused('600 header lines over the 16 KiB cap', `GET /f HTTP/1.1\r\n${H}${'X-Filler-Header: 0123456789abcdef\r\n'.repeat(600)}\r\n`, 'HPE_HEADER_OVERFLOW', 431),

  // HTTP version games.
  refused('HTTP/2.0 on the request line', `GET /v HTTP/2.0\r\n${H}\r\n`, 'HTTP_VERSION_NOT_SUPPORTED', 505),
  refused('the HTTP/2 prior-knowledge preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'HTTP_VERSION_NOT_SUPPORTED', 505),
  refused('HTTP/1.2', `GET /v HTTP/1.2\r\n${H}\r\n`, 'HPE_INVALID_VERSION'),
  refused('HTTP/3.1', `GET /v HTTP/3.1\r\n${H}\r\n`, 'HPE_INVALID_VERSION'),
  refused('HTTP/01.1', `GET /v HTTP/01.1\r\n${H}\r\n`, 'HPE_INVALID_VERSION'),
  refused('two Host lines (RFC 9112 §3.2)', `GET /h HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n`, 'DUPLICATE_HOST'),
  refused('Host and HOST', `GET /h HTTP/1.1\r\nHost: a.test\r\nHOST: a.test\r\n\r\n`, 'DUPLICATE_HOST'),
  refused('two Host lines on an upgrade request', `GET /ws HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, 'DUPLICATE_HOST'),
  refused('HTTP/2.0 on an upgrade request', `GET /ws HTTP/2.0\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, 'HTTP_VERSION_NOT_SUPPORTED', 505),
  {
    name: 'HTTP/1.0 (control): forwarded',
    send: `GET /v10 HTTP/1.0\r\n${H}\r\n`,
    statuses: [200],
    upstream: [(r) => r.startsWith('GET /v10 HTTP/1.1\r\n') && (r.match(/\r\nhost:/gi) ?? []).length === 1],
    records: [{ status: 200 }],
  },
];

describe('hostile framing: smuggling, malformed heads, header floods, version games', () => {
  let upstream: RawTestServer;
  const conns: UpstreamConn[] = [];
  let proxy: TestProxy;
  let bystander: RawConnection;
  let served = 0;

  before(async () => {
    upstream = await startRawServer((socket) => serve(socket, conns));
    proxy = await startProxy({ target: parseTarget(upstream.url), keepHost: true });
    bystander = await RawConnection.open(proxy.port);
  });
  after(async () => {
    bystander.destroy();
    await proxy.close(0);
    await upstream.close();
    assert.deepEqual(proxy.logs.lines.filter((l) => l.level >= LEVELS.error).map((l) => l.msg), [], 'nothing logged at error level');
  });

  /** The well-behaved client, on its own keep-alive connection. */
  async function bystanderServed(): Promise<void> {
    served += 1;
    const res = await bystander.request(`GET /bystander-${served} HTTP/1.1\r\n${H}\r\n`, 5000);
    assert.equal(res.statusCode, 200, 'the well-behaved client is served');
  }

  for (const row of ROWS) {
    it(row.name, async () => {
      const before = new Map(conns.map((c) => [c, c.requests.length]));
      const client = await RawConnection.open(proxy.port);
      const port = client.socket.localPort!;
      try {
        await client.write(row.send);
        if (row.halfClose === true) client.end();
        // Served while the hostile connection is open (and, for most rows, already answered).
        await bystanderServed();

        const got: ParsedResponse[] = [];
        for (const _ of row.statuses) got.push(await client.readResponse(5000));
        assert.deepEqual(got.map((r) => r.statusCode), row.statuses, 'what the client got');
        const last = got[got.length - 1]!;
        assert.equal(header(last.rawHeaders, 'x-proxy-error'), row.proxyError);
        if (last.statusCode >= 400) await client.waitForClose(5000, 'the refused connection to close');

        const records = await recordsOf(proxy, port, row.records.length);
        assert.deepEqual(
          records.map((x) => ({ status: x.response?.statusCode, ...(x.error !== undefined && { code: x.error.code }) })),
          row.records,
          'what the record says',
        );
        for (const x of records) if (x.error !== undefined) assert.equal(x.error.phase, row.phase ?? 'request-head');

        // The upstream: the bytes that arrived besides the well-behaved client's.
        const arrived = conns.flatMap((c) => c.requests.slice(before.get(c) ?? 0)).filter((r) => !r.startsWith('GET /bystander-'));
        assert.equal(arrived.length, row.upstream.length, `requests the upstream received: ${JSON.stringify(arrived.map((r) => r.slice(0, 60)))}`);
        row.upstream.forEach((check, i) => assert.ok(check(arrived[i]!), `upstream request ${i}: ${JSON.stringify(arrived[i]!.slice(0, 200))}`));
        if (row.upstream.length === 0) {
          const stray = conns.filter((c) => !before.has(c) && !c.bytes.includes('/bystander-')).map((c) => c.bytes);
          assert.deepEqual(stray.filter((b) => b.length > 0), [], 'no byte of a refused request reached the upstream');
        }
      } finally {
        client.destroy();
      }
      await bystanderServed();
    });
  }

  it('keeps a refused head out of the record except its request line, bounded', async () => {
    const secret = 'Authorization: Basic c2VjcmV0OnNlY3JldA==';
    const client = await RawConnection.open(proxy.port);
    const port = client.socket.localPort!;
    try {
      await client.write(`GET /${'a'.repeat(600)} HTTP/1.1\r\n${H}${secret}\r\nBad Name: x\r\n\r\n`);
      const res = await client.readResponse(5000);
      assert.equal(res.statusCode, 400);
      const [x] = await recordsOf(proxy, port, 1);
      assert.equal(x!.error?.code, 'HPE_INVALID_HEADER_TOKEN');
      assert.deepEqual(x!.request.rawHeaders, []);
      assert.equal(x!.request.method, 'GET');
      assert.ok(x!.request.url.length <= 256 && x!.request.url.startsWith('/aaa'), x!.request.url.slice(0, 80));
      assert.doesNotMatch(JSON.stringify(x), /c2VjcmV0/);
    } finally {
      client.destroy();
    }
  });

  it('keeps no header line of a head refused in its second packet, and 8 bytes of binary garbage', async () => {
    const client = await RawConnection.open(proxy.port);
    const port = client.socket.localPort!;
    const tls = await RawConnection.open(proxy.port);
    const tlsPort = tls.socket.localPort!;
    try {
      await client.write(`GET /two-packets HTTP/1.1\r\n${H}`);
      // The proxy has read the first packet before the second arrives.
      await bystanderServed();
      await client.write('X-Api-Key: topsecret-value\r\nBad Name: y\r\n\r\n');
      assert.equal((await client.readResponse(5000)).statusCode, 400);
      const [x] = await recordsOf(proxy, port, 1);
      assert.equal(x!.error?.code, 'HPE_INVALID_HEADER_TOKEN');
      assert.doesNotMatch(JSON.stringify(x), /topsecret/);
      await tls.write('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03secret-random-bytes');
      assert.equal((await tls.readResponse(5000)).statusCode, 400);
      const [hello] = await recordsOf(proxy, tlsPort, 1);
      assert.equal(hello!.request.url, '\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01');
    } finally {
      client.destroy();
      tls.destroy();
    }
  });
});

describe('hostile upstream framing', () => {
  it('relays a `Transfer-Encoding: chunked, identity` body as the upstream framed it (RFC 9112 §6.3 rule 4), not re-chunked', async () => {
    const conns: UpstreamConn[] = [];
    const upstream = await startRawServer((socket) => serve(socket, conns));
    const proxy = await startProxy({ target: parseTarget(upstream.url) });
    const request = `GET /te-identity HTTP/1.1\r\n${H}\r\n`;
    const direct = await RawConnection.open(upstream.port);
    const client = await RawConnection.open(proxy.port);
    try {
      await direct.write(request);
      await client.write(request);
      await direct.waitForClose(5000, 'the upstream to end its close-delimited body');
      await client.waitForClose(5000, 'the proxy to end the client connection after the body, as the upstream did');
      const body = (c: RawConnection): string => c.bytes().toString('latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n');
      assert.equal(body(direct), 'hello');
      assert.equal(body(client), body(direct), 'the client gets the bytes a direct client gets');
      assert.match(client.bytes().toString('latin1'), /\r\nTransfer-Encoding: chunked, identity\r\n/);
      const [x] = await proxy.waitForExchanges(1);
      assert.equal(x!.bytes.response, 5);
      assert.equal(x!.error, undefined);
    } finally {
      direct.destroy();
      client.destroy();
      await proxy.close(0);
      await upstream.close();
    }
  });

  it('relays every one of 3,000 response header lines', async () => {
    const upstream = await startRawServer((socket) => {
      socket.once('data', () => socket.end(`HTTP/1.1 200 OK\r\n${'y:2\r\n'.repeat(3000)}Content-Length: 2\r\n\r\nok`));
    });
    const proxy = await startProxy({ target: parseTarget(upstream.url) });
    const client = await RawConnection.open(proxy.port);
    try {
      const res = await client.request(`GET /many HTTP/1.1\r\n${H}\r\n`, 5000);
      assert.equal(res.statusCode, 200);
      assert.equal(res.rawHeaders.filter((name, i) => i % 2 === 0 && name === 'y').length, 3000);
      const [x] = await proxy.waitForExchanges(1);
      assert.equal(x!.response!.rawHeaders.length / 2, 3001);
    } finally {
      client.destroy();
      await proxy.close(0);
      await upstream.close();
    }
  });
});

/** The records of one client connection (by its local port), once `n` of them have finished. */
async function recordsOf(proxy: TestProxy, clientPort: number, n: number): Promise<Exchange[]> {
  const mine = (): Exchange[] => proxy.exchanges.filter((x) => x.client.port === clientPort);
  await withTimeout(
    (async () => {
      while (mine().length < n) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    5000,
    `${n} record(s) of the connection from port ${clientPort}`,
  );
  // A record more than expected would be a defect too: give it a moment to show up.
  await new Promise((resolve) => setImmediate(resolve));
  return mine();
}
