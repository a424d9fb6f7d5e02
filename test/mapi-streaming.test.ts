/**
 * Stream by default (docs/running.md "Streaming") with the MAPI/HTTP observer following the exchange:
 * a NotificationWait long poll (MS-OXCMAPIHTTP 2.2.7, 3.1.5.5) trickles PROCESSING, PENDING
 * keep-alives and DONE, and each piece must reach the client as the server writes it, while the
 * observer parses the inner stream from the same chunks and holds nothing back.
 * Three views: what the upstream saw, what the client got and when, what the record says.
 * The timing method is test/streaming.test.ts's: per written piece, the arrival of the chunk that
 * completes it, within 100 ms of the write.
 */
import type http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { MapiFacts } from '../src/protocols/mapihttp-observation.js';
import { clock, delay, header, startRequest } from './helpers/client.js';
import { MODES, startProxyFor, type Mode, type ModeProxy } from './helpers/proxy.js';
import { readBody, startServer } from './helpers/servers.js';
import { assertEachPieceWithinBound, type Write, RELAY_BOUND_MS } from './helpers/timing.js';

const EMSMDB = '/mapi/emsmdb/?MailboxId=x@example.com';
const REQUEST_ID = 'E2EA6C1C-E61B-49E9-9CFB-38184F907552:7';
const CLIENT_INFO = '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:3';
const CLIENT_APPLICATION = 'Outlook/16.0.15928.20006';
const SERVER_APPLICATION = 'Exchange/15.02.1544.014';
/** NotificationWait request body: Flags (0), AuxiliaryBufferSize (0) (MS-OXCMAPIHTTP 2.2.4.4.1). */
const REQUEST_BODY = Buffer.alloc(8);
/** NotificationWait response body: StatusCode 0, ErrorCode 0, EventPending 1, AuxiliaryBufferSize 0. */
const RESPONSE_TAIL = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
const DONE = Buffer.concat([
  Buffer.from('DONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 2500\r\nX-StartTime: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n'),
  RESPONSE_TAIL,
]);

/** One piece of the answer: bytes written after waiting `after` ms. */
interface Step {
  after: number;
  bytes: Buffer;
}


interface Seen {
  method?: string;
  url?: string;
  rawHeaders?: string[];
  body?: Buffer;
}

/** An Exchange-like upstream: echoes the X-* headers, answers chunked, writes `steps` as timed. */
async function longPollUpstream(t: TestContext, steps: Step[]): Promise<{ port: number; seen: Seen; writes: Write[] }> {
  const seen: Seen = {};
  const writes: Write[] = [];
  const upstream = await startServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    void (async () => {
      Object.assign(seen, { method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: await readBody(req) });
      // No Content-Length: chunked, as Exchange answers a long poll (MS-OXCMAPIHTTP 2.2.3.2.4).
      res.writeHead(200, [
        'Cache-Control', 'private',
        'Content-Type', 'application/mapi-http',
        'Server', 'Microsoft-IIS/10.0',
        'X-RequestType', req.headers['x-requesttype'] ?? '',
        'X-RequestId', req.headers['x-requestid'] ?? '',
        'X-ClientInfo', req.headers['x-clientinfo'] ?? '',
        'X-ResponseCode', '0',
        'X-PendingPeriod', '1000',
        'X-ExpirationInfo', '900000',
        'X-ServerApplication', SERVER_APPLICATION,
        'X-Powered-By', 'ASP.NET',
      ]);
      res.flushHeaders();
      for (const step of steps) {
        if (step.after > 0) await delay(step.after);
        if (res.destroyed) return;
        writes.push({ at: clock(), bytes: step.bytes });
        res.write(step.bytes);
      }
      res.end();
    })();
  });
  t.after(() => upstream.close());
  return { port: upstream.port, seen, writes };
}

async function proxyFor(t: TestContext, mode: Mode, upstreamPort: number): Promise<ModeProxy> {
  const proxy = await startProxyFor(mode, upstreamPort);
  t.after(() => proxy.close());
  return proxy;
}

function notificationWait(proxy: ModeProxy): ReturnType<typeof startRequest> {
  const started = startRequest(proxy.port, proxy.target(EMSMDB), {
    method: 'POST',
    headers: [
      'Host', proxy.upstreamAuthority,
      'Content-Type', 'application/mapi-http',
      'X-RequestType', 'NotificationWait',
      'X-RequestId', REQUEST_ID,
      'X-ClientInfo', CLIENT_INFO,
      'X-ClientApplication', CLIENT_APPLICATION,
      'User-Agent', 'Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.15928; Pro)',
      'Content-Length', String(REQUEST_BODY.length),
    ],
    timeoutMs: 10_000,
  });
  started.req.end(REQUEST_BODY);
  return started;
}

function assertUpstreamSawRequest(seen: Seen): void {
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, EMSMDB);
  assert.deepEqual(seen.body, REQUEST_BODY);
  const raw = seen.rawHeaders ?? [];
  assert.equal(header(raw, 'x-requesttype'), 'NotificationWait');
  assert.equal(header(raw, 'x-requestid'), REQUEST_ID);
  assert.equal(header(raw, 'x-clientinfo'), CLIENT_INFO);
  assert.equal(header(raw, 'x-clientapplication'), CLIENT_APPLICATION);
}

const bytesOf = (steps: Step[]): Buffer => Buffer.concat(steps.map((s) => s.bytes));

for (const mode of MODES) {
  describe(`MAPI/HTTP long poll streaming, ${mode} mode`, () => {
    it('relays PROCESSING, PENDING, PENDING (gromox, no CRLF) and DONE each within 100 ms, and records the stream', { timeout: 20_000 }, async (t) => {
      const steps: Step[] = [
        { after: 0, bytes: Buffer.from('PROCESSING\r\n') },
        { after: 1000, bytes: Buffer.from('PENDING\r\n') },
        { after: 1000, bytes: Buffer.from('PENDING') },
        { after: 500, bytes: DONE },
      ];
      const upstream = await longPollUpstream(t, steps);
      const proxy = await proxyFor(t, mode, upstream.port);

      const started = clock();
      const res = await notificationWait(proxy).response;

      // Upstream view: the request arrived whole and unchanged.
      assertUpstreamSawRequest(upstream.seen);

      // Client view: exact bytes, the head early, each piece within the bound of its write.
      assert.equal(res.statusCode, 200);
      assert.equal(header(res.rawHeaders, 'x-serverapplication'), SERVER_APPLICATION);
      assert.equal(header(res.rawHeaders, 'x-requestid'), REQUEST_ID);
      assert.equal(header(res.rawHeaders, 'content-type'), 'application/mapi-http');
      assert.deepEqual(res.body, bytesOf(steps));
      assert.equal(upstream.writes.length, steps.length);
      assert.ok(res.headAt - upstream.writes[0]!.at < RELAY_BOUND_MS + 50, 'the response head reached the client with the first piece, not at the end');
      const arrivals = assertEachPieceWithinBound(upstream.writes, res.chunks, 'client');
      // Not a trivial pass: the pieces really were apart at the client (1 s, 1 s, 0.5 s).
      assert.ok(arrivals[1]! - arrivals[0]! > 900 && arrivals[2]! - arrivals[1]! > 900 && arrivals[3]! - arrivals[2]! > 400, 'the pieces arrived as far apart as they were written');
      assert.ok(res.endAt - res.headAt > 2300, 'the answer took its two and a half seconds');

      // Record view: the inner stream as the observer read it from the passing chunks.
      const [x] = await proxy.waitForExchanges(1);
      assert.ok(x);
      assert.equal(x.error, undefined);
      assert.equal(x.bytes.request, REQUEST_BODY.length);
      assert.equal(x.bytes.response, bytesOf(steps).length);
      assert.ok(x.timings.responseHead !== undefined && x.timings.end !== undefined);
      assert.ok(x.timings.responseHead - started < 1000, 'the record has the head at the start, not after the body');
      const record = x.protocol;
      assert.ok(record, 'the exchange has a protocol record');
      assert.equal(record.protocol, 'mapihttp');
      assert.equal(record.operation, 'NotificationWait');
      assert.deepEqual(record.versions, { client: CLIENT_APPLICATION, server: SERVER_APPLICATION });
      const stream = (record.facts as MapiFacts).stream;
      assert.ok(stream, 'the inner stream was followed');
      assert.equal(stream.processing, 1);
      assert.equal(stream.pending, 2);
      assert.equal(stream.done, true);
      assert.equal(stream.responseCode?.value, 0);
      assert.equal(stream.responseCode?.name, 'Success');
      assert.equal(stream.elapsedTime, 2500);
      assert.equal(stream.startTime, 'Mon, 01 Jan 2024 00:00:00 GMT');
      assert.equal(stream.complete, true);
      assert.equal(stream.phase, 'body');
      assert.equal(stream.bodyBytes, RESPONSE_TAIL.length);
      assert.equal(stream.totalBytes, bytesOf(steps).length);
      // The only remark: gromox's PENDING without CRLF glued to DONE (docs/protocols.md §1.8).
      assert.deepEqual(record.problems, ['meta-tags not separated by CRLF (gromox sends PENDING so)']);
      assert.deepEqual(
        record.verdicts.map((v) => [v.code, v.level]),
        [['ok', 'ok']],
      );
      assert.match(record.summary, /^mapihttp NotificationWait client=Outlook\/16\.0\.15928\.20006 server=Exchange\/15\.02\.1544\.014 code=0 PROCESSING,PENDING×2,DONE problems=1 ok$/);

      // Log view: the exchange line carries the summary.
      const lines = await proxy.logs.waitFor((l) => l.msg === 'exchange' && l.xid === x.id, 1, 3000);
      assert.equal(lines[0]!.proto, record.summary);
    });

    it('relays the first half of a PROCESSING split across two writes at once: the observer holds nothing back', { timeout: 20_000 }, async (t) => {
      const steps: Step[] = [
        { after: 0, bytes: Buffer.from('PROC') },
        { after: 200, bytes: Buffer.from('ESSING\r\n') },
        { after: 200, bytes: DONE },
      ];
      const upstream = await longPollUpstream(t, steps);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await notificationWait(proxy).response;
      assertUpstreamSawRequest(upstream.seen);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.body, bytesOf(steps));
      const arrivals = assertEachPieceWithinBound(upstream.writes, res.chunks, 'client');
      // `PROC` is an unfinished tag; the client had it before the rest was even written.
      assert.ok(arrivals[0]! < upstream.writes[1]!.at, `the client had "PROC" ${(arrivals[0]! - upstream.writes[1]!.at).toFixed(0)} ms relative to the write of "ESSING"; it must come before`);
      assert.deepEqual(Buffer.concat(res.chunks.filter((c) => c.at < upstream.writes[1]!.at).map((c) => c.data)), Buffer.from('PROC'), 'exactly the first half, alone');

      const [x] = await proxy.waitForExchanges(1);
      assert.ok(x?.protocol);
      const stream = (x.protocol.facts as MapiFacts).stream;
      assert.equal(stream?.processing, 1, 'the tag split across chunks counts once');
      assert.equal(stream?.pending, 0);
      assert.equal(stream?.done, true);
      assert.equal(stream?.responseCode?.value, 0);
      assert.equal(stream?.complete, true);
      assert.deepEqual(x.protocol.problems, []);
      assert.deepEqual(
        x.protocol.verdicts.map((v) => v.code),
        ['ok'],
      );
    });
  });
}
