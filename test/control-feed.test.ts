/**
 * The live feed, `GET /api/events` (issue 22, docs/control-api.md "Live feed"), with real sockets:
 * who may subscribe (the control server's checks, before the upgrade), the events of real
 * requests through the proxy in order, the server-side filter, resuming with `since`, the
 * subscriber cap, and every subscriber closed with the control plane. The slow subscriber under
 * load is test/control-feed-stall.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { proxiedRequest } from './helpers/client.js';
import { controlledProxy, type ControlledProxy } from './helpers/control.js';
import { subscribe, tryUpgrade, type FeedMessage } from './helpers/feed.js';
import { closeLater } from './helpers/protocol.js';
import { startServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

async function upstream(t: TestContext): Promise<string> {
  const server = closeLater(
    t,
    await startServer((req, res) => {
      res.statusCode = req.url?.startsWith('/fail') === true ? 503 : 200;
      res.end('ok');
    }),
  );
  return server.url;
}

async function feedProxy(t: TestContext, feedRing?: number): Promise<ControlledProxy> {
  return controlledProxy(t, { control: { listen: { host: '127.0.0.1', port: 0 }, tokenFile: join(tempDir(t, 'vp-feed-'), 'control-token'), ring: 100, ...(feedRing !== undefined && { feedRing }) } });
}

const events = (m: FeedMessage): boolean => m.type !== 'missed';

describe('live feed: who may subscribe', () => {
  it('refuses before the upgrade, as JSON, and logs it: no token or a wrong one 401, a foreign Host or cross-site Origin 403', async (t) => {
    const c = await feedProxy(t);
    const cases: Array<{ headers: Record<string, string>; status: number; code: string }> = [
      { headers: {}, status: 401, code: 'UNAUTHORIZED' },
      { headers: { Authorization: `Bearer ${c.token}x` }, status: 401, code: 'UNAUTHORIZED' },
      { headers: { 'Sec-WebSocket-Protocol': `version-proxy.v1, bearer.${c.token}x` }, status: 401, code: 'UNAUTHORIZED' },
      { headers: { Authorization: `Bearer ${c.token}`, Host: `evil.example:${c.controlPort}` }, status: 403, code: 'FORBIDDEN_HOST' },
      { headers: { Authorization: `Bearer ${c.token}`, Origin: 'http://evil.example' }, status: 403, code: 'CROSS_SITE' },
      { headers: { 'Sec-WebSocket-Protocol': `bearer.${c.token}`, Origin: 'http://evil.example' }, status: 403, code: 'CROSS_SITE' },
      { headers: { Authorization: `Bearer ${c.token}`, 'Sec-Fetch-Site': 'cross-site' }, status: 403, code: 'CROSS_SITE' },
    ];
    for (const { headers, status, code } of cases) {
      const answer = await tryUpgrade(c.controlPort, '/api/events', headers);
      assert.equal(answer.status, status, JSON.stringify(headers));
      assert.equal(answer.json?.code, code, JSON.stringify(answer.json));
      assert.equal(typeof answer.json?.error, 'string');
      if (status === 401) assert.match(String(answer.headers['www-authenticate']), /^Bearer /);
    }
    const refusals = await c.proxy.logs.waitFor((l) => l.msg === 'control request refused' && l.path === '/api/events', cases.length, 3000);
    assert.deepEqual(
      refusals.map((l) => l.code),
      cases.map((x) => x.code),
    );
    // Only the listening line's `ui` URL carries it (in its fragment, issue 23).
    assert.ok(!c.proxy.logs.lines.some((l) => JSON.stringify({ ...l, ui: undefined }).includes(c.token)), 'the token is not logged');
  });

  it('takes the token as Authorization, or as the subprotocol bearer.<token>, selecting version-proxy.v1 when offered so the token is not echoed', async (t) => {
    const c = await feedProxy(t);
    const byHeader = await subscribe(t, c.controlPort, { token: c.token });
    assert.equal(byHeader.ws.protocol, '');
    const browserLike = await subscribe(t, c.controlPort, { protocols: ['version-proxy.v1', `bearer.${c.token}`], headers: { Origin: `http://127.0.0.1:${c.controlPort}` } });
    assert.equal(browserLike.ws.protocol, 'version-proxy.v1');
    const handshake = await tryUpgrade(c.controlPort, '/api/events', { 'Sec-WebSocket-Protocol': `version-proxy.v1, bearer.${c.token}` });
    assert.equal(handshake.status, 101);
    assert.equal(handshake.headers['sec-websocket-protocol'], 'version-proxy.v1');
    // Alone, the bearer subprotocol must be selected (a browser fails a handshake that selects none).
    const alone = await subscribe(t, c.controlPort, { protocols: [`bearer.${c.token}`] });
    assert.equal(alone.ws.protocol, `bearer.${c.token}`);
  });

  it('a plain GET of /api/events gets 426 JSON saying to use a WebSocket; another path cannot be upgraded', async (t) => {
    const c = await feedProxy(t);
    const plain = await c.api('/api/events');
    assert.equal(plain.statusCode, 426);
    assert.equal((plain.json as { code: string }).code, 'UPGRADE_REQUIRED');
    assert.match((plain.json as { error: string }).error, /WebSocket/);
    assert.equal(plain.headers.upgrade, 'websocket');
    const other = await tryUpgrade(c.controlPort, '/api/status', { Authorization: `Bearer ${c.token}` });
    assert.equal(other.status, 404);
    assert.equal(other.json?.code, 'NOT_FOUND');
    // The server goes on answering.
    assert.equal((await c.api('/api/status')).statusCode, 200);
  });
});

describe('live feed: events', () => {
  it('sends started then finished for each request through the proxy, seq one more per event, summaries as /api/exchanges has them', async (t) => {
    const c = await feedProxy(t);
    const origin = await upstream(t);
    const feed = await subscribe(t, c.controlPort, { token: c.token });
    for (const path of ['/a', '/b?access_token=secret', '/fail']) {
      await proxiedRequest(c.proxy.port, `${origin}${path}`);
    }
    const messages = await feed.waitFor(6);
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 3, 4, 5, 6],
    );
    // Sequential requests: each one's started comes before its finished, and before the next's.
    assert.deepEqual(
      messages.map((m) => `${m.type} ${new URL(m.exchange!.url).pathname}`),
      ['started /a', 'finished /a', 'started /b', 'finished /b', 'started /fail', 'finished /fail'],
    );
    for (let i = 0; i < 6; i += 2) assert.equal(messages[i]!.exchange!.id, messages[i + 1]!.exchange!.id);
    const [started, finished] = messages;
    assert.equal(started!.exchange!.status, undefined, 'nothing of the response at started');
    assert.equal(finished!.exchange!.status, 200);
    assert.equal(finished!.exchange!.method, 'GET');
    assert.equal(typeof finished!.time, 'number');
    assert.equal(started!.exchange!.start, finished!.exchange!.start, 'the start is the same in both');
    assert.equal(started!.exchange!.start, started!.time);
    assert.ok(finished!.exchange!.bytes.response > 0);
    assert.equal(messages[5]!.exchange!.status, 503);
    // Redacted as the journal is.
    assert.doesNotMatch(JSON.stringify(messages), /secret/);
    const listed = (await c.api('/api/exchanges?limit=1')).json as Array<{ id: string }>;
    assert.equal(listed[0]!.id, messages[5]!.exchange!.id);
  });

  it('filters on the server: a head filter (path) gets started and finished; one that reads the response (even negated: -status:2xx) only finished', async (t) => {
    const c = await feedProxy(t);
    const origin = await upstream(t);
    const byPath = await subscribe(t, c.controlPort, { token: c.token, query: `?filter=${encodeURIComponent('path:/keep*')}` });
    const byStatus = await subscribe(t, c.controlPort, { token: c.token, query: `?filter=${encodeURIComponent('-status:2xx')}` });
    const all = await subscribe(t, c.controlPort, { token: c.token });
    for (const path of ['/keep/1', '/other', '/fail', '/keep/2']) await proxiedRequest(c.proxy.port, `${origin}${path}`);
    await all.waitFor(8);
    await byPath.waitFor(4);
    await byStatus.waitFor(1);
    assert.deepEqual(
      byPath.messages.map((m) => `${m.seq} ${m.type} ${new URL(m.exchange!.url).pathname}`),
      ['1 started /keep/1', '2 finished /keep/1', '7 started /keep/2', '8 finished /keep/2'],
    );
    assert.deepEqual(
      byStatus.messages.map((m) => `${m.seq} ${m.type} ${m.exchange!.status}`),
      ['6 finished 503'],
    );
  });

  it('a bad filter or since refuses the upgrade with 400 and the issues', async (t) => {
    const c = await feedProxy(t);
    const auth = { Authorization: `Bearer ${c.token}` };
    const bad = await tryUpgrade(c.controlPort, `/api/events?filter=${encodeURIComponent('protocol:fpse verb:POST')}`, auth);
    assert.equal(bad.status, 400);
    assert.equal(bad.json?.code, 'BAD_FILTER');
    assert.match(String(bad.json?.issues?.[0]), /column 15, 'verb:POST': unknown key 'verb'/);
    const since = await tryUpgrade(c.controlPort, '/api/events?since=-1', auth);
    assert.equal(since.status, 400);
    assert.equal(since.json?.code, 'BAD_QUERY');
    const ahead = await tryUpgrade(c.controlPort, '/api/events?since=99', auth);
    assert.equal(ahead.status, 400);
    assert.match(ahead.json!.error!, /since=99 is past this run's last event \(0\)/);
    const unknown = await tryUpgrade(c.controlPort, '/api/events?from=1', auth);
    assert.equal(unknown.status, 400);
    assert.match(unknown.json!.error!, /from: unknown query parameter/);
  });

  it('resumes with since: the held events after it, after a missed message counting those the ring no longer holds', async (t) => {
    const c = await feedProxy(t, 5);
    const origin = await upstream(t);
    const first = await subscribe(t, c.controlPort, { token: c.token });
    for (let i = 0; i < 5; i++) await proxiedRequest(c.proxy.port, `${origin}/r${i}`);
    await first.waitFor(10);
    first.ws.close();
    await first.closed;
    // The first subscriber has gone, but the feed holds events for a while yet: the two of
    // /after are held too. The ring holds 5, seqs 8..12; 1..7 are gone.
    await proxiedRequest(c.proxy.port, `${origin}/after`);
    const fromStart = await subscribe(t, c.controlPort, { token: c.token, query: '?since=0' });
    const replayed = await fromStart.waitFor(6);
    assert.deepEqual(replayed[0], { seq: 7, type: 'missed', missed: 7 });
    assert.deepEqual(
      replayed.slice(1).map((m) => m.seq),
      [8, 9, 10, 11, 12],
    );
    const recent = await subscribe(t, c.controlPort, { token: c.token, query: '?since=10' });
    const tail = await recent.waitFor(2);
    assert.deepEqual(
      tail.map((m) => `${m.seq} ${m.type} ${new URL(m.exchange!.url).pathname}`),
      ['11 started /after', '12 finished /after'],
    );
    // And then live.
    await proxiedRequest(c.proxy.port, `${origin}/live`);
    await recent.waitFor(4);
    assert.deepEqual(
      recent.messages.map((m) => m.seq),
      [11, 12, 13, 14],
    );
    assert.ok(fromStart.messages.filter(events).length >= 5);
  });

  it("since counts in its run: the 101 names the run (X-Feed-Run); with another run's name (the proxy restarted), since counts from this run's start", async (t) => {
    const c = await feedProxy(t);
    const origin = await upstream(t);
    const handshake = await tryUpgrade(c.controlPort, '/api/events', { Authorization: `Bearer ${c.token}` });
    const run = String(handshake.headers['x-feed-run']);
    assert.match(run, /^[\w-]{8}$/);
    const holder = await subscribe(t, c.controlPort, { token: c.token });
    for (const path of ['/1', '/2']) await proxiedRequest(c.proxy.port, `${origin}${path}`);
    await holder.waitFor(4);
    const sameRun = await subscribe(t, c.controlPort, { token: c.token, query: `?since=3&run=${run}` });
    const otherRun = await subscribe(t, c.controlPort, { token: c.token, query: '?since=3&run=previous' });
    await otherRun.waitFor(4);
    await sameRun.waitFor(1);
    assert.deepEqual(
      sameRun.messages.map((m) => m.seq),
      [4],
    );
    assert.deepEqual(
      otherRun.messages.map((m) => m.seq),
      [1, 2, 3, 4],
    );
    // Past this run's end is no error when the run says it is another one.
    const ahead = await tryUpgrade(c.controlPort, '/api/events?since=99&run=previous', { Authorization: `Bearer ${c.token}` });
    assert.equal(ahead.status, 101);
  });

  it('holds at most its subscriber cap (the next gets 503); closing the control plane closes every subscriber with 1001', async (t) => {
    const c = await feedProxy(t);
    const subscribers = [];
    for (let i = 0; i < 32; i++) subscribers.push(await subscribe(t, c.controlPort, { token: c.token }));
    const extra = await tryUpgrade(c.controlPort, '/api/events', { Authorization: `Bearer ${c.token}` });
    assert.equal(extra.status, 503);
    assert.equal(extra.json?.code, 'TOO_MANY_SUBSCRIBERS');
    const leaving = subscribers.pop()!;
    leaving.ws.close();
    await leaving.closed;
    // Its slot is free once the server has seen the close too (a moment after the client).
    for (let i = 0; subscribers.length < 32; i++) {
      try {
        subscribers.push(await subscribe(t, c.controlPort, { token: c.token }));
      } catch (err) {
        if (i === 20) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const started = Date.now();
    await c.proxy.app.control!.close();
    const codes = await Promise.all(subscribers.map((s) => s.closed));
    assert.ok(codes.every((x) => x.code === 1001), JSON.stringify(codes.slice(0, 3)));
    assert.ok(Date.now() - started < 5000, 'closed promptly');
  });
});
