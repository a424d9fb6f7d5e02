/**
 * Stream by default (docs/running.md "Streaming"): a MAPI/HTTP NotificationWait answer trickles
 * `PROCESSING`, `PENDING` and `DONE` over minutes, and the client must see each piece as the
 * server writes it; uploads stream too, and large bodies pass byte-exact both ways.
 * Three views each time: what the upstream saw, what the client got, what the record says.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clock, delay, header, request, startRequest, type TimedChunk } from './helpers/client.js';
import { MODES, startProxyFor } from './helpers/proxy.js';
import { readBody, startServer } from './helpers/servers.js';
import { assertEachPieceWithinBound, type Write, RELAY_BOUND_MS } from './helpers/timing.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');


for (const mode of MODES) {
  describe(`streaming, ${mode} mode`, () => {
    it('relays each piece of a long-poll answer within 100 ms of the upstream writing it', async () => {
      // MS-OXCMAPIHTTP 2.2.7: PROCESSING and PENDING meta-tags keep the request alive until DONE.
      const tail = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));
      const pieces = [Buffer.from('PROCESSING\r\n'), Buffer.from('PENDING\r\n'), Buffer.concat([Buffer.from('DONE\r\n'), tail])];
      const writes: Write[] = [];
      let seen: { method?: string; url?: string; body?: Buffer } = {};
      const upstream = await startServer((req, res) => {
        void (async () => {
          seen = { method: req.method, url: req.url, body: await readBody(req) };
          // No Content-Length: chunked, like an Exchange server's long poll.
          res.writeHead(200, { 'Content-Type': 'application/mapi-http', 'X-RequestType': 'NotificationWait', 'X-ResponseCode': '0' });
          res.flushHeaders();
          for (const [i, piece] of pieces.entries()) {
            if (i > 0) await delay(1000);
            if (res.destroyed) return;
            writes.push({ at: clock(), bytes: piece });
            res.write(piece);
          }
          res.end();
        })();
      });
      const proxy = await startProxyFor(mode, upstream.port);
      try {
        const path = '/mapi/emsmdb/?MailboxId=a@b.test';
        const requestBody = Buffer.from([0x00, 0x01, 0x02, 0x03]);
        const started = clock();
        const response = await request(proxy.port, proxy.target(path), {
          method: 'POST',
          headers: { 'Content-Type': 'application/mapi-http', 'X-RequestType': 'NotificationWait', 'Content-Length': String(requestBody.length) },
          body: requestBody,
          timeoutMs: 10_000,
        });

        // Upstream view: the request arrived whole and unchanged.
        assert.equal(seen.method, 'POST');
        assert.equal(seen.url, path);
        assert.deepEqual(seen.body, requestBody);

        // Client view: the exact bytes, each piece within the bound of its write.
        assert.equal(response.statusCode, 200);
        assert.equal(header(response.rawHeaders, 'x-requesttype'), 'NotificationWait');
        assert.deepEqual(response.body, Buffer.concat(pieces));
        assert.equal(writes.length, 3);
        assert.ok(response.headAt - writes[0]!.at < RELAY_BOUND_MS + 50, 'the response head reached the client with the first piece, not at the end');
        assertEachPieceWithinBound(writes, response.chunks, 'client');
        // Not a trivial pass: the pieces really were ~1 s apart at the client.
        assert.ok(response.endAt - response.headAt > 1800, 'the answer took its two seconds');

        // Record view: one exchange, the head seen early, the body counted exactly.
        const [x] = await proxy.waitForExchanges(1);
        assert.ok(x);
        assert.equal(x.kind, 'http');
        assert.equal(x.request.method, 'POST');
        assert.equal(x.request.url, proxy.target(path));
        assert.equal(x.response?.statusCode, 200);
        assert.equal(x.response?.source, 'upstream');
        assert.equal(x.bytes.request, requestBody.length);
        assert.equal(x.bytes.response, Buffer.concat(pieces).length);
        assert.equal(x.error, undefined);
        assert.ok(x.timings.responseHead !== undefined && x.timings.end !== undefined);
        assert.ok(x.timings.responseHead - started < 1000, 'the record has the head at the start, not after the body');
        assert.ok(x.timings.end - x.timings.responseHead > 1800, 'the record spans the whole long poll');

        // Log view: one info line for the exchange, with its method and status.
        const lines = await proxy.logs.waitFor((l) => l.msg === 'exchange', 1);
        assert.equal(lines.length, 1);
        assert.equal(lines[0]!.method, 'POST');
        assert.equal(lines[0]!.status, 200);
      } finally {
        await proxy.close();
        await upstream.close();
      }
    });

    it('streams a slow chunked upload: the upstream sees the first piece before the client has sent the rest', async () => {
      const pieces = [Buffer.from('first piece;'), Buffer.from('second piece;'), Buffer.from('third piece.')];
      const arrivals: TimedChunk[] = [];
      let headers: string[] = [];
      const upstream = await startServer((req: IncomingMessage, res) => {
        headers = req.rawHeaders;
        req.on('data', (data: Buffer) => arrivals.push({ at: clock(), data }));
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end(`got ${Buffer.concat(arrivals.map((a) => a.data)).length}`);
        });
      });
      const proxy = await startProxyFor(mode, upstream.port);
      try {
        const { req, response } = startRequest(proxy.port, proxy.target('/upload'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/octet-stream' },
          timeoutMs: 10_000,
        });
        const writes: Write[] = [];
        for (const [i, piece] of pieces.entries()) {
          if (i > 0) await delay(500);
          writes.push({ at: clock(), bytes: piece });
          req.write(piece);
        }
        req.end();
        const res = await response;

        // Client view.
        assert.equal(res.statusCode, 200);
        const total = Buffer.concat(pieces).length;
        assert.equal(res.body.toString(), `got ${total}`);

        // Upstream view: chunked framing kept, every piece within the bound, the body whole.
        assert.equal(header(headers, 'transfer-encoding'), 'chunked');
        assert.deepEqual(Buffer.concat(arrivals.map((a) => a.data)), Buffer.concat(pieces));
        assert.ok(arrivals[0]!.at < writes[1]!.at, 'the upstream saw the first bytes before the client sent the second piece');
        assertEachPieceWithinBound(writes, arrivals, 'upstream');

        // Record view.
        const [x] = await proxy.waitForExchanges(1);
        assert.equal(x?.bytes.request, total);
        assert.equal(x?.response?.statusCode, 200);
        assert.equal(x?.error, undefined);
      } finally {
        await proxy.close();
        await upstream.close();
      }
    });

    it('passes a 20 MiB body each way byte-exact, and counts the bytes', { timeout: 60_000 }, async () => {
      const size = 20 * 1024 * 1024;
      const up = randomBytes(size);
      const down = randomBytes(size);
      let upstreamSaw: { sha?: string; length?: number; contentLength?: string } = {};
      const upstream = await startServer((req, res) => {
        void (async () => {
          const body = await readBody(req);
          upstreamSaw = { sha: sha256(body), length: body.length, contentLength: req.headers['content-length'] };
          // Chunked on the way back (no Content-Length), in 64 KiB writes with backpressure.
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Request-Sha256': sha256(body) });
          for (let at = 0; at < down.length; at += 65536) {
            if (res.destroyed) return;
            if (!res.write(down.subarray(at, at + 65536))) await new Promise((resolve) => res.once('drain', resolve));
          }
          res.end();
        })();
      });
      const proxy = await startProxyFor(mode, upstream.port);
      try {
        const res = await request(proxy.port, proxy.target('/big'), {
          method: 'PUT',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
          body: up,
          timeoutMs: 50_000,
        });
        // Upstream view.
        assert.equal(upstreamSaw.length, size);
        assert.equal(upstreamSaw.contentLength, String(size));
        assert.equal(upstreamSaw.sha, sha256(up));
        // Client view.
        assert.equal(res.statusCode, 200);
        assert.equal(header(res.rawHeaders, 'x-request-sha256'), sha256(up));
        assert.equal(res.body.length, size);
        assert.equal(sha256(res.body), sha256(down));
        // Record view.
        const [x] = await proxy.waitForExchanges(1);
        assert.equal(x?.bytes.request, size);
        assert.equal(x?.bytes.response, size);
        assert.equal(x?.error, undefined);
      } finally {
        await proxy.close();
        await upstream.close();
      }
    });
  });
}
