/**
 * Fault actions through the real proxy (issue 4 item 4, "faults"; docs/rules.md "Actions"):
 * delay (before forwarding, before the response head, with jitter), throttle (per direction),
 * close, reset and hang. Three views each: when and what the upstream saw, what the client got
 * (or how its connection ended), what the record says. Timing assertions are lower bounds only:
 * a fault must make things at least this slow; how fast a loaded machine is stays untested.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { clock, delay, header, RawConnection, startRequest, waitUntil, withTimeout } from './helpers/client.js';
import type { TestProxy } from './helpers/proxy.js';
import { ruleRecord, rulesProxy } from './helpers/rule-files.js';
import { startRecordingServer, type RecordingServer } from './helpers/servers.js';

/** Timer slack: a timer set for N ms may fire a millisecond or so early by the wall clock. */
const SLACK_MS = 5;

async function upstreamOk(t: TestContext, answer?: Parameters<typeof startRecordingServer>[0]): Promise<RecordingServer> {
  const upstream = await startRecordingServer(answer);
  t.after(() => upstream.close());
  return upstream;
}

function get(proxy: TestProxy, upstream: RecordingServer, path: string, timeoutMs = 5000): ReturnType<typeof startRequest> {
  const started = startRequest(proxy.port, `${upstream.url}${path}`, { headers: { Host: new URL(upstream.url).host }, timeoutMs });
  started.req.end();
  return started;
}

function send(proxy: TestProxy, upstream: RecordingServer, path: string, method: string): ReturnType<typeof startRequest>['response'] {
  const started = startRequest(proxy.port, `${upstream.url}${path}`, { method, headers: { Host: new URL(upstream.url).host, 'Content-Length': '0' }, timeoutMs: 5000 });
  started.req.end();
  return started.response;
}

function rawGet(upstream: RecordingServer, path: string): string {
  return `GET ${upstream.url}${path} HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\n\r\n`;
}

/** Opens a plain socket to the proxy, writes `bytes`, and reports how the connection ended. */
function endingOf(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<{ error?: string; received: Buffer; ended: boolean }> {
  return withTimeout(
    new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let ended = false;
      let error: string | undefined;
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => (ended = true));
      socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      socket.on('close', () => resolve({ ...(error !== undefined && { error }), received: Buffer.concat(chunks), ended }));
      socket.on('connect', () => socket.write(bytes));
    }),
    timeoutMs,
    'the proxy to end the connection',
  );
}

// ---------------------------------------------------------------------------------------------

describe('delay', () => {
  it('before forwarding: the upstream sees the request no earlier than the delay; the record says how long', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: slow-request
    match: { path: /slow }
    actions:
      - delay: 300ms
`);
    const sentAt = clock();
    const res = await get(proxy, upstream, '/slow').response;
    assert.equal(res.statusCode, 200);
    assert.equal(res.body.toString(), 'ok');
    assert.equal(upstream.requests.length, 1);
    const waited = upstream.requests[0]!.at - sentAt;
    assert.ok(waited >= 300 - SLACK_MS, `the upstream saw the request ${waited.toFixed(1)} ms after it was sent; the rule delays it 300 ms`);

    const [x] = await proxy.waitForExchanges(1);
    const rule = ruleRecord(x, 'slow-request');
    assert.equal(rule.outcome, 'applied');
    assert.deepEqual(rule.changes, [{ action: 'delay', target: 'request-head', after: '300 ms' }]);
    assert.match(rule.explain, /delay 300ms before forwarding the request/);
    assert.ok(x!.timings.upstreamConnected! - x!.timings.start >= 300 - SLACK_MS, 'the record shows the wait before the upstream connection');
    assert.equal(x!.error, undefined);
  });

  it('before the response head: the upstream is asked at once, the client gets the head no earlier than the delay after the answer', async (t) => {
    let answeredAt = 0;
    const upstream = await upstreamOk(t, (_seen, res) => {
      answeredAt = clock();
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
      res.end('ok');
    });
    const proxy = await rulesProxy(t, `
rules:
  - id: slow-answer
    match: { path: /slow }
    actions:
      - delay: { duration: 300ms, phase: response-head }
`);
    const res = await get(proxy, upstream, '/slow').response;
    assert.equal(res.statusCode, 200);
    assert.equal(res.body.toString(), 'ok');
    const held = res.headAt - answeredAt;
    assert.ok(held >= 300 - SLACK_MS, `the head reached the client ${held.toFixed(1)} ms after the upstream answered; the rule holds it 300 ms`);
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'slow-answer').changes, [{ action: 'delay', target: 'response-head', after: '300 ms' }]);
    assert.ok(x!.timings.responseHead! - answeredAt >= -SLACK_MS);
  });

  it('with jitter: each delay is within duration ± jitter, the upstream waits at least that long, and seed 42 repeats the draws', async (t) => {
    const upstream = await upstreamOk(t);
    const yaml = `
rules:
  - id: jittery
    match: { path: /j }
    actions:
      - delay: { duration: 150ms, jitter: 100ms }
`;
    const draws = async (): Promise<number[]> => {
      const proxy = await rulesProxy(t, yaml);
      const out: number[] = [];
      for (let i = 0; i < 3; i++) {
        const before = upstream.requests.length;
        const sentAt = clock();
        await get(proxy, upstream, '/j').response;
        const [x] = (await proxy.waitForExchanges(i + 1)).slice(i);
        const after = ruleRecord(x, 'jittery').changes[0]?.after ?? '';
        const ms = Number(/^(\d+) ms$/.exec(after)?.[1]);
        assert.ok(ms >= 50 && ms <= 250, `delay ${after} is within 150 ms ± 100 ms`);
        const waited = upstream.requests[before]!.at - sentAt;
        assert.ok(waited >= ms - SLACK_MS, `the upstream saw request ${i} after ${waited.toFixed(1)} ms; the rule drew ${ms} ms`);
        out.push(ms);
      }
      return out;
    };
    const first = await draws();
    const second = await draws();
    assert.deepEqual(second, first, 'the same seed draws the same delays');
    assert.ok(new Set(first).size > 1, `jitter varies the delay (drew ${first.join(', ')})`);
  });

  it('a client that gives up during a request delay: the upstream is never asked, the record says the client aborted', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: long-wait
    match: { path: /w }
    actions:
      - delay: 400ms
`);
    const conn = await RawConnection.open(proxy.port);
    await conn.write(rawGet(upstream, '/w'));
    await delay(100);
    conn.destroy();
    const [x] = await proxy.waitForExchanges(1);
    await delay(500);
    assert.equal(upstream.requests.length, 0, 'the delayed request was dropped with its client');
    assert.equal(x!.error?.code, 'CLIENT_ABORTED');
    assert.equal(ruleRecord(x, 'long-wait').outcome, 'applied');
  });
});

// ---------------------------------------------------------------------------------------------

describe('throttle', () => {
  const RATE = 48 * 1024; // 48kb/s
  const BURST = Math.max(Math.ceil(RATE * 0.1), 64); // src/proxy/throttle.ts: 100 ms of the rate
  const SIZE = 24 * 1024;
  const floorMs = ((SIZE - BURST) / RATE) * 1000;

  it(`response: ${SIZE} bytes at 48kb/s take at least (N - burst) / R ≈ ${Math.round(floorMs)} ms, and arrive whole`, async (t) => {
    const payload = Buffer.alloc(SIZE, 0x61);
    const upstream = await upstreamOk(t, (_seen, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(SIZE) });
      res.end(payload);
    });
    const proxy = await rulesProxy(t, `
rules:
  - id: slow-down
    match: { path: /big }
    actions:
      - throttle: { rate: 48kb/s, direction: response }
`);
    const res = await get(proxy, upstream, '/big').response;
    assert.deepEqual(res.body, payload);
    assert.equal(header(res.rawHeaders, 'Content-Length'), String(SIZE));
    const took = res.endAt - res.headAt;
    assert.ok(took >= floorMs - SLACK_MS, `the body took ${took.toFixed(0)} ms; at 48kb/s it needs at least ${floorMs.toFixed(0)} ms`);
    assert.ok(res.chunks.length > 2, 'the body came in slices');
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'slow-down').changes, [{ action: 'throttle', target: 'response body', after: `${RATE} bytes/s` }]);
    assert.equal(x!.bytes.response, SIZE);
  });

  it(`request: an upload of ${SIZE} bytes reaches the upstream no faster than the rate`, async (t) => {
    let bodyDoneAt = 0;
    const upstream = await upstreamOk(t, (_seen, res) => {
      bodyDoneAt = clock();
      res.writeHead(200, { 'Content-Length': '2' });
      res.end('ok');
    });
    const proxy = await rulesProxy(t, `
rules:
  - id: slow-upload
    match: { path: /up }
    actions:
      - throttle: { rate: 48kb/s, direction: request }
`);
    const payload = Buffer.alloc(SIZE, 0x62);
    const sentAt = clock();
    const { req, response } = startRequest(proxy.port, `${upstream.url}/up`, {
      method: 'PUT',
      headers: { Host: new URL(upstream.url).host, 'Content-Length': String(SIZE) },
      timeoutMs: 5000,
    });
    req.end(payload);
    const res = await response;
    assert.equal(res.statusCode, 200);
    assert.deepEqual(upstream.requests[0]?.body, payload);
    const took = bodyDoneAt - sentAt;
    assert.ok(took >= floorMs - SLACK_MS, `the upload took ${took.toFixed(0)} ms to reach the upstream; at 48kb/s at least ${floorMs.toFixed(0)} ms`);
    const [x] = await proxy.waitForExchanges(1);
    assert.deepEqual(ruleRecord(x, 'slow-upload').changes, [{ action: 'throttle', target: 'request body', after: `${RATE} bytes/s` }]);
  });

  it('a throttled long poll still trickles: each keep-alive reaches the client before the next piece is written', { timeout: 10_000 }, async (t) => {
    const pieces = ['PROCESSING\r\n', 'PENDING\r\n', 'PENDING\r\n', 'DONE\r\nX-ResponseCode: 0\r\n\r\n'].map((p) => Buffer.from(p));
    const writes: number[] = [];
    const upstream = await upstreamOk(t, (_seen, res) => {
      res.writeHead(200, { 'Content-Type': 'application/mapi-http', 'X-ResponseCode': '0' });
      res.flushHeaders();
      void (async () => {
        for (const piece of pieces) {
          if (res.destroyed) return;
          writes.push(clock());
          res.write(piece);
          await delay(250);
        }
        res.end();
      })();
    });
    const proxy = await rulesProxy(t, `
rules:
  - id: slow-poll
    match: { path: /mapi/* }
    actions:
      - throttle: { rate: 1kb/s, direction: response }
`);
    const res = await send(proxy, upstream, '/mapi/emsmdb/', 'POST');
    assert.deepEqual(res.body, Buffer.concat(pieces));
    // Ordering, not speed: piece i was whole at the client before piece i+1 was written.
    let received = 0;
    let end = 0;
    pieces.slice(0, -1).forEach((piece, i) => {
      end += piece.length;
      const chunk = res.chunks.find((c) => (received += c.data.length) >= end);
      received = 0;
      assert.ok(chunk !== undefined && chunk.at < writes[i + 1]!, `piece ${i} (${JSON.stringify(piece.toString())}) was held back by the throttle until after the next write`);
    });
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(ruleRecord(x, 'slow-poll').outcome, 'applied');
  });

  it(
    'request throttle on an FPSE upload: the bytes read with the method line are throttled too',
    async (t) => {
      let bodyDoneAt = 0;
      const upstream = await upstreamOk(t, (_seen, res) => {
        bodyDoneAt = clock();
        res.end('ok');
      });
      const proxy = await rulesProxy(t, `
rules:
  - id: slow-fpse-upload
    match: { protocol: fpse }
    actions:
      - throttle: { rate: 48kb/s, direction: request }
`);
      const payload = Buffer.concat([Buffer.from('method=put+document%3a12%2e0%2e0%2e6415&service%5fname=%2f\n'), Buffer.alloc(SIZE, 0x64)]);
      const sentAt = clock();
      const { req, response } = startRequest(proxy.port, `${upstream.url}/_vti_bin/_vti_aut/author.dll`, {
        method: 'POST',
        headers: { Host: new URL(upstream.url).host, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(payload.length) },
        timeoutMs: 5000,
      });
      req.end(payload);
      await response;
      assert.deepEqual(upstream.requests[0]?.body, payload);
      const floor = ((payload.length - BURST) / RATE) * 1000;
      const took = bodyDoneAt - sentAt;
      assert.ok(took >= floor - SLACK_MS, `the upload took ${took.toFixed(0)} ms to reach the upstream; at 48kb/s at least ${floor.toFixed(0)} ms`);
    },
  );

  it('without a direction a request-side rule slows both ways (the record says so)', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: both
    match: { path: /b }
    actions:
      - throttle: 8kb/s
`);
    const res = await get(proxy, upstream, '/b').response;
    assert.equal(res.body.toString(), 'ok');
    const [x] = await proxy.waitForExchanges(1);
    const rule = ruleRecord(x, 'both');
    assert.match(rule.explain, /throttle both directions to 8kb\/s/);
    assert.deepEqual(rule.changes.map((c) => c.target).sort(), ['request body', 'response body']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('close, reset, hang', () => {
  it('close: the client sees its connection closed with no response; the upstream sees nothing; the record has no error', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: drop
    match: { path: /drop }
    actions:
      - close: true
`);
    const ending = await endingOf(proxy.port, rawGet(upstream, '/drop'));
    assert.equal(ending.received.length, 0, `no response bytes (got ${JSON.stringify(ending.received.toString().slice(0, 80))})`);
    assert.equal(ending.error, undefined, 'closed, not reset');
    assert.equal(ending.ended, true, 'an orderly end of stream');
    assert.equal(upstream.requests.length, 0);
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(x!.error, undefined, 'an intended close is not a traffic failure');
    assert.equal(x!.response, undefined, 'no response on the record');
    const rule = ruleRecord(x, 'drop');
    assert.equal(rule.outcome, 'applied');
    assert.deepEqual(rule.changes, [{ action: 'close', target: 'connection', after: 'close the connection without an answer' }]);
  });

  it(
    'close on a POST whose body the proxy has not read: still an orderly close, not a reset',
    async (t) => {
      const upstream = await upstreamOk(t);
      const proxy = await rulesProxy(t, `
rules:
  - id: drop-upload
    match: { path: /drop }
    actions:
      - close: true
`);
      const body = Buffer.alloc(512 * 1024, 0x63);
      const head = `POST ${upstream.url}/drop HTTP/1.1\r\nHost: ${new URL(upstream.url).host}\r\nContent-Length: ${body.length}\r\n\r\n`;
      const ending = await endingOf(proxy.port, Buffer.concat([Buffer.from(head), body]));
      assert.equal(ending.received.length, 0);
      assert.equal(ending.error, undefined, `closed, not reset (client saw ${ending.error ?? 'no error'})`);
    },
  );

  it('reset: the client sees ECONNRESET; the upstream sees nothing; the record has no error', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: rst
    match: { path: /rst }
    actions:
      - reset: true
`);
    const ending = await endingOf(proxy.port, rawGet(upstream, '/rst'));
    assert.equal(ending.error, 'ECONNRESET');
    assert.equal(ending.received.length, 0);
    assert.equal(upstream.requests.length, 0);
    // A node:http client sees the same.
    const started = get(proxy, upstream, '/rst');
    await assert.rejects(started.response, (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
    const [x] = await proxy.waitForExchanges(2);
    assert.equal(x!.error, undefined);
    assert.equal(x!.response, undefined);
    assert.deepEqual(ruleRecord(x, 'rst').changes, [{ action: 'reset', target: 'connection', after: 'reset the connection (TCP RST)' }]);
  });

  it('hang: no answer; the client gives up; the record ends (no error) and no exchange or connection is left behind', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: stall
    match: { path: /hang }
    actions:
      - hang: true
`);
    const started = get(proxy, upstream, '/hang', 500);
    await assert.rejects(started.response, /timed out after 500 ms/);
    // startRequest destroyed the request on its timeout: the client has gone.
    const [x] = await proxy.waitForExchanges(1, 3000);
    assert.equal(x!.response, undefined);
    assert.equal(x!.error, undefined, 'the client left an exchange the rule meant never to answer: not a traffic failure');
    assert.ok(x!.timings.end! - x!.timings.start >= 500 - SLACK_MS);
    assert.deepEqual(ruleRecord(x, 'stall').changes, [{ action: 'hang', target: 'connection', after: 'never answer' }]);
    assert.equal(upstream.requests.length, 0);
    assert.equal(proxy.started.length, proxy.exchanges.length, 'every started exchange finished');
    await waitUntil(() => proxy.app.proxy.connectionCount() === 0, 3000, 'the proxy to drop the client connection');
  });

  it('hang: a proxy shutting down ends the hung exchange within its grace time, and records it', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: stall
    match: { path: /hang }
    actions:
      - hang: true
`);
    const conn = await RawConnection.open(proxy.port);
    t.after(() => conn.destroy());
    await conn.write(rawGet(upstream, '/hang'));
    await waitUntil(() => proxy.started.length === 1, 3000, 'the exchange to start');
    await withTimeout(proxy.close(200), 3000, 'the proxy to close');
    await conn.waitForClose(3000, 'the hung connection to be closed by the shutdown');
    assert.equal(conn.bytes().length, 0, 'still no answer');
    const [x] = await proxy.waitForExchanges(1, 3000);
    assert.equal(ruleRecord(x, 'stall').outcome, 'applied');
    assert.equal(upstream.requests.length, 0);
  });

  it('hang on one connection does not stall another', async (t) => {
    const upstream = await upstreamOk(t);
    const proxy = await rulesProxy(t, `
rules:
  - id: stall
    match: { path: /hang }
    actions:
      - hang: true
`);
    const hung = get(proxy, upstream, '/hang', 2000);
    const res = await get(proxy, upstream, '/fine').response;
    assert.equal(res.statusCode, 200);
    hung.req.destroy();
    await assert.rejects(hung.response);
    await proxy.waitForExchanges(2, 3000);
  });
});
