/**
 * Hostile inputs against the proxy's limits (issue 21, findings 4 and 5): clients that hold a
 * connection without finishing a head, connections left idle, a flood of connections above
 * --max-connections, and a `kill -9` under load. For each: what the client got, what the
 * upstream received, what the record says, and that a well-behaved client was served meanwhile.
 *
 * Times are short on purpose (a head timeout of 1 s, an idle timeout of 600 ms) and every
 * assertion on time is a bound with slack of seconds, never a speed: the suite runs on a shared,
 * loaded machine.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTarget } from '../src/config.js';
import { RawConnection, clock, delay, reverseRequest, waitUntil, withTimeout } from './helpers/client.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { CLI, ProxyProcess, countSockets, socketFds, tryRequest, waitForSocketCount } from './helpers/process.js';
import { startRecordingServer, type RecordingServer, type SeenRequest } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

const HEAD_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 600;
/** How long the long poll and the slow upload take: well past both timeouts above. */
const SLOW_MS = 2500;

/**
 * The upstream: `/poll` answers like a MAPI/HTTP NotificationWait (MS-OXCMAPIHTTP 2.2.7: a
 * chunked 200 with PROCESSING, PENDING keep-alives, then DONE); `/silent-poll` says nothing at
 * all until it answers; anything else answers `ok` once its body is in.
 */
function respond(seen: SeenRequest, res: http.ServerResponse): void {
  if (seen.url.startsWith('/poll')) {
    res.writeHead(200, { 'Content-Type': 'application/mapi-http', 'X-RequestType': 'NotificationWait', 'X-ResponseCode': '0' });
    res.write('PROCESSING\r\n');
    const pending = setInterval(() => res.write('PENDING\r\n'), 400);
    setTimeout(() => {
      clearInterval(pending);
      res.end('DONE\r\nX-ElapsedTime: 2500\r\n\r\n');
    }, SLOW_MS);
    return;
  }
  const body = seen.url.startsWith('/upload') ? `got ${seen.body.length}` : 'ok';
  const answer = (): void => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
    res.end(body);
  };
  if (seen.url.startsWith('/silent-poll')) setTimeout(answer, SLOW_MS);
  else answer();
}

describe('hostile limits: head timeout and idle connections', () => {
  let upstream: RecordingServer;
  let proxy: TestProxy;

  before(async () => {
    upstream = await startRecordingServer(respond);
    proxy = await startProxy({ target: parseTarget(upstream.url), headTimeoutMs: HEAD_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS, logLevel: 'info' });
  });
  after(async () => {
    await proxy?.close(0);
    await upstream?.close();
  });

  it('a client dripping a head byte every 200 ms gets a 408 at --head-timeout, while a long poll and a slow upload live on', { timeout: 30_000 }, async () => {
    const before = proxy.exchanges.length;
    const seenBefore = upstream.requests.length;

    // The long poll and the slow upload, each on its own connection, both longer than the timeouts.
    const poll = reverseRequest(proxy.port, '/poll', { method: 'POST', headers: { 'Content-Type': 'application/mapi-http', 'X-RequestType': 'NotificationWait' }, body: Buffer.alloc(8) });
    const uploader = await RawConnection.open(proxy.port);
    const uploadBody = Buffer.alloc(5000, 0x61);
    await uploader.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${uploadBody.length}\r\n\r\n`);
    const uploading = (async () => {
      for (let i = 0; i < 10; i++) {
        await uploader.write(uploadBody.subarray(i * 500, (i + 1) * 500));
        await delay(SLOW_MS / 10);
      }
    })();

    // The dripper: a head that never ends, one byte every 200 ms.
    const dripper = await RawConnection.open(proxy.port);
    const started = clock();
    await dripper.write('GET /drip HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    let dripping = true;
    const drip = (async () => {
      while (dripping && dripper.closedAt === undefined) {
        await delay(200);
        if (dripper.closedAt === undefined) await dripper.write('a').catch(() => undefined);
      }
    })();

    // A well-behaved client meanwhile: served at once, several times.
    for (let i = 0; i < 3; i++) {
      const ok = await reverseRequest(proxy.port, '/well-behaved');
      assert.equal(ok.statusCode, 200);
      await delay(200);
    }

    const answer = await dripper.readResponse(HEAD_TIMEOUT_MS + 4000);
    dripping = false;
    await drip;
    const cutAfter = answer.receivedAt - started;
    assert.equal(answer.statusCode, 408);
    assert.match(answer.body.toString(), /did not arrive within 1 s \(--head-timeout\)/);
    // Node checks the head deadline every quarter timeout; generous slack for a loaded machine.
    assert.ok(cutAfter >= HEAD_TIMEOUT_MS - 50 && cutAfter < HEAD_TIMEOUT_MS + 3000, `cut after ${Math.round(cutAfter)} ms`);
    await dripper.waitForClose(3000, 'the proxy to close the dripping connection');
    dripper.destroy();

    // The long poll and the slow upload were not cut.
    await uploading;
    const uploaded = await uploader.readResponse(5000);
    assert.equal(uploaded.statusCode, 200);
    assert.equal(uploaded.body.toString(), 'got 5000');
    uploader.destroy();
    const polled = await poll;
    assert.equal(polled.statusCode, 200);
    assert.match(polled.body.toString(), /^PROCESSING\r\n(PENDING\r\n)+DONE\r\n/);

    // The upstream never saw the dripped request; the record has it as a 408 of its own.
    const seen = upstream.requests.slice(seenBefore).map((r) => r.url);
    assert.ok(!seen.includes('/drip'), `upstream saw ${seen.join(', ')}`);
    assert.deepEqual(seen.filter((u) => u !== '/well-behaved').sort(), ['/poll', '/upload']);
    const records = await proxy.waitForExchanges(before + 6);
    const timedOut = records.slice(before).filter((x) => x.error?.code === 'ERR_HTTP_REQUEST_TIMEOUT');
    assert.equal(timedOut.length, 1);
    assert.equal(timedOut[0]!.response?.statusCode, 408);
    assert.equal(timedOut[0]!.error?.phase, 'request-head');
    const others = records.slice(before).filter((x) => x !== timedOut[0]);
    assert.deepEqual(others.map((x) => [x.request.url, x.response?.statusCode, x.error?.code]).sort(), [
      ['/poll', 200, undefined],
      ['/upload', 200, undefined],
      ['/well-behaved', 200, undefined],
      ['/well-behaved', 200, undefined],
      ['/well-behaved', 200, undefined],
    ]);
    assert.ok(proxy.logs.lines.some((l) => l.msg === 'request head timed out: 408'));
  });

  it('the head timeout runs for every head of a keep-alive connection, not only the first', { timeout: 15_000 }, async () => {
    const before = proxy.exchanges.length;
    const client = await RawConnection.open(proxy.port);
    try {
      const first = await client.request('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(first.statusCode, 200);
      // The second head starts and drips (a byte every 200 ms: never silent for --idle-timeout).
      await client.write('GET /second HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      const dripping = setInterval(() => void client.write('a').catch(() => undefined), 200);
      const second = await client.readResponse(HEAD_TIMEOUT_MS + 4000).finally(() => clearInterval(dripping));
      assert.equal(second.statusCode, 408);
      await client.waitForClose(3000);
    } finally {
      client.destroy();
    }
    const records = await proxy.waitForExchanges(before + 2);
    assert.deepEqual(records.slice(before).map((x) => x.response?.statusCode), [200, 408]);
  });

  it('an idle keep-alive connection is closed after --idle-timeout; one waiting on a silent long poll is not', { timeout: 20_000 }, async () => {
    const idle = await RawConnection.open(proxy.port);
    const waiting = await RawConnection.open(proxy.port);
    const neverSpoke = await RawConnection.open(proxy.port);
    try {
      const ok = await idle.request('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(ok.statusCode, 200);
      const idleSince = clock();
      await waiting.write('GET /silent-poll HTTP/1.1\r\nHost: x\r\n\r\n');
      await idle.waitForClose(IDLE_TIMEOUT_MS + 3000, 'the idle connection to be closed');
      const closedAfter = idle.closedAt! - idleSince;
      assert.ok(closedAfter >= IDLE_TIMEOUT_MS - 50, `closed after ${Math.round(closedAfter)} ms`);
      await neverSpoke.waitForClose(IDLE_TIMEOUT_MS + 3000, 'the connection that never sent a byte to be closed');
      // The silent long poll outlives the idle timeout several times over, then goes idle in turn.
      const answer = await waiting.readResponse(SLOW_MS + 5000);
      assert.equal(answer.statusCode, 200);
      assert.equal(answer.body.toString(), 'ok');
      await waiting.waitForClose(IDLE_TIMEOUT_MS + 3000, 'the long-poll connection to be closed once idle');
    } finally {
      idle.destroy();
      waiting.destroy();
      neverSpoke.destroy();
    }
    await withTimeout(
      (async () => {
        while (proxy.app.proxy.connectionCount() > 0) await delay(20);
      })(),
      3000,
      'the proxy to hold no client connection',
    );
  });
});

describe('hostile limits: a flood of connections above --max-connections', () => {
  let upstream: RecordingServer;
  let proxy: ProxyProcess;

  before(async () => {
    upstream = await startRecordingServer(respond);
    proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--target', upstream.url, '--max-connections', '5']);
  });
  after(async () => {
    await proxy?.kill();
    await upstream?.close();
  });

  it('connections above the cap are closed at once, one warning per burst, no descriptor kept; a client is served after', { timeout: 30_000 }, async () => {
    const baseline = countSockets(proxy.pid);
    const held: RawConnection[] = [];
    const flood: RawConnection[] = [];
    try {
      // Five keep-alive connections, each served once and kept open: the cap is reached.
      for (let i = 0; i < 5; i++) {
        const conn = await RawConnection.open(proxy.port);
        held.push(conn);
        assert.equal((await conn.request('GET /held HTTP/1.1\r\nHost: x\r\n\r\n')).statusCode, 200);
      }
      const seenBefore = upstream.requests.length;
      // The flood: 40 more, each sending a request at once.
      for (let i = 0; i < 40; i++) flood.push(await RawConnection.open(proxy.port));
      await Promise.all(flood.map((conn) => conn.write('GET /flood HTTP/1.1\r\nHost: x\r\n\r\n').catch(() => undefined)));
      await Promise.all(flood.map((conn) => conn.waitForClose(5000, 'a connection above the cap to be closed')));
      for (const conn of flood) assert.equal(conn.bytes().length, 0, 'a refused connection gets no bytes');
      // The connections under the cap still work.
      assert.equal((await held[0]!.request('GET /held-again HTTP/1.1\r\nHost: x\r\n\r\n')).statusCode, 200);
      assert.equal(upstream.requests.slice(seenBefore).filter((r) => r.url === '/flood').length, 0);

      // One warning for the whole burst, with the count.
      const burst = await proxy.waitForLine('the burst warning', (line) => typeof line.refused === 'number', 5000);
      assert.equal(burst.refused, 40);
      assert.equal(burst.maxConnections, 5);
      await delay(1500);
      assert.equal(proxy.lines.filter((line) => typeof line.refused === 'number').length, 1);
    } finally {
      for (const conn of [...held, ...flood]) conn.destroy();
    }
    // No socket was left behind, and below the cap again a well-behaved client is served.
    const left = await waitForSocketCount(proxy.pid, baseline, 5000);
    assert.ok(left <= baseline, `the proxy holds ${left} sockets, ${baseline} before the flood: ${socketFds(proxy.pid).join(', ')}`);
    const ok = await tryRequest(proxy.port, '/after');
    assert.equal(ok.statusCode, 200, `after the flood: ${String(ok.error)}`);
  });
});

describe('hostile limits: kill -9 under load', () => {
  /** Rounds checked; a round whose journal fell back to the thread pool is not (see below). */
  const ROUNDS = 5;
  const MOST_ROUNDS = 10;
  let upstream: RecordingServer;

  before(async () => {
    upstream = await startRecordingServer((_seen, res) => {
      const body = Buffer.alloc(1024, 0x62);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
      res.end(body);
    });
  });
  after(async () => {
    await upstream?.close();
  });

  it(`every exchange a client saw complete is in the journal, in ${ROUNDS} rounds of kill -9 under load`, { timeout: 110_000 }, async (t) => {
    const dir = tempDir(t, 'vp-kill9-');
    let checked = 0;
    const fellBack: number[] = [];
    for (let round = 1; checked < ROUNDS && round <= MOST_ROUNDS; round++) {
      const journal = join(dir, `round${round}.ndjson`);
      const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--target', upstream.url, '--record', journal]);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
      const completed: string[] = [];
      let next = 0;
      let killed = false;
      // 32 clients, each sending its next request as soon as the last one is answered.
      const client = async (): Promise<void> => {
        while (!killed) {
          const path = `/load?r=${round}&n=${next++}`;
          const done = await getWhole(agent, proxy.port, path);
          if (done) completed.push(path);
          else return;
        }
      };
      const clients = Array.from({ length: 32 }, () => client());
      // Kill at a moment of its own, not one the clients' progress chooses (the proxy would be
      // waiting for them then): a timer, once the load is under way.
      await waitUntil(() => completed.length >= 100, 20_000, 'the load to get going');
      await delay(50 + round * 67);
      proxy.child.kill('SIGKILL');
      killed = true;
      await proxy.waitForExit(5000);
      await withTimeout(Promise.all(clients), 10_000, 'the clients to stop');
      agent.destroy();

      const recorded = new Set<string>();
      for (const line of readFileSync(journal, 'utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        let parsed: { type?: string; request?: { url?: string } };
        try {
          parsed = JSON.parse(line) as typeof parsed;
        } catch {
          continue; // a torn last line: allowed, it is not a completed exchange's
        }
        if (parsed.type === 'exchange' && parsed.request?.url !== undefined) recorded.add(parsed.request.url);
      }
      const missing = completed.filter((path) => !recorded.has(path));
      // Three writes slower than 2 ms within a second (a busy disk, or on a loaded machine a
      // preempted process) move the journal to the thread pool for 10 s, and the README says the
      // guarantee lapses then: such a round is counted, not checked.
      if (proxy.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('journal writes were slow'))) {
        fellBack.push(round);
        continue;
      }
      checked += 1;
      assert.deepEqual(missing, [], `round ${round}: ${missing.length} of ${completed.length} completed exchanges are not in the journal (${recorded.size} recorded)`);
    }
    if (fellBack.length > 0) t.diagnostic(`rounds ${fellBack.join(', ')}: the journal fell back to the thread pool (slow writes); not checked`);
    if (checked < ROUNDS) t.skip(`only ${checked} of ${MOST_ROUNDS} rounds kept synchronous journal writes on this machine`);
  });
});

/** GET `path` through the proxy; true once the whole body (Content-Length) has arrived. */
function getWhole(agent: http.Agent, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.complete && res.statusCode === 200));
      res.on('error', () => resolve(false));
      res.on('aborted', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.setTimeout(5000, () => req.destroy());
  });
}

describe('hostile limits: a flood within a low ulimit -n, with the default cap', () => {
  let upstream: RecordingServer;
  let child: ChildProcess | undefined;

  before(async () => {
    upstream = await startRecordingServer(respond);
  });
  after(async () => {
    child?.kill('SIGKILL');
    await upstream?.close();
  });

  it('the default --max-connections (from ulimit -n 80: 24) refuses the flood before the descriptors run out', { timeout: 30_000 }, async () => {
    // The limit is lowered for the proxy alone (soft and hard: Node raises its soft limit to the
    // hard one as it starts); the default cap is derived from it at start.
    const spawned = spawn('sh', ['-c', `ulimit -n 80 && exec "${process.execPath}" "${CLI}" start --listen 127.0.0.1:0 --target ${upstream.url} --no-record --no-control`], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = spawned;
    let stderr = '';
    spawned.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const lines = (): Array<Record<string, unknown>> => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitUntil(() => lines().some((l) => l.msg === 'listening'), 15_000, `the proxy to listen; stderr: ${stderr}`);
    const port = Number(lines().find((l) => l.msg === 'listening')!.port);
    const held: RawConnection[] = [];
    const flood: RawConnection[] = [];
    try {
      // 24 connections, each with its own upstream connection: 48 descriptors of 80.
      for (let i = 0; i < 24; i++) {
        const conn = await RawConnection.open(port);
        held.push(conn);
        assert.equal((await conn.request('GET /held HTTP/1.1\r\nHost: x\r\n\r\n')).statusCode, 200);
      }
      // 40 more would need 80 more descriptors: all refused at accept, none answered with an error.
      for (let i = 0; i < 40; i++) flood.push(await RawConnection.open(port));
      await Promise.all(flood.map((conn) => conn.write('GET /flood HTTP/1.1\r\nHost: x\r\n\r\n').catch(() => undefined)));
      await Promise.all(flood.map((conn) => conn.waitForClose(5000, 'a connection above the default cap to be closed')));
      for (const conn of flood) assert.equal(conn.bytes().length, 0);
      // Every held connection is still served: no descriptor ran out.
      for (const conn of held) assert.equal((await conn.request('GET /again HTTP/1.1\r\nHost: x\r\n\r\n')).statusCode, 200);
      await waitUntil(() => lines().some((l) => typeof l.refused === 'number'), 5000, 'the burst warning');
      const burst = lines().find((l) => typeof l.refused === 'number')!;
      assert.equal(burst.maxConnections, 24);
      assert.equal(burst.refused, 40);
      assert.ok(!lines().some((l) => l.msg === 'server error'), 'no accept error (EMFILE) was logged');
    } finally {
      for (const conn of [...held, ...flood]) conn.destroy();
    }
    spawned.kill('SIGTERM');
    await withTimeout(new Promise((resolve) => spawned.once('exit', resolve)), 10_000, 'the proxy to exit');
  });
});
