/**
 * Expect: 100-continue through the proxy (RFC 9110 §10.1.1, §15.2.1). The expectation is the
 * upstream's to answer: a proxy forwards the request head at once and relays the 100 when the
 * upstream sends one, or the upstream's final status when it refuses (417, or 401 before an
 * NTLM client uploads a large body). A client that hears nothing sends its body anyway after a
 * while (curl waits 1 s). Raw sockets let the test decide when the body goes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clock, delay, header, headers, RawConnection, request, type ParsedResponse } from './helpers/client.js';
import { MODES, startProxyFor, type ModeProxy } from './helpers/proxy.js';
import { readBody, socketId, startRawServer, startRecordingServer, type RecordingServer, type SeenRequest } from './helpers/servers.js';

const BODY = 'hello world';
/** How long the client waits for 100 before sending its body anyway (curl's default). */
const CLIENT_EXPECT_WAIT_MS = 1000;

function expectHead(proxy: ModeProxy, path: string, extra = ''): string {
  return (
    `POST ${proxy.target(path)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${BODY.length}\r\n${extra}Expect: 100-continue\r\n\r\n`
  );
}

/** The next response, or undefined if none arrives within `ms` (the client's expect timeout). */
async function responseWithin(conn: RawConnection, ms: number): Promise<(ParsedResponse & { receivedAt: number }) | undefined> {
  try {
    return await conn.readResponse(ms);
  } catch (error) {
    if (conn.closedAt !== undefined) throw error;
    return undefined;
  }
}

/** The checkContinue requests an upstream answered itself, as node:http gives them. */
function recordCheckContinue(upstream: RecordingServer, answer: (seen: SeenRequest, res: ServerResponse, req: IncomingMessage) => void): SeenRequest[] {
  const seenHeads: SeenRequest[] = [];
  // With a 'checkContinue' listener node:http sends no automatic 100: the test's handler decides.
  upstream.server.on('checkContinue', (req, res) => {
    const seen: SeenRequest = { method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), socket: socketId(req.socket), at: clock() };
    seenHeads.push(seen);
    answer(seen, res, req);
  });
  return seenHeads;
}

/** Sequential reads from a raw socket: a request head, then a number of body bytes. */
class SocketReader {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  async head(): Promise<string> {
    let end = this.buffer.indexOf('\r\n\r\n');
    while (end < 0) {
      await this.more();
      end = this.buffer.indexOf('\r\n\r\n');
    }
    const head = this.buffer.subarray(0, end).toString('latin1');
    this.buffer = this.buffer.subarray(end + 4);
    return head;
  }

  async bytes(n: number): Promise<Buffer> {
    while (this.buffer.length < n) await this.more();
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private more(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('closed'));
    return new Promise((resolve) => (this.wake = resolve));
  }
}

for (const mode of MODES) {
  describe(`expect: 100-continue, ${mode} mode`, () => {
    it("relays the upstream's 100 Continue, then the body and the final answer", async () => {
      // node:http without a checkContinue listener answers 100 by itself, as IIS and Exchange do.
      const upstream = await startRecordingServer();
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        await client.write(expectHead(proxy, '/upload'));
        const interim = await client.readResponse(3000);
        assert.equal(interim.statusCode, 100);
        assert.equal(interim.headLines[0], 'HTTP/1.1 100 Continue');
        await client.write(BODY);
        const final = await client.readResponse(3000);
        assert.equal(final.statusCode, 200);
        assert.equal(final.body.toString(), 'ok');

        // Upstream view: the expectation and the whole body.
        assert.equal(upstream.requests.length, 1);
        const seen = upstream.requests[0]!;
        assert.equal(header(seen.rawHeaders, 'expect'), '100-continue');
        assert.equal(seen.body.toString(), BODY);

        // Record view.
        const [x] = await proxy.waitForExchanges(1);
        assert.equal(x?.response?.statusCode, 200);
        assert.equal(x?.bytes.request, BODY.length);
        assert.equal(header(x?.request.rawHeaders ?? [], 'expect'), '100-continue');
        assert.equal(x?.error, undefined);
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });

    for (const status of [417, 401]) {
      it(`relays an immediate ${status} without a 100 before it, promptly, and stays usable`, async () => {
        const upstream = await startRecordingServer();
        const heads = recordCheckContinue(upstream, (_seen, res) => {
          const headers: Record<string, string> = { 'Content-Type': 'text/plain', 'Content-Length': '2' };
          // 417 closes; an NTLM 401 keeps the connection for the next leg.
          if (status === 417) headers.Connection = 'close';
          else headers['WWW-Authenticate'] = 'NTLM';
          res.writeHead(status, headers);
          res.end('no');
        });
        const proxy = await startProxyFor(mode, upstream.port);
        const client = await RawConnection.open(proxy.port);
        try {
          const sentAt = clock();
          await client.write(expectHead(proxy, '/upload'));
          const first = await client.readResponse(3000);
          // A 100 here would make the client send the body the upstream just refused.
          assert.equal(first.statusCode, status, `the first response is the upstream's ${status}, not ${first.statusCode}`);
          assert.ok(first.receivedAt - sentAt < 1000, `the ${status} arrived after ${(first.receivedAt - sentAt).toFixed(0)} ms`);
          if (status === 401) assert.equal(header(first.rawHeaders, 'www-authenticate'), 'NTLM');
          assert.equal(first.body.toString(), 'no');

          // Upstream view: it saw the expectation and no body.
          assert.equal(heads.length, 1);
          assert.equal(header(heads[0]!.rawHeaders, 'expect'), '100-continue');

          // Record view.
          const [x] = await proxy.waitForExchanges(1, 3000);
          assert.equal(x?.response?.statusCode, status);
          assert.equal(x?.response?.source, 'upstream');

          // RFC 9110 §10.1.1: after a 417 the client repeats the request without the expectation.
          client.destroy();
          const retry = await request(proxy.port, proxy.target('/upload'), { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: BODY });
          assert.equal(retry.statusCode, 200, 'the proxy still serves requests');
          assert.equal(upstream.requests.at(-1)?.body.toString(), BODY);
        } finally {
          client.destroy();
          await proxy.close();
          await upstream.close();
        }
      });
    }

    it('after a keep-alive 401, a client that sends its body anyway keeps its connection and its upstream connection', async () => {
      // .NET clients send Expect: 100-continue by default and carry on after an NTLM 401 by sending
      // the declared body, which keeps the connection usable (RFC 9112 §9.6); IIS reads and drops
      // it. node:http as an upstream would close instead, so this upstream speaks raw HTTP.
      const seen: Array<{ socket: number; head: string }> = [];
      const upstream = await startRawServer((socket, id) => {
        void (async () => {
          const reader = new SocketReader(socket);
          for (;;) {
            const head = await reader.head();
            seen.push({ socket: id, head });
            if (/^expect: 100-continue$/im.test(head)) {
              socket.write('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n');
              const length = Number(/^content-length: *(\d+)$/im.exec(head)?.[1] ?? 0);
              await reader.bytes(length); // read and dropped, as IIS does
            } else {
              socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
            }
          }
        })().catch(() => socket.destroy());
      });
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        await client.write(expectHead(proxy, '/ews'));
        const refused = await client.readResponse(3000);
        assert.equal(refused.statusCode, 401);
        const closeAnnounced = headers(refused.rawHeaders, 'connection').some((v) => /close/i.test(v));
        await delay(200);
        if (client.endedAt !== undefined) {
          // RFC 9112 §9.6: a server that closes after a response says so with `Connection: close`.
          assert.ok(closeAnnounced, `the proxy closed the client connection after a 401 that did not announce it: ${JSON.stringify(refused.headLines)}`);
          assert.fail("the proxy closed the client connection after the 401 although the upstream kept its own (an NTLM handshake on it is lost)");
        }
        assert.ok(!closeAnnounced, "the upstream kept the connection, so the proxy keeps the client's");
        await client.write(BODY);
        const next = await client.request(`GET ${proxy.target('/ews/next')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n\r\n`, 3000);
        assert.equal(next.statusCode, 200, 'the next request on the same connection is answered');
        assert.equal(seen.length, 2);
        assert.match(seen[1]!.head, /^GET \/ews\/next /);
        assert.equal(seen[1]!.socket, seen[0]!.socket, 'on the same upstream connection (affinity)');
        const records = await proxy.waitForExchanges(2);
        assert.deepEqual(records.map((x) => x.response?.statusCode).sort(), [200, 401]);
        assert.equal(records[0]!.client.connection, records[1]!.client.connection);
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });

    it('when the upstream never sends 100, the client sends its body after its own wait and gets the answer', async () => {
      const upstream = await startRecordingServer();
      const heads = recordCheckContinue(upstream, (seen, res, req) => {
        // Reads the body without ever sending 100 (RFC 9110 §10.1.1 allows it).
        void readBody(req).then((body) => {
          seen.body = body;
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
          res.end(body);
        });
      });
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        const sentAt = clock();
        await client.write(expectHead(proxy, '/upload'));
        let response = await responseWithin(client, CLIENT_EXPECT_WAIT_MS);
        assert.ok(response === undefined || response.statusCode === 100, `nothing or 100 before the body, got ${response?.statusCode}`);
        await client.write(BODY);
        response = await client.readResponse(3000);
        if (response.statusCode === 100) response = await client.readResponse(3000);
        assert.equal(response.statusCode, 200);
        assert.equal(response.body.toString(), BODY);
        assert.ok(response.receivedAt - sentAt < CLIENT_EXPECT_WAIT_MS + 1500, 'answered soon after the body went');

        assert.equal(heads.length, 1);
        assert.equal(header(heads[0]!.rawHeaders, 'expect'), '100-continue');
        assert.equal(heads[0]!.body.toString(), BODY);
        const [x] = await proxy.waitForExchanges(1);
        assert.equal(x?.response?.statusCode, 200);
        assert.equal(x?.bytes.request, BODY.length);
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });
  });
}
