/**
 * Traffic failures (docs/running.md "Failures are answers"): an upstream that refuses, resets or stays silent, a
 * client that goes away mid-upload or mid-download, and requests that are not HTTP. Each becomes
 * a clear answer to the client (or a closed connection when an answer is already under way), an
 * aborted upstream, and an error on the record; the process never dies of it and never leaks a
 * socket.
 *
 * Two views of the same scenarios:
 *  - the proxy as a child process (`node dist/src/cli.js start`), so that the sockets it holds
 *    can be counted from /proc/<pid>/fd and the log line of each exchange read from its stderr;
 *  - the proxy in-process, forward and reverse, for the full Exchange record.
 * Every scenario asserts on what the client got, what the upstream saw, and what was recorded.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Exchange } from '../src/core/exchange.js';
import { delay, parseResponse, RawConnection, waitUntil, type ParsedResponse } from './helpers/client.js';
import { closedPort, countSockets, socketFds, tryRequest, ProxyProcess, waitForSocketCount, withTimeout, type LogLine } from './helpers/process.js';
import { MODES, startProxyFor, type Mode } from './helpers/proxy.js';
import { hasHead, readUntil, startRawServer, startServer, type TestServerBase } from './helpers/servers.js';

const UPSTREAM_TIMEOUT_S = 1;

/** What one scenario needs for one run: its upstream, and the client side to drive. */
interface Stage {
  /** The upstream port the request is addressed to (closed for the refusal case). */
  upstreamPort: number;
  /** Drives the client against the proxy, asserting on what the client got and what the upstream saw. */
  drive(proxyPort: number, requestTarget: string): Promise<void>;
  close(): Promise<void>;
}

interface Scenario {
  name: string;
  /** Unique path, so that the exchange's log line and record can be picked out. */
  path: string;
  stage(): Promise<Stage>;
  /** The exchange's log line (child process). */
  checkLine(line: LogLine, upstreamPort: number): void;
  /** The exchange's record (in-process). */
  checkRecord(x: Exchange, upstreamPort: number): void;
}

/** An upstream that exists only to be closed with the stage. */
function stageFor(server: TestServerBase, drive: Stage['drive']): Stage {
  return { upstreamPort: server.port, drive, close: () => server.close() };
}

/** Waits for the n-th accepted upstream socket to close (the proxy must release it). */
async function upstreamSocketClosed(server: TestServerBase, index: number, timeoutMs: number, why: string): Promise<void> {
  await waitUntil(() => server.sockets.length > index, timeoutMs, `upstream connection #${index + 1}`);
  await withTimeout(server.sockets[index]!.closed, timeoutMs, `the upstream socket to be closed by the proxy (${why})`);
}

const scenarios: Scenario[] = [
  {
    name: 'upstream refuses the connection: 502 naming the target and ECONNREFUSED',
    path: '/refused',
    async stage() {
      // A port that was just free and is closed now: connecting to it is refused.
      const port = await closedPort();
      return {
        upstreamPort: port,
        close: () => Promise.resolve(),
        async drive(proxyPort, target) {
          const got = await tryRequest(proxyPort, target);
          assert.equal(got.statusCode, 502, `client got ${String(got.statusCode)} ${String(got.error)}`);
          assert.match(String(got.headers['content-type']), /^text\/plain/);
          assert.equal(got.headers['x-proxy-error'], 'ECONNREFUSED');
          const body = got.body.toString('utf8');
          assert.ok(body.includes(`127.0.0.1:${port}`), `body names the target: ${body}`);
          assert.ok(body.includes('ECONNREFUSED'), `body names the error code: ${body}`);
          assert.ok(got.complete, 'the 502 is a complete response');
        },
      };
    },
    checkLine(line) {
      assert.equal(line.status, 502);
      assert.equal(line.err, 'ECONNREFUSED');
    },
    checkRecord(x, port) {
      assert.equal(x.error?.code, 'ECONNREFUSED');
      assert.equal(x.error?.phase, 'connect');
      assert.ok(x.error.message.length > 0);
      assert.equal(x.response?.statusCode, 502);
      assert.equal(x.response?.source, 'proxy');
      assert.ok(x.url.includes(`127.0.0.1:${port}`), x.url);
    },
  },
  ...(['content-length', 'chunked'] as const).map(
    (framing): Scenario => ({
      name: `upstream resets mid-response (${framing}): the client's connection closes before a complete response`,
      path: `/reset-${framing}`,
      async stage() {
        const upstream = await startRawServer((socket) => {
          void readUntil(socket, hasHead).then(
            () => {
              const head =
                framing === 'chunked'
                  ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n'
                  : 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n';
              socket.write(head + 'x'.repeat(1000));
              // Time for the proxy to relay the head and the first bytes, then a TCP RST.
              setTimeout(() => socket.resetAndDestroy(), 150);
            },
            () => undefined,
          );
        });
        return stageFor(upstream, async (proxyPort, target) => {
          const got = await tryRequest(proxyPort, target);
          // The head may or may not have been relayed; what matters is that the client cannot
          // take the truncated body for a whole one.
          assert.equal(got.complete, false, `client got a complete response: ${String(got.statusCode)}, ${got.body.length} bytes`);
          assert.ok(got.error !== undefined, 'the client sees its connection end early');
          assert.ok(got.body.length < 100_000);
          if (got.statusCode !== undefined) assert.equal(got.statusCode, 200, 'a relayed head is the upstream one');
        });
      },
      checkLine(line) {
        assert.equal(line.status, 200, 'the head was relayed before the reset');
        assert.equal(typeof line.err, 'string', 'the log line names the error');
      },
      checkRecord(x) {
        assert.ok(x.error, 'the record has an error');
        assert.equal(x.error.phase, 'response-body');
        assert.match(x.error.code, /ECONNRESET|EPIPE|ABORT/i);
        assert.equal(x.response?.source, 'upstream');
        assert.equal(x.response?.statusCode, 200);
        assert.ok(x.bytes.response >= 0 && x.bytes.response < 100_000, `bytes.response ${x.bytes.response}`);
      },
    }),
  ),
  {
    name: `upstream accepts and never answers: 504 after --upstream-timeout ${UPSTREAM_TIMEOUT_S}`,
    path: '/silent',
    async stage() {
      // Reads the request and says nothing, the way a hung server does.
      const upstream = await startRawServer((socket) => socket.resume());
      return stageFor(upstream, async (proxyPort, target) => {
        const started = Date.now();
        const got = await tryRequest(proxyPort, target, { timeoutMs: 10_000 });
        const elapsed = Date.now() - started;
        assert.equal(got.statusCode, 504, `client got ${String(got.statusCode)} ${String(got.error)}`);
        assert.match(String(got.headers['x-proxy-error']), /timeout/i);
        assert.match(String(got.headers['content-type']), /^text\/plain/);
        assert.match(got.body.toString('utf8'), /upstream-timeout/, 'the body says which flag to raise');
        assert.ok(elapsed >= UPSTREAM_TIMEOUT_S * 1000 - 100, `answered after ${elapsed} ms, before the timeout`);
        assert.ok(elapsed < UPSTREAM_TIMEOUT_S * 1000 + 3000, `answered after ${elapsed} ms`);
        await upstreamSocketClosed(upstream, 0, 3000, 'given up after the timeout');
      });
    },
    checkLine(line) {
      assert.equal(line.status, 504);
      assert.match(String(line.err), /timeout/i);
    },
    checkRecord(x) {
      assert.match(x.error?.code ?? '', /timeout/i);
      assert.equal(x.error?.phase, 'response-head');
      assert.equal(x.response?.statusCode, 504);
      assert.equal(x.response?.source, 'proxy');
    },
  },
  {
    name: 'client aborts mid-upload: the upstream request is aborted and its socket closed',
    path: '/upload-abort',
    async stage() {
      let upstreamReq: http.IncomingMessage | undefined;
      let received = 0;
      let sawIncompleteClose = false;
      const upstream = await startServer((req) => {
        upstreamReq = req;
        req.on('data', (chunk: Buffer) => (received += chunk.length));
        req.on('error', () => undefined);
        req.once('close', () => (sawIncompleteClose = !req.complete));
        // Never answers: the client gives up before its upload ends.
      });
      return stageFor(upstream, async (proxyPort, target) => {
        const conn = await RawConnection.open(proxyPort);
        try {
          await conn.write(`POST ${target} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n`);
          await conn.write(Buffer.alloc(4096, 0x61));
          await waitUntil(() => received > 0, 3000, 'the upstream to receive the first body bytes');
        } finally {
          conn.destroy();
        }
        assert.ok(upstreamReq, 'the upstream saw the request');
        await waitUntil(() => sawIncompleteClose, 3000, "the upstream request to close incomplete ('aborted')");
        assert.equal(upstreamReq.complete, false);
        assert.ok(received < 1_000_000);
        await upstreamSocketClosed(upstream, 0, 3000, 'the client aborted its upload');
      });
    },
    checkLine(line) {
      // A client that goes away is an abort, not a malformed request (Node reports the early
      // end of the body as a parse error, HPE_INVALID_EOF_STATE, on 'clientError').
      assert.equal(line.err, 'CLIENT_ABORTED', `log line: ${JSON.stringify(line)}`);
      assert.ok(typeof line.up === 'number' && line.up > 0 && line.up < 1_000_000, `up ${String(line.up)}`);
    },
    checkRecord(x) {
      assert.equal(x.error?.code, 'CLIENT_ABORTED', `record: ${JSON.stringify({ error: x.error, response: x.response })}`);
      assert.equal(x.error?.phase, 'request-body');
      assert.ok(x.bytes.request > 0 && x.bytes.request < 1_000_000, `bytes.request ${x.bytes.request}`);
    },
  },
  {
    name: "client aborts mid-download: the upstream's response socket is destroyed",
    path: '/download-abort',
    async stage() {
      let upstreamRes: http.ServerResponse | undefined;
      let resClosed = false;
      const upstream = await startServer((_req, res) => {
        upstreamRes = res;
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        // A slow stream that would go on for a long time: a long poll, a big download.
        const tick = setInterval(() => res.write('tick\n'), 50);
        res.write('tick\n');
        res.once('close', () => {
          clearInterval(tick);
          resClosed = true;
        });
      });
      return stageFor(upstream, async (proxyPort, target) => {
        const conn = await RawConnection.open(proxyPort);
        try {
          await conn.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
          await conn.waitFor((bytes) => bytes.includes('tick'), 3000, 'the first streamed bytes');
        } finally {
          conn.destroy();
        }
        await waitUntil(() => resClosed, 3000, "the upstream response to close after the client's abort");
        assert.equal(upstreamRes?.writableFinished, false, 'the upstream response was cut, not ended');
        await upstreamSocketClosed(upstream, 0, 3000, 'the client aborted its download');
      });
    },
    checkLine(line) {
      assert.equal(line.status, 200);
      assert.equal(line.err, 'CLIENT_ABORTED');
    },
    checkRecord(x) {
      assert.equal(x.error?.code, 'CLIENT_ABORTED');
      assert.equal(x.error?.phase, 'response-body');
      assert.equal(x.response?.statusCode, 200);
      assert.ok(x.bytes.response > 0, 'some body bytes went through');
    },
  },
  {
    name: 'invalid chunked encoding in a request body: 400 (or closed) and the upstream request aborted',
    path: '/bad-chunked',
    async stage() {
      let received = '';
      let upstreamReq: http.IncomingMessage | undefined;
      let closedIncomplete = false;
      const upstream = await startServer((req) => {
        upstreamReq = req;
        req.setEncoding('latin1');
        req.on('data', (text: string) => (received += text));
        req.on('error', () => undefined);
        req.once('close', () => (closedIncomplete = !req.complete));
        // Waits for the whole body before answering, as a real server would.
      });
      return stageFor(upstream, async (proxyPort, target) => {
        const conn = await RawConnection.open(proxyPort);
        try {
          await conn.write(`POST ${target} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
          await waitUntil(() => received === 'hello', 3000, 'the upstream to receive the first chunk');
          // Not a hexadecimal chunk size (RFC 9112 §7.1).
          await conn.write('zz\r\n');
          await conn.waitForClose(3000, 'the proxy to close the connection after a bad chunk');
          const answer = conn.bytes();
          if (answer.length > 0) {
            const text = answer.toString('latin1');
            assert.match(text, /^HTTP\/1\.1 400 /, `client got: ${text.slice(0, 200)}`);
            assert.match(text, /\r\nX-Proxy-Error: HPE_/i);
          }
        } finally {
          conn.destroy();
        }
        await waitUntil(() => closedIncomplete, 3000, 'the upstream request to be aborted');
        assert.equal(upstreamReq?.complete, false);
        await upstreamSocketClosed(upstream, 0, 3000, 'the client sent a bad chunk');
      });
    },
    checkLine(line) {
      assert.match(String(line.err), /^HPE_/);
    },
    checkRecord(x) {
      assert.match(x.error?.code ?? '', /^HPE_/);
      assert.equal(x.error?.phase, 'request-body');
      if (x.response?.source === 'proxy') assert.equal(x.response.statusCode, 400);
    },
  },
];

/**
 * Requests that never become an exchange with an upstream: the head itself is refused. Each is
 * sent in two pieces, 50 ms apart, the way bytes arrive on a slow link: the first piece already
 * holds the error, the second arrives after the proxy has answered.
 */
const malformed: Array<{ name: string; pieces: (upstreamPort: number) => string[]; status: number; code: RegExp }> = [
  { name: 'a request line that is not HTTP', pieces: () => ['GARBAGE\r\n', '\r\n'], status: 400, code: /^HPE_/ },
  {
    name: 'an HTTP version that does not exist',
    pieces: (port) => [`GET http://127.0.0.1:${port}/v99 HTTP/9.9\r\n`, `Host: 127.0.0.1:${port}\r\n\r\n`],
    status: 400,
    code: /^HPE_INVALID_VERSION$/,
  },
  {
    name: 'a 64 KiB header',
    pieces: (port) => [`GET http://127.0.0.1:${port}/big HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(32 * 1024)}`, `${'a'.repeat(32 * 1024)}\r\n\r\n`],
    status: 431,
    code: /^HPE_HEADER_OVERFLOW$/,
  },
];

/** Sends the pieces 50 ms apart and reads the answer; a write after the proxy closed may fail. */
async function sendMalformed(port: number, pieces: string[]): Promise<{ response: ParsedResponse | undefined; bytes: Buffer }> {
  const conn = await RawConnection.open(port);
  try {
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) await delay(50);
      await conn.write(piece).catch(() => undefined);
    }
    await conn.waitForClose(3000, 'the proxy to close the connection after refusing the request');
    return { response: parseResponse(conn.bytes(), { ended: true }), bytes: conn.bytes() };
  } finally {
    conn.destroy();
  }
}

/** An upstream that answers 200 "ok" and counts what it is asked. */
async function okUpstream(): Promise<TestServerBase & { requests: string[] }> {
  const requests: string[] = [];
  const server = await startServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    req.resume();
    res.end('ok');
  });
  return Object.assign(server, { requests });
}

async function assertStillServes(proxyPort: number, target: string): Promise<void> {
  const got = await tryRequest(proxyPort, target);
  assert.equal(got.statusCode, 200, `a normal request after the failure: ${String(got.statusCode)} ${String(got.error)}`);
  assert.equal(got.body.toString(), 'ok');
}

describe('traffic failures, proxy as a child process (forward mode)', () => {
  let proxy: ProxyProcess;
  let ok: Awaited<ReturnType<typeof okUpstream>>;
  /** Sockets held right after listening: stdio socketpairs and the listening socket. */
  let baseline = 0;
  /** Tests after which the socket count did not come back: which failure leaked. */
  const leaks: string[] = [];

  before(async () => {
    ok = await okUpstream();
    proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--upstream-timeout', String(UPSTREAM_TIMEOUT_S)]);
    baseline = countSockets(proxy.pid);
  });
  after(async () => {
    await proxy?.kill();
    await ok?.close();
  });
  afterEach(async (t) => {
    if (!proxy?.running) return;
    const count = await waitForSocketCount(proxy.pid, baseline, 3000);
    if (count > baseline) leaks.push(`${t.name}: ${count} sockets (baseline ${baseline})`);
  });

  /** The exchange log line whose URL ends with `path`. */
  const lineFor = (path: string): Promise<LogLine> =>
    proxy.waitForLine(`the exchange line for ${path}`, (line) => line.msg === 'exchange' && typeof line.url === 'string' && line.url.endsWith(path));

  for (const scenario of scenarios) {
    it(scenario.name, { timeout: 20_000 }, async () => {
      const stage = await scenario.stage();
      try {
        await stage.drive(proxy.port, `http://127.0.0.1:${stage.upstreamPort}${scenario.path}`);
        const line = await lineFor(scenario.path);
        assert.equal(line.level, 30, 'one info line per exchange');
        scenario.checkLine(line, stage.upstreamPort);
        assert.ok(proxy.running, 'the proxy is still running');
        await assertStillServes(proxy.port, `${ok.url}/still-serves`);
      } finally {
        await stage.close();
      }
    });
  }

  for (const bad of malformed) {
    it(`${bad.name}: ${bad.status} from the proxy, then it still serves`, { timeout: 20_000 }, async () => {
      const before = proxy.lines.filter((line) => line.msg === 'exchange').length;
      const asked = ok.requests.length;
      const result = await sendMalformed(proxy.port, bad.pieces(ok.port));
      assert.ok(result.response, `a response arrived: ${JSON.stringify(result.bytes.toString('latin1').slice(0, 200))}`);
      assert.equal(result.response.statusCode, bad.status);
      const rawHeaders = result.response.rawHeaders;
      const headerValue = (name: string): string | undefined => rawHeaders[rawHeaders.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === name) + 1];
      assert.match(headerValue('x-proxy-error') ?? '', bad.code);
      assert.match(headerValue('content-type') ?? '', /^text\/plain/);
      assert.equal(ok.requests.length, asked, 'nothing reached the upstream');
      const line = await proxy.waitForLine('the exchange line of the refused request', (l) => l.msg === 'exchange' && bad.code.test(String(l.err)));
      assert.equal(line.status, bad.status);
      await assertStillServes(proxy.port, `${ok.url}/after-malformed`);
      // One request, one record: a refused head is not logged twice.
      const lines = proxy.lines.filter((l) => l.msg === 'exchange').slice(before);
      const refused = lines.filter((l) => bad.code.test(String(l.err)));
      assert.equal(refused.length, 1, `exchange lines for one refused request: ${JSON.stringify(refused)}`);
    });
  }

  it('holds no more sockets than right after it started listening', { timeout: 20_000 }, async () => {
    // Every client and upstream socket of the failures above must have been released.
    const count = await waitForSocketCount(proxy.pid, baseline, 5000);
    assert.equal(count, baseline, `open sockets: ${socketFds(proxy.pid).join(', ')}; after tests: ${leaks.join('; ') || 'none'}`);
    assert.deepEqual(leaks, [], 'each failure released its sockets within 3 s');
    assert.ok(proxy.running, 'the proxy survived every failure');
  });
});

describe('traffic failures, in-process: the Exchange record', () => {
  for (const mode of MODES) {
    describe(`${mode} mode`, () => {
      for (const scenario of scenarios) {
        it(scenario.name, { timeout: 20_000 }, async () => {
          const stage = await scenario.stage();
          const proxy = await startProxyFor(mode, stage.upstreamPort, { upstreamTimeoutMs: UPSTREAM_TIMEOUT_S * 1000, logLevel: 'silent' });
          try {
            await stage.drive(proxy.port, targetFor(mode, stage.upstreamPort, scenario.path));
            const [x] = await proxy.waitForExchanges(1);
            assert.ok(x);
            assert.equal(x.kind, 'http');
            assert.ok(x.url.endsWith(scenario.path), x.url);
            assert.ok(x.timings.end !== undefined && x.timings.end >= x.timings.start);
            scenario.checkRecord(x, stage.upstreamPort);
            // A failed exchange is one record, not one per symptom.
            assert.equal(proxy.exchanges.length, 1, `records: ${proxy.exchanges.map((r) => r.url).join(', ')}`);
          } finally {
            await proxy.close(0);
            await stage.close();
          }
        });
      }

      it('refused upstream in this mode: the 502 body names the target', { timeout: 20_000 }, async () => {
        const port = await closedPort();
        const proxy = await startProxyFor(mode, port, { logLevel: 'silent' });
        try {
          const got = await tryRequest(proxy.port, targetFor(mode, port, '/x'));
          assert.equal(got.statusCode, 502);
          assert.match(got.body.toString(), new RegExp(`127\\.0\\.0\\.1:${port}`));
        } finally {
          await proxy.close(0);
        }
      });
    });
  }

  for (const bad of malformed) {
    it(`${bad.name}: one record, phase request-head, answered by the proxy`, { timeout: 20_000 }, async () => {
      const ok = await okUpstream();
      const proxy = await startProxyFor('forward', ok.port, { logLevel: 'silent' });
      try {
        const result = await sendMalformed(proxy.port, bad.pieces(ok.port));
        assert.equal(result.response?.statusCode, bad.status);
        const [x] = await proxy.waitForExchanges(1);
        assert.match(x?.error?.code ?? '', bad.code);
        assert.equal(x?.error?.phase, 'request-head');
        assert.equal(x?.response?.statusCode, bad.status);
        assert.equal(x?.response?.source, 'proxy');
        assert.equal(ok.requests.length, 0, 'nothing reached the upstream');
        // Let a second (duplicate) record show up if the proxy would make one.
        await delay(100);
        assert.equal(proxy.exchanges.length, 1, `records: ${JSON.stringify(proxy.exchanges.map((r) => r.error))}`);
      } finally {
        await proxy.close(0);
        await ok.close();
      }
    });
  }
});

function targetFor(mode: Mode, upstreamPort: number, path: string): string {
  return mode === 'forward' ? `http://127.0.0.1:${upstreamPort}${path}` : path;
}
