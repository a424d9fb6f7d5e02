/**
 * --upstream-timeout is an idle timeout per exchange, on the client connection's own upstream
 * socket (upstream.ts, http-exchange.ts, client-connection.ts): it runs while the exchange waits
 * for the upstream, in the head and in the body, on a fresh and on a reused connection, and never
 * while the kept connection sits idle between exchanges (an NTLM-authenticated connection must
 * survive a client that pauses).
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RawConnection, clock } from './helpers/client.js';
import { startProxyFor, type ModeProxy } from './helpers/proxy.js';
import { startRawServer, type RawTestServer } from './helpers/servers.js';

const TIMEOUT_MS = 800;

/** Upstream behaviour per request path, on raw sockets so that it can stall mid-body. */
function answer(socket: net.Socket, path: string): void {
  if (path.startsWith('/ok')) {
    // Keep-Alive: timeout=5 makes Node's agent give the socket a 4 s timeout while it is pooled;
    // the next exchange on it must still get --upstream-timeout.
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok');
  } else if (path.startsWith('/stall-body')) {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
  }
  // '/silent': nothing at all.
}

describe('--upstream-timeout', () => {
  let upstream: RawTestServer;
  let proxy: ModeProxy;

  before(async () => {
    upstream = await startRawServer((socket) => {
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4);
          answer(socket, head.split(' ')[1] ?? '');
        }
      });
    });
    proxy = await startProxyFor('forward', upstream.port, { upstreamTimeoutMs: TIMEOUT_MS, logLevel: 'silent' });
  });
  after(async () => {
    await proxy?.close(0);
    await upstream?.close();
  });

  const get = (path: string): string => `GET ${proxy.target(path)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n\r\n`;

  it('an upstream that stalls mid-body: the client connection closes after the timeout, recorded in phase response-body', { timeout: 10_000 }, async () => {
    const before = proxy.exchanges.length;
    const client = await RawConnection.open(proxy.port);
    try {
      const started = clock();
      await client.write(get('/stall-body'));
      await client.waitForClose(5000, 'the proxy to close the connection of the stalled body');
      const elapsed = clock() - started;
      assert.ok(elapsed >= TIMEOUT_MS - 100 && elapsed < TIMEOUT_MS + 3000, `closed after ${elapsed.toFixed(0)} ms`);
      assert.match(client.bytes().toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*0123456789$/, 'the head and the first bytes were relayed, nothing more');
      const [x] = (await proxy.waitForExchanges(before + 1)).slice(before);
      assert.equal(x!.error?.code, 'UPSTREAM_TIMEOUT');
      assert.equal(x!.error?.phase, 'response-body');
      assert.equal(x!.bytes.response, 10);
    } finally {
      client.destroy();
    }
  });

  it('a reused upstream connection gets the timeout too, not the pooled socket\'s Keep-Alive hint', { timeout: 10_000 }, async () => {
    const before = proxy.exchanges.length;
    const client = await RawConnection.open(proxy.port);
    try {
      const first = await client.request(get('/ok-1'));
      assert.equal(first.statusCode, 200);
      const started = clock();
      const second = await client.request(get('/silent'), 5000);
      const elapsed = clock() - started;
      assert.equal(second.statusCode, 504);
      // Node's agent pools the socket with a 4 s timeout (Keep-Alive: timeout=5, less 1 s).
      assert.ok(elapsed >= TIMEOUT_MS - 100 && elapsed < 3000, `504 after ${elapsed.toFixed(0)} ms`);
      const [, x] = (await proxy.waitForExchanges(before + 2)).slice(before);
      assert.equal(x!.upstream?.reused, true, 'the second exchange rode the kept upstream connection');
      assert.equal(x!.error?.code, 'UPSTREAM_TIMEOUT');
      assert.equal(x!.error?.phase, 'response-head');
    } finally {
      client.destroy();
    }
  });

  it('a kept connection idle for longer than the timeout is not cut: the next exchange reuses it', { timeout: 10_000 }, async () => {
    const before = proxy.exchanges.length;
    const client = await RawConnection.open(proxy.port);
    try {
      assert.equal((await client.request(get('/ok-a'))).statusCode, 200);
      await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS * 2));
      assert.equal(client.closedAt, undefined, 'the client connection is still open');
      assert.equal((await client.request(get('/ok-b'))).statusCode, 200);
      const [a, b] = (await proxy.waitForExchanges(before + 2)).slice(before);
      assert.equal(b!.upstream?.reused, true, 'same upstream connection after the pause');
      assert.equal(b!.upstream?.localPort, a!.upstream?.localPort);
      assert.equal(b!.error, undefined);
    } finally {
      client.destroy();
    }
  });
});
