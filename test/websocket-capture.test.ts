/**
 * WebSocket messages on the record (issue 6): with capture on, the proxy reads the frames of both
 * directions beside the pipe (RFC 6455 §5) and puts the messages on `exchange.websocket`; with
 * capture off it reads nothing. Three views each time: what the upstream received, what the
 * client received, and what the record says. Reverse mode: the mode changes the upgrade's
 * request-target only, never the frames (both modes are covered by websocket.test.ts).
 */
import net from 'node:net';
import { constants as zlib, inflateRawSync } from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer, type RawData, type ServerOptions, type ClientOptions } from 'ws';
import { parseTarget } from '../src/config.js';
import type { Exchange, WebSocketMessage } from '../src/core/exchange.js';
import { createLogger } from '../src/log.js';
import { createProxyServer } from '../src/proxy/server.js';
import { header, RawConnection, waitUntil, withTimeout } from './helpers/client.js';
import { hasHead, readUntil, startRawServer } from './helpers/servers.js';

interface Received {
  data: Buffer;
  isBinary: boolean;
}

/** A socket's messages and pongs as they arrive, each taken with a bounded wait. */
class Inbox {
  readonly messages: Received[] = [];
  readonly pongs: Buffer[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: RawData, isBinary: boolean) => this.messages.push({ data: toBuffer(data), isBinary }));
    ws.on('pong', (data: Buffer) => this.pongs.push(data));
    ws.on('error', () => undefined); // an abrupt end shows as close 1006
    this.closed = new Promise((resolve) => ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  }

  async next(what: string): Promise<Received> {
    await waitUntil(() => this.messages.length > 0, 3000, what);
    return this.messages.shift()!;
  }

  async pong(what: string): Promise<Buffer> {
    await waitUntil(() => this.pongs.length > 0, 3000, what);
    return this.pongs.shift()!;
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A ws upstream on 127.0.0.1:0; the test drives what it sends. */
async function startWsUpstream(t: TestContext, options: ServerOptions = {}): Promise<{ port: number; connection(): Promise<Inbox> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  const connections: Inbox[] = [];
  wss.on('connection', (ws) => connections.push(new Inbox(ws)));
  await withTimeout(new Promise((resolve) => wss.once('listening', resolve)), 3000, 'the ws upstream to listen');
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  const { port } = wss.address() as net.AddressInfo;
  return {
    port,
    connection: async () => {
      await waitUntil(() => connections.length > 0, 3000, 'the upstream WebSocket connection');
      return connections[0]!;
    },
  };
}

/** A reverse proxy for `upstreamPort` that keeps `captureBytes` of messages per direction; its finished records. */
async function startCapturingProxy(t: TestContext, upstreamPort: number, captureBytes: number): Promise<{ port: number; finished(): Promise<Exchange> }> {
  const proxy = createProxyServer({
    target: parseTarget(`http://127.0.0.1:${upstreamPort}`),
    keepHost: false,
    forwarded: false,
    upstreamTimeoutMs: 30_000,
    logger: createLogger({ level: 'silent' }),
    captureBytes,
  });
  const finished: Exchange[] = [];
  proxy.events.on('finished', (x) => finished.push(x));
  const address = await proxy.listen('127.0.0.1', 0);
  t.after(() => proxy.close(0));
  return {
    port: address.port,
    finished: async () => {
      await waitUntil(() => finished.length > 0, 3000, 'the upgrade exchange to finish');
      return finished[0]!;
    },
  };
}

async function connect(t: TestContext, proxyPort: number, options: ClientOptions = {}): Promise<Inbox> {
  const ws = new WebSocket(`ws://127.0.0.1:${proxyPort}/chat`, { perMessageDeflate: false, ...options });
  const inbox = new Inbox(ws);
  t.after(() => ws.terminate());
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode} ${res.statusMessage}`)));
    }),
    3000,
    'the WebSocket to open through the proxy',
  );
  return inbox;
}

/** A side's messages, in the shape that reads well in a failed assertion. */
function side(x: Exchange, from: WebSocketMessage['from']): Array<{ opcode: number; data: string; size: number; truncated?: true; compressed?: true }> {
  return (x.websocket?.messages ?? [])
    .filter((m) => m.from === from)
    .map((m) => ({ opcode: m.opcode, data: m.opcode === 2 ? m.data.toString('hex') : m.data.toString('latin1'), size: m.size, ...(m.truncated && { truncated: true as const }), ...(m.compressed && { compressed: true as const }) }));
}

const closeData = (code: number, reason: string): string => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]).toString('latin1');

describe('websocket capture', () => {
  it('records text and binary messages both ways, a fragmented message, ping and pong, and the close codes', async (t) => {
    const upstream = await startWsUpstream(t);
    const proxy = await startCapturingProxy(t, upstream.port, 1 << 20);
    const client = await connect(t, proxy.port);
    const server = await upstream.connection();
    const up = Buffer.from([0, 1, 2, 0x80, 0xfe, 0xff]);
    const down = Buffer.from(Array.from({ length: 300 }, (_v, i) => i & 0xff));

    client.ws.send('hello');
    client.ws.send(up);
    assert.deepEqual(await server.next('hello at the upstream'), { data: Buffer.from('hello'), isBinary: false });
    assert.deepEqual(await server.next('the binary message at the upstream'), { data: up, isBinary: true });
    server.ws.send('hi');
    server.ws.send(down);
    assert.deepEqual(await client.next('hi at the client'), { data: Buffer.from('hi'), isBinary: false });
    assert.deepEqual(await client.next('the binary message at the client'), { data: down, isBinary: true });

    // A message in two fragments with a ping between them (RFC 6455 §5.4, §5.5.2).
    client.ws.send('frag-', { fin: false });
    client.ws.ping('between');
    client.ws.send('ment', { fin: true });
    assert.deepEqual(await server.next('the fragmented message at the upstream'), { data: Buffer.from('frag-ment'), isBinary: false });
    assert.equal((await client.pong('the pong to the ping between fragments')).toString(), 'between');
    client.ws.ping('are you there');
    assert.equal((await client.pong('the pong')).toString(), 'are you there');

    client.ws.close(4000, 'done');
    assert.deepEqual(await withTimeout(server.closed, 3000, 'the upstream to see the close'), { code: 4000, reason: 'done' });
    assert.equal((await withTimeout(client.closed, 3000, 'the close handshake')).code, 4000);

    const x = await proxy.finished();
    assert.equal(x.kind, 'upgrade');
    assert.equal(x.response?.statusCode, 101);
    assert.deepEqual(side(x, 'client'), [
      { opcode: 1, data: 'hello', size: 5 },
      { opcode: 2, data: up.toString('hex'), size: up.length },
      { opcode: 9, data: 'between', size: 7 },
      { opcode: 1, data: 'frag-ment', size: 9 },
      { opcode: 9, data: 'are you there', size: 13 },
      { opcode: 8, data: closeData(4000, 'done'), size: 6 },
    ]);
    assert.deepEqual(side(x, 'server'), [
      { opcode: 1, data: 'hi', size: 2 },
      { opcode: 2, data: down.toString('hex'), size: down.length },
      { opcode: 10, data: 'between', size: 7 },
      { opcode: 10, data: 'are you there', size: 13 },
      { opcode: 8, data: closeData(4000, 'done'), size: 6 },
    ]);
    assert.deepEqual(x.websocket?.counts, { client: 6, server: 5 });
    assert.equal(x.websocket?.dropped, 0);
    assert.deepEqual(x.websocket?.problems, []);
    const times = x.websocket.messages.map((m) => m.time);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'messages in the order they completed');
    assert.ok(times[0]! >= x.timings.start && times.at(-1)! <= x.timings.end!, 'message times within the exchange');
  });

  it('keeps the first bytes of a message over the budget with its real size, then counts later messages as dropped', async (t) => {
    const upstream = await startWsUpstream(t);
    const proxy = await startCapturingProxy(t, upstream.port, 1024);
    const client = await connect(t, proxy.port);
    const server = await upstream.connection();
    const big = Buffer.alloc(2000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;

    client.ws.send('small');
    client.ws.send(big);
    client.ws.send('after the budget');
    await server.next('small');
    assert.deepEqual((await server.next('the big message at the upstream')).data, big, 'the upstream got all of it');
    await server.next('the message after the budget');
    server.ws.send('server budget is its own');
    await client.next('the server message');
    client.ws.close(1000);
    await withTimeout(client.closed, 3000, 'the close handshake');

    const x = await proxy.finished();
    assert.deepEqual(side(x, 'client'), [
      { opcode: 1, data: 'small', size: 5 },
      { opcode: 2, data: big.subarray(0, 1024 - 5).toString('hex'), size: 2000, truncated: true },
    ]);
    assert.deepEqual(side(x, 'server'), [
      { opcode: 1, data: 'server budget is its own', size: 24 },
      { opcode: 8, data: closeData(1000, ''), size: 2 },
    ]);
    // Client: small, big, the one after the budget and its close; the last two are not kept.
    assert.deepEqual(x.websocket?.counts, { client: 4, server: 2 });
    assert.equal(x.websocket?.dropped, 2);
  });

  it('marks permessage-deflate messages as compressed and keeps their data as it came (RFC 7692)', async (t) => {
    const upstream = await startWsUpstream(t, { perMessageDeflate: { threshold: 0 } });
    const proxy = await startCapturingProxy(t, upstream.port, 1 << 20);
    const client = await connect(t, proxy.port, { perMessageDeflate: { threshold: 0 } });
    const server = await upstream.connection();
    const text = 'compress me, '.repeat(40);

    client.ws.send(text);
    assert.equal((await server.next('the compressed message at the upstream')).data.toString(), text);
    server.ws.send(text);
    assert.equal((await client.next('the compressed message at the client')).data.toString(), text);
    client.ws.close(1000);
    await withTimeout(client.closed, 3000, 'the close handshake');

    const x = await proxy.finished();
    assert.match(header(x.response?.rawHeaders ?? [], 'sec-websocket-extensions') ?? '', /permessage-deflate/);
    const data = x.websocket!.messages.filter((m) => m.opcode === 1);
    assert.deepEqual(data.map((m) => [m.from, m.compressed]), [
      ['client', true],
      ['server', true],
    ]);
    for (const m of data) {
      assert.ok(m.size < text.length && m.size === m.data.length, `${m.from}: the compressed size ${m.size}`);
      // RFC 7692 §7.2.2: append 00 00 ff ff and inflate; the first message of each way needs no earlier window.
      assert.equal(inflateRawSync(Buffer.concat([m.data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.Z_SYNC_FLUSH }).toString(), text);
    }
    assert.deepEqual(x.websocket!.messages.filter((m) => m.opcode === 8).map((m) => m.compressed), [undefined, undefined], 'control frames are never compressed');
  });

  it('delivers every message before the next is sent while capture is on', async (t) => {
    const upstream = await startWsUpstream(t);
    const proxy = await startCapturingProxy(t, upstream.port, 1024);
    const client = await connect(t, proxy.port);
    const server = await upstream.connection();
    for (let i = 0; i < 20; i++) {
      // Short ones, and ones over the whole budget that cross several socket chunks.
      const message = i % 2 === 0 ? `message ${i}` : Buffer.alloc(100_000 + i, i);
      client.ws.send(message);
      assert.deepEqual((await server.next(`message ${i} at the upstream`)).data, Buffer.from(message));
      server.ws.send(message);
      assert.deepEqual((await client.next(`message ${i} at the client`)).data, Buffer.from(message));
    }
    client.ws.close(1000);
    await withTimeout(client.closed, 3000, 'the close handshake');
    const x = await proxy.finished();
    assert.deepEqual(x.websocket?.counts, { client: 21, server: 21 });
  });

  it('passes the bytes of a frame before the frame is complete, and malformed frames untouched', async (t) => {
    const got: Buffer[] = [];
    const upstream = await startRawServer((socket) => {
      void readUntil(socket, hasHead).then(
        () => {
          socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
          socket.on('data', (chunk: Buffer) => got.push(chunk));
        },
        () => undefined,
      );
    });
    t.after(() => upstream.close());
    const proxy = await startCapturingProxy(t, upstream.port, 1024);
    const client = await RawConnection.open(proxy.port);
    t.after(() => client.destroy());
    await client.write('GET /raw HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    assert.equal((await client.readResponse(3000)).statusCode, 101);
    const upstreamSocket = upstream.sockets[0]!.socket;
    const received = (): Buffer => Buffer.concat(got);

    // RFC 6455 §5.7: a masked "Hello", sent as its head and 2 payload bytes, then the rest.
    const hello = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    await client.write(hello.subarray(0, 8));
    await waitUntil(() => received().length === 8, 3000, 'the first 8 bytes of the frame at the upstream');
    await client.write(hello.subarray(8));
    await waitUntil(() => received().length === hello.length, 3000, 'the rest of the frame at the upstream');

    // The other way: an unmasked binary frame with a 16-bit length, cut inside that length.
    const payload = Buffer.alloc(200, 0x42);
    const down = Buffer.concat([Buffer.from([0x82, 126, 0, 200]), payload]);
    upstreamSocket.write(down.subarray(0, 3));
    await client.waitFor((b) => b.length === 3, 3000, 'the first 3 bytes of the frame at the client');
    upstreamSocket.write(down.subarray(3));
    await client.waitFor((b) => b.length === down.length, 3000, 'the rest of the frame at the client');

    // A reserved opcode (§5.2): on the record as a problem, on the wire as it was.
    const bad = Buffer.from([0x83, 0x81, 1, 2, 3, 4, 0x99]);
    await client.write(bad);
    await waitUntil(() => received().length === hello.length + bad.length, 3000, 'the malformed frame at the upstream');
    assert.deepEqual(received(), Buffer.concat([hello, bad]));

    client.end();
    const x = await proxy.finished();
    assert.deepEqual(side(x, 'client'), [{ opcode: 1, data: 'Hello', size: 5 }]);
    assert.deepEqual(side(x, 'server'), [{ opcode: 2, data: payload.toString('hex'), size: 200 }]);
    assert.deepEqual(x.websocket?.problems, [`client: reserved opcode 3, in the frame at byte ${hello.length}; the rest of this direction was not read`]);
  });

  it('reads nothing with capture off, nor an upgrade to another protocol', async (t) => {
    const upstream = await startWsUpstream(t);
    const off = await startCapturingProxy(t, upstream.port, 0);
    const client = await connect(t, off.port);
    const server = await upstream.connection();
    client.ws.send('not recorded');
    await server.next('the message at the upstream');
    client.ws.close(1000);
    await withTimeout(client.closed, 3000, 'the close handshake');
    const x = await off.finished();
    assert.equal(x.kind, 'upgrade');
    assert.equal(x.response?.statusCode, 101);
    assert.equal(x.websocket, undefined);

    const echo = await startRawServer((socket) => {
      void readUntil(socket, hasHead).then(
        () => {
          socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo\r\nConnection: Upgrade\r\n\r\n');
          socket.on('data', (chunk: Buffer) => socket.write(chunk));
        },
        () => undefined,
      );
    });
    t.after(() => echo.close());
    const on = await startCapturingProxy(t, echo.port, 1024);
    const raw = await RawConnection.open(on.port);
    t.after(() => raw.destroy());
    await raw.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: x-echo\r\n\r\n');
    assert.equal((await raw.readResponse(3000)).statusCode, 101);
    // Bytes that would be a malformed frame, were this WebSocket.
    await raw.write(Buffer.from([0x83, 0x00]));
    await raw.waitFor((b) => b.length === 2, 3000, 'the echo');
    raw.end();
    const other = await on.finished();
    assert.equal(other.websocket, undefined);
  });
});
