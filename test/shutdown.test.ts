/**
 * Stopping: SIGINT or SIGTERM stops accepting at once, lets exchanges in flight finish for up to
 * --grace seconds, closes what is left, and exits 0 (docs/running.md: `./proxy` execs
 * node so that these signals reach the proxy itself). Run as a child process, since exit codes
 * and signals are what is under test.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { delay, RawConnection, startRequest, waitUntil } from './helpers/client.js';
import { ProxyProcess } from './helpers/process.js';
import { startServer, type TestServer } from './helpers/servers.js';

/**
 * Resolves 'refused' when nothing listens, 'accepted' when a connection is made (then closed),
 * 'reset' when the listener closed while the connection sat in its backlog (try again).
 */
function tryConnect(port: number): Promise<'refused' | 'accepted' | 'reset'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code === 'ECONNREFUSED') resolve('refused');
      else if (err.code === 'ECONNRESET') resolve('reset');
      else reject(err);
    });
  });
}

describe('stopping on a signal', () => {
  /**
   * Answers `/slow` 300 ms after the request arrived, and not before the test opens `gate` (so a
   * check made "while the exchange is in flight" cannot lose a race on a loaded machine);
   * `/hang` never. Records the path of every request that arrives.
   */
  let upstream: TestServer;
  let gate: Promise<void> = Promise.resolve();
  const arrived: string[] = [];
  const hanging = new Set<http.ServerResponse>();

  before(async () => {
    upstream = await startServer((req, res) => {
      arrived.push(req.url ?? '');
      req.resume();
      if (req.url?.startsWith('/hang')) {
        hanging.add(res);
        res.once('close', () => hanging.delete(res));
        return;
      }
      if (req.url?.startsWith('/slow')) {
        void Promise.all([delay(300), gate]).then(() => res.end('slow answer, complete'));
        return;
      }
      res.end('ok');
    });
  });
  after(async () => {
    await upstream?.close();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} with an exchange in flight: it completes, new connections are refused, exit 0`, { timeout: 20_000 }, async () => {
      const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--grace', '5']);
      let openGate: () => void = () => undefined;
      gate = new Promise((resolve) => (openGate = resolve));
      try {
        const path = `/slow-${signal}`;
        const { req, response } = startRequest(proxy.port, `${upstream.url}${path}`, { headers: { Host: `127.0.0.1:${upstream.port}` } });
        req.end();
        let answered = false;
        void response.then(
          () => (answered = true),
          () => undefined,
        );
        await waitUntil(() => arrived.includes(path), 5000, 'the request to reach the upstream');

        const signalledAt = Date.now();
        proxy.child.kill(signal);

        // Stop accepting at once: while the slow exchange is still in flight (the process is
        // certainly alive then), a new connection is refused.
        let refusedWhileBusy = false;
        while (Date.now() - signalledAt < 3000) {
          if ((await tryConnect(proxy.port)) === 'refused') {
            refusedWhileBusy = !answered && proxy.running;
            break;
          }
          await delay(20);
        }
        openGate();
        assert.ok(refusedWhileBusy, 'a new connection was refused after the signal, before the exchange in flight finished');

        const res = await response;
        assert.equal(res.statusCode, 200);
        assert.equal(res.body.toString(), 'slow answer, complete', 'the client got its whole answer');

        // Signalled once already: a second signal would mean "exit now".
        const status = await proxy.waitForExit(5000);
        assert.deepEqual(status, { code: 0, signal: null }, `exit status; stderr: ${proxy.stderr.slice(-2000)}`);
        const tookMs = proxy.exitedAt! - signalledAt;
        assert.ok(tookMs < 5000, `exited ${tookMs} ms after the signal, within --grace 5`);
        // The exchange was logged before exit (the log is flushed on the way out).
        assert.ok(
          proxy.lines.some((line) => line.msg === 'exchange' && String(line.url).endsWith(path) && line.status === 200),
          `the exchange line was flushed before exit; stderr: ${proxy.stderr.slice(-2000)}`,
        );
      } finally {
        openGate();
        await proxy.kill();
      }
    });
  }

  it('an idle keep-alive connection does not hold up the exit', { timeout: 20_000 }, async () => {
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--grace', '5']);
    const conn = await RawConnection.open(proxy.port);
    try {
      const res = await conn.request(`GET ${upstream.url}/idle HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
      assert.equal(res.statusCode, 200);
      // The connection stays open and idle: nothing is in flight on it.
      const signalledAt = Date.now();
      const status = await proxy.signalAndWait('SIGTERM', 5000);
      assert.deepEqual(status, { code: 0, signal: null });
      const tookMs = proxy.exitedAt! - signalledAt;
      assert.ok(tookMs < 2000, `exited ${tookMs} ms after SIGTERM; an idle connection should not wait for --grace 5`);
      await conn.waitForClose(2000, 'the idle client connection to be closed');
    } finally {
      conn.destroy();
      await proxy.kill();
    }
  });

  it('an exchange longer than --grace 1: exit 0 around the grace time, client connection closed', { timeout: 20_000 }, async () => {
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--grace', '1']);
    const conn = await RawConnection.open(proxy.port);
    try {
      const path = '/hang-grace';
      await conn.write(`GET ${upstream.url}${path} HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
      await waitUntil(() => arrived.includes(path), 5000, 'the request to reach the upstream');

      const signalledAt = Date.now();
      const status = await proxy.signalAndWait('SIGTERM', 6000);
      const tookMs = proxy.exitedAt! - signalledAt;
      assert.deepEqual(status, { code: 0, signal: null }, `exit status; stderr: ${proxy.stderr.slice(-2000)}`);
      // It waits for the exchange in flight up to the grace period, then gives up on it.
      assert.ok(tookMs >= 800, `exited after ${tookMs} ms, before the 1 s grace period`);
      assert.ok(tookMs < 4000, `exited after ${tookMs} ms, long after the 1 s grace period`);

      await conn.waitForClose(2000, "the client's connection to be closed");
      // The upstream never answered, so whatever the client got is not a 200 from it.
      assert.doesNotMatch(conn.bytes().toString('latin1'), /^HTTP\/1\.1 200/);
      // The upstream side was released too, not left hanging until the upstream gives up.
      await waitUntil(() => hanging.size === 0, 2000, 'the upstream request to be closed');
    } finally {
      conn.destroy();
      await proxy.kill();
    }
  });
});
