/**
 * The client connection's own agent (src/proxy/affinity-agent.ts) where affinity.test.ts does not
 * reach: pipelined requests, an upstream that asks not to be reused, an idle connection reset by
 * the upstream, and requests still waiting for a socket when the client connection goes.
 */
import http from 'node:http';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AffinityAgent } from '../src/proxy/affinity-agent.js';
import { delay, RawConnection, withTimeout, waitUntil } from './helpers/client.js';
import { MODES, startProxyFor, type ModeProxy } from './helpers/proxy.js';
import { startRecordingServer } from './helpers/servers.js';

function get(proxy: ModeProxy, path: string): string {
  return `GET ${proxy.target(path)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n\r\n`;
}

for (const mode of MODES) {
  describe(`affinity agent, ${mode} mode`, () => {
    it('pipelined requests go upstream one after another on the one connection, answers in order', async () => {
      // The first request is answered last: an upstream that got them all at once could answer
      // out of order; ours must not have them at once.
      const upstream = await startRecordingServer((seen, res) => {
        const wait = seen.url.endsWith('/1') ? 60 : 0;
        setTimeout(() => {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(seen.url.length) });
          res.end(seen.url);
        }, wait);
      });
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        await client.write(get(proxy, '/1') + get(proxy, '/2') + get(proxy, '/3'));
        const bodies = [];
        for (let i = 0; i < 3; i++) bodies.push((await client.readResponse()).body.toString());
        assert.deepEqual(bodies, ['/1', '/2', '/3'], 'answers in the order asked');
        assert.deepEqual(upstream.requests.map((r) => r.url.replace(/^.*\//, '/')), ['/1', '/2', '/3'], 'the upstream got them in order');
        assert.equal(new Set(upstream.requests.map((r) => r.socket)).size, 1, 'on one upstream connection');
        // Not pipelined upstream: each request left after the previous answer had arrived.
        assert.ok(upstream.requests[1]!.at >= upstream.requests[0]!.at + 50, 'the second request waited for the first answer');
        const records = await proxy.waitForExchanges(3);
        assert.deepEqual(records.map((x) => x.upstream?.reused), [false, true, true]);
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });

    it('does not reuse a connection the upstream keeps for 1 s or less (Keep-Alive: timeout=1)', async () => {
      const upstream = await startRecordingServer((_seen, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2', 'Keep-Alive': 'timeout=1' });
        res.end('ok');
      });
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        assert.equal((await client.request(get(proxy, '/1'))).statusCode, 200);
        await withTimeout(upstream.sockets[0]!.closed, 2000, 'the proxy to close the upstream connection');
        // As with any upstream connection that ends: the client learns it on its own connection.
        await client.waitForClose(2000, "the client's connection to close with the upstream's");
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });

    it('survives an idle upstream connection reset by the upstream, and serves the next client', async () => {
      const upstream = await startRecordingServer();
      const proxy = await startProxyFor(mode, upstream.port);
      const first = await RawConnection.open(proxy.port);
      let second: RawConnection | undefined;
      try {
        assert.equal((await first.request(get(proxy, '/1'))).statusCode, 200);
        await waitUntil(() => upstream.sockets.length === 1, 1000, 'the upstream connection');
        upstream.sockets[0]!.socket.resetAndDestroy();
        await first.waitForClose(2000, "the client's connection to close after the reset");
        second = await RawConnection.open(proxy.port);
        assert.equal((await second.request(get(proxy, '/2'))).statusCode, 200);
        assert.equal(upstream.sockets.length, 2, 'the next client got a connection of its own');
      } finally {
        first.destroy();
        second?.destroy();
        await proxy.close();
        await upstream.close();
      }
    });
  });
}

describe('AffinityAgent', () => {
  it('fails the requests still waiting for its socket when it is destroyed, and the one using it', async () => {
    const upstream = await startRecordingServer(() => undefined); // never answers
    const agent = new AffinityAgent('http:', { closed: () => undefined, timedOut: () => undefined });
    const outcomes: string[] = [];
    const send = (path: string): Promise<void> =>
      new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: upstream.port, path, agent: agent as unknown as http.Agent });
        req.on('error', (err: NodeJS.ErrnoException) => outcomes.push(`${path} ${err.code ?? ''} ${err.message}`));
        req.on('close', () => resolve());
        req.end();
      });
    try {
      const done = Promise.all([send('/using'), send('/waiting')]);
      await waitUntil(() => upstream.requests.length === 1, 2000, 'the first request upstream');
      await delay(20);
      assert.equal(upstream.requests.length, 1, 'the second request waits for the one socket');
      agent.destroy();
      await withTimeout(done, 2000, 'both requests to close');
      assert.deepEqual(outcomes.sort(), ['/using ECONNRESET socket hang up', '/waiting ECONNRESET the client connection is closed']);
      await withTimeout(upstream.sockets[0]!.closed, 2000, 'the upstream connection to close');
    } finally {
      agent.destroy();
      await upstream.close();
    }
  });
});
