/**
 * Hostile addresses through the real proxy (issue 21, finding 6; part of the hostile-input
 * suite, test/hostile-*.test.ts):
 *   loops     --target naming the proxy itself is refused at start (ERR_BAD_TARGET), and a
 *             request, upgrade or CONNECT to any of its own listening addresses is answered 508
 *             at run time, with one record and no nested exchange;
 *   names     CONNECT to a name no resolver knows (`%%%`) is refused with 400 before the CA is
 *             even opened;
 *   clients   a client outside --allow gets 403 at accept, logged once per burst, and the
 *             upstream sees nothing; listening beyond loopback says what that exposes.
 * Each case also checks that a well-behaved request on the same proxy is still served.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startApp } from '../src/app.js';
import { parseAllow, parseTarget } from '../src/config.js';
import { ProgramError } from '../src/errors.js';
import { header, RawConnection } from './helpers/client.js';
import { createLogSink } from './helpers/log-sink.js';
import { closedPort } from './helpers/process.js';
import { closeLater } from './helpers/protocol.js';
import { DEFAULT_CONFIG, startProxy, type TestProxy } from './helpers/proxy.js';
import { startRecordingServer, type RecordingServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

async function upstreamAndProxy(t: TestContext, overrides: Parameters<typeof startProxy>[0] = {}): Promise<{ upstream: RecordingServer; proxy: TestProxy }> {
  const upstream = closeLater(t, await startRecordingServer());
  const proxy = closeLater(t, await startProxy(overrides));
  return { upstream, proxy };
}

/** Sends `bytes` on a fresh connection and reads one response. */
async function ask(port: number, bytes: string): Promise<{ status: number; error: string | undefined; conn: RawConnection }> {
  const conn = await RawConnection.open(port);
  try {
    const res = await conn.request(bytes, 5000);
    return { status: res.statusCode, error: header(res.rawHeaders, 'x-proxy-error'), conn };
  } finally {
    conn.destroy();
  }
}

async function wellBehaved(proxy: TestProxy, upstream: RecordingServer): Promise<void> {
  const { status } = await ask(proxy.port, `GET ${upstream.url}/fine HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
  assert.equal(status, 200, 'a well-behaved request is still served');
}

describe('forwarding loops: the proxy never forwards to itself', () => {
  it('refuses --target naming its own listening address at start, with ERR_BAD_TARGET and the port freed', async () => {
    const port = await closedPort();
    const logs = createLogSink('info');
    await assert.rejects(
      startApp({ ...DEFAULT_CONFIG, listen: { host: '127.0.0.1', port }, target: parseTarget(`http://localhost:${port}`) }, logs.logger),
      (err: unknown) => err instanceof ProgramError && err.code === 'ERR_BAD_TARGET' && /own listening address/.test(err.message) && err.hint !== undefined,
    );
    // Closed again: the same port can be listened on at once.
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });

  const loops: Array<[string, (port: number) => string]> = [
    ['its own address', (port) => `GET http://127.0.0.1:${port}/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`],
    ['localhost', (port) => `GET http://localhost:${port}/x HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`],
    ['an IPv4-mapped IPv6 literal', (port) => `GET http://[::ffff:127.0.0.1]:${port}/x HTTP/1.1\r\nHost: [::ffff:127.0.0.1]:${port}\r\n\r\n`],
    ['0.0.0.0 (routed to loopback)', (port) => `GET http://0.0.0.0:${port}/x HTTP/1.1\r\nHost: 0.0.0.0:${port}\r\n\r\n`],
    ['an upgrade', (port) => `GET http://127.0.0.1:${port}/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`],
    ['a CONNECT tunnel', (port) => `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`],
  ];
  for (const [what, request] of loops) {
    it(`answers 508 to a request for ${what} on the proxy's port, with one record and no nested exchange`, async (t) => {
      const { upstream, proxy } = await upstreamAndProxy(t);
      const { status, error } = await ask(proxy.port, request(proxy.port));
      assert.equal(status, 508);
      assert.equal(error, 'FORWARDING_LOOP');
      await wellBehaved(proxy, upstream);
      // A loop would have started nested exchanges by now (each within a millisecond).
      const records = await proxy.waitForExchanges(2);
      assert.equal(proxy.started.length, 2, `started: ${proxy.started.map((x) => x.request.url).join(', ')}`);
      const loop = records.find((x) => x.error?.code === 'FORWARDING_LOOP');
      assert.ok(loop, 'the refusal is on the record');
      assert.equal(loop.response?.statusCode, 508);
      assert.equal(upstream.requests.length, 1, 'only the well-behaved request reached an upstream');
    });
  }

  it('counts every address of this machine as its own when listening on 0.0.0.0', async (t) => {
    const { upstream, proxy } = await upstreamAndProxy(t, { listen: { host: '0.0.0.0', port: 0 } });
    const external = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
    for (const host of ['127.0.0.2', ...(external === undefined ? [] : [external])]) {
      const { status, error } = await ask(proxy.port, `GET http://${host}:${proxy.port}/x HTTP/1.1\r\nHost: ${host}:${proxy.port}\r\n\r\n`);
      assert.deepEqual([status, error], [508, 'FORWARDING_LOOP'], host);
    }
    await wellBehaved(proxy, upstream);
  });
});

describe('CONNECT host names', () => {
  for (const authority of ['%%%:443', 'bad%2ehost.example:443', '-lead.example:443', 'a..b.example:443']) {
    it(`refuses CONNECT ${authority} with 400 before any certificate is made`, async (t) => {
      const caDir = join(tempDir(t), 'ca');
      const { upstream, proxy } = await upstreamAndProxy(t, { interception: { caDir, intercept: ['*'], noIntercept: [] } });
      const { status, error } = await ask(proxy.port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
      assert.equal(status, 400);
      assert.equal(error, 'BAD_CONNECT_TARGET');
      const [x] = await proxy.waitForExchanges(1);
      assert.equal(x!.kind, 'tunnel');
      assert.equal(x!.error?.code, 'BAD_CONNECT_TARGET');
      assert.equal(x!.ended, 'refused');
      assert.equal(existsSync(join(caDir, 'ca.pem')), false, 'the CA was not even opened');
      await wellBehaved(proxy, upstream);
    });
  }
});

describe('--allow: which clients may connect', () => {
  it('answers 403 at accept to clients outside --allow, logs one line per burst, forwards nothing', async (t) => {
    const { upstream, proxy } = await upstreamAndProxy(t, { allow: parseAllow(['10.0.0.0/8', '192.0.2.7']) });
    for (let i = 0; i < 5; i++) {
      const { status, error } = await ask(proxy.port, `GET ${upstream.url}/x HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\n\r\n`);
      assert.deepEqual([status, error], [403, 'CLIENT_NOT_ALLOWED']);
    }
    assert.equal(upstream.requests.length, 0);
    assert.equal(proxy.exchanges.length, 0, 'nothing of a refused client was read');
    const refusals = proxy.logs.lines.filter((l) => /client refused/.test(String(l.msg)));
    assert.equal(refusals.length, 1, 'one line for the burst');
    assert.equal(refusals[0]!.address, '127.0.0.1');
  });

  it('admits loopback and private networks by default when listening on 0.0.0.0, and says what that exposes', async (t) => {
    const { upstream, proxy } = await upstreamAndProxy(t, { listen: { host: '0.0.0.0', port: 0 } });
    await wellBehaved(proxy, upstream);
    const warning = proxy.logs.lines.find((l) => /listening beyond loopback/.test(String(l.msg)));
    assert.ok(warning, 'a warning');
    assert.match(String(warning.msg), /loopback-only services/);
    assert.match(String(warning.msg), /--allow/);
    assert.match(String(warning.allow), /127\.0\.0\.0\/8 10\.0\.0\.0\/8/);
  });

  it('admits exactly the listed networks', async (t) => {
    const { upstream, proxy } = await upstreamAndProxy(t, { allow: parseAllow(['127.0.0.1/32']) });
    await wellBehaved(proxy, upstream);
  });

  it('refuses a value that is no address or network with ERR_BAD_OPTION', () => {
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', 'fd00::/129', '10.0.0.0/x']) {
      assert.throws(() => parseAllow([bad]), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_BAD_OPTION', bad);
    }
    assert.deepEqual(parseAllow(['10.0.0.0/8,fd00::/8', '192.0.2.7']).map((c) => `${c.address}/${c.prefix}`), ['10.0.0.0/8', 'fd00::/8', '192.0.2.7/32']);
  });
});
