/**
 * Protocol upgrades through the proxy (RFC 9110 §7.8, RFC 6455 §4): the upgrade request goes
 * upstream with `Connection: Upgrade` and `Upgrade` kept, the 101 comes back, and from then on
 * the two connections are one pipe: messages both ways, a close on either side reaches the
 * other, and an abrupt end on either side closes the other within a bounded time.
 * Forward mode uses ws with its connection made to the proxy and an absolute-form
 * request-target (what a proxy-aware client sends); reverse mode is plain ws to the proxy.
 */
import net from 'node:net';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { header, RawConnection, withTimeout } from './helpers/client.js';
import { MODES, startProxyFor, type Mode, type ModeProxy } from './helpers/proxy.js';
import { hasHead, readUntil, socketId, startRawServer, startServer, type TestServer } from './helpers/servers.js';

const ALLOWED_ENDS = ['client-closed', 'upstream-closed', 'closed', 'error'];

interface Received {
  data: Buffer;
  isBinary: boolean;
}

/** Collects a socket's messages and its close, with bounded waits for each. */
class Inbox {
  readonly messages: Received[] = [];
  closeEvent?: { code: number; reason: string };
  readonly closed: Promise<{ code: number; reason: string }>;
  private wake: (() => void) | undefined;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.messages.push({ data: toBuffer(data), isBinary });
      this.wake?.();
    });
    ws.on('error', () => undefined); // an abrupt end shows as close 1006
    this.closed = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeEvent = { code, reason: reason.toString() };
        resolve(this.closeEvent);
      }),
    );
  }

  async next(timeoutMs = 3000): Promise<Received> {
    await withTimeout(
      new Promise<void>((resolve) => {
        if (this.messages.length > 0) return resolve();
        this.wake = resolve;
      }),
      timeoutMs,
      'a WebSocket message',
    );
    this.wake = undefined;
    return this.messages.shift()!;
  }

  waitForClose(timeoutMs: number, what: string): Promise<{ code: number; reason: string }> {
    return withTimeout(this.closed, timeoutMs, what);
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

interface UpstreamConnection {
  inbox: Inbox;
  url: string;
  rawHeaders: string[];
  socket: number;
}

/** A ws echo server: greets each connection with `welcome`, then echoes every message. */
async function startWsUpstream(): Promise<TestServer & { connections: UpstreamConnection[]; next(): Promise<UpstreamConnection> }> {
  const server = await startServer((_req, res) => {
    res.writeHead(426, { 'Content-Length': '0' });
    res.end();
  });
  const wss = new WebSocketServer({ server: server.server });
  const connections: UpstreamConnection[] = [];
  let wake: (() => void) | undefined;
  wss.on('connection', (ws, req) => {
    const inbox = new Inbox(ws);
    connections.push({ inbox, url: req.url ?? '', rawHeaders: req.rawHeaders, socket: socketId(req.socket) });
    ws.on('message', (data: RawData, isBinary: boolean) => ws.send(toBuffer(data), { binary: isBinary }));
    ws.send('welcome');
    wake?.();
  });
  return {
    ...server,
    connections,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await server.close();
    },
    next: async () => {
      await withTimeout(
        new Promise<void>((resolve) => {
          if (connections.length > 0) return resolve();
          wake = resolve;
        }),
        3000,
        'the upstream WebSocket connection',
      );
      return connections[0]!;
    },
  };
}

/** Opens a ws client through the proxy in the given mode. */
async function connect(mode: Mode, proxy: ModeProxy, path: string): Promise<Inbox> {
  const url = `ws://${proxy.upstreamAuthority}${path}`;
  const ws =
    mode === 'reverse'
      ? new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`)
      : new WebSocket(url, {
          // A client configured with an HTTP proxy connects to the proxy and names the origin in
          // an absolute-form request-target (RFC 9112 §3.2.2).
          createConnection: () => net.connect(proxy.port, '127.0.0.1'),
          finishRequest: (req) => {
            req.path = proxy.target(path);
            req.end();
          },
        });
  const inbox = new Inbox(ws);
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

for (const mode of MODES) {
  describe(`websocket, ${mode} mode`, () => {
    it('upgrades, relays messages both ways, passes a client close on, and records a 101 upgrade', async () => {
      const upstream = await startWsUpstream();
      const proxy = await startProxyFor(mode, upstream.port);
      let client: Inbox | undefined;
      try {
        client = await connect(mode, proxy, '/chat?room=1');
        const server = await upstream.next();

        // Upstream view: an upgrade request with its hop fields kept (RFC 9110 §7.8).
        assert.equal(server.url, '/chat?room=1');
        assert.equal(header(server.rawHeaders, 'host'), proxy.upstreamAuthority);
        assert.match(header(server.rawHeaders, 'connection') ?? '', /upgrade/i);
        assert.equal(header(server.rawHeaders, 'upgrade'), 'websocket');
        assert.equal(header(server.rawHeaders, 'sec-websocket-version'), '13');
        assert.ok(header(server.rawHeaders, 'sec-websocket-key'));

        // Messages both ways, text and binary, byte-exact.
        const welcome = await client.next();
        assert.equal(welcome.data.toString(), 'welcome');
        assert.equal(welcome.isBinary, false);
        client.ws.send('hello through the proxy');
        const binary = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));
        client.ws.send(binary);
        const echoText = await client.next();
        assert.equal(echoText.data.toString(), 'hello through the proxy');
        assert.equal(echoText.isBinary, false);
        const echoBinary = await client.next();
        assert.deepEqual(echoBinary.data, binary);
        assert.equal(echoBinary.isBinary, true);
        assert.deepEqual(server.inbox.messages, [
          { data: Buffer.from('hello through the proxy'), isBinary: false },
          { data: binary, isBinary: true },
        ], 'the upstream received both messages as sent');

        // A close from the client reaches the upstream with its code and reason.
        client.ws.close(1000, 'bye');
        const upstreamSaw = await server.inbox.waitForClose(3000, 'the upstream to see the close');
        assert.deepEqual(upstreamSaw, { code: 1000, reason: 'bye' });
        const clientSaw = await client.waitForClose(3000, 'the close handshake to complete');
        assert.equal(clientSaw.code, 1000);

        // Record view.
        const [x] = await proxy.waitForExchanges(1, 3000);
        assert.ok(x);
        assert.equal(x.kind, 'upgrade');
        assert.equal(x.request.method, 'GET');
        assert.equal(x.request.url, proxy.target('/chat?room=1'));
        assert.equal(x.response?.statusCode, 101);
        assert.equal(x.response?.source, 'upstream');
        assert.equal(header(x.response?.rawHeaders ?? [], 'upgrade'), 'websocket');
        // Frames carry the payloads plus framing: at least the payload bytes each way.
        assert.ok(x.bytes.request >= 'hello through the proxy'.length + binary.length, `bytes up: ${x.bytes.request}`);
        assert.ok(x.bytes.response >= 'welcome'.length + 'hello through the proxy'.length + binary.length, `bytes down: ${x.bytes.response}`);
        assert.ok(x.ended !== undefined && ALLOWED_ENDS.includes(x.ended), `ended: ${String(x.ended)}`);
        assert.ok(x.timings.end !== undefined);
      } finally {
        client?.ws.terminate();
        await proxy.close();
        await upstream.close();
      }
    });

    it('passes a close from the upstream on to the client', async () => {
      const upstream = await startWsUpstream();
      const proxy = await startProxyFor(mode, upstream.port);
      let client: Inbox | undefined;
      try {
        client = await connect(mode, proxy, '/chat');
        const server = await upstream.next();
        assert.equal((await client.next()).data.toString(), 'welcome');
        server.inbox.ws.close(4001, 'server done');
        const clientSaw = await client.waitForClose(3000, 'the client to see the upstream close');
        assert.deepEqual(clientSaw, { code: 4001, reason: 'server done' });
        const [x] = await proxy.waitForExchanges(1, 3000);
        assert.equal(x?.kind, 'upgrade');
      } finally {
        client?.ws.terminate();
        await proxy.close();
        await upstream.close();
      }
    });

    it('closes the upstream connection within 2 s when the client connection dies', async () => {
      const upstream = await startWsUpstream();
      const proxy = await startProxyFor(mode, upstream.port);
      let client: Inbox | undefined;
      try {
        client = await connect(mode, proxy, '/chat');
        const server = await upstream.next();
        assert.equal((await client.next()).data.toString(), 'welcome');
        // terminate() destroys the socket: no close frame, no FIN handshake of its own.
        client.ws.terminate();
        const upstreamSaw = await server.inbox.waitForClose(2000, 'the upstream to see the connection end');
        assert.equal(upstreamSaw.code, 1006, 'an abnormal closure, as a direct connection would show');
        const upstreamSocket = upstream.sockets.find((s) => s.id === server.socket);
        await withTimeout(upstreamSocket!.closed, 2000, 'the upstream TCP connection to close');
        const [x] = await proxy.waitForExchanges(1, 3000);
        assert.equal(x?.kind, 'upgrade');
        assert.ok(x?.ended !== undefined && ALLOWED_ENDS.includes(x.ended), `ended: ${String(x?.ended)}`);
      } finally {
        client?.ws.terminate();
        await proxy.close();
        await upstream.close();
      }
    });

    it('closes the client connection within 2 s when the upstream connection dies', async () => {
      const upstream = await startWsUpstream();
      const proxy = await startProxyFor(mode, upstream.port);
      let client: Inbox | undefined;
      try {
        client = await connect(mode, proxy, '/chat');
        const server = await upstream.next();
        assert.equal((await client.next()).data.toString(), 'welcome');
        server.inbox.ws.terminate();
        const clientSaw = await client.waitForClose(2000, 'the client to see the connection end');
        assert.equal(clientSaw.code, 1006);
        const [x] = await proxy.waitForExchanges(1, 3000);
        assert.equal(x?.kind, 'upgrade');
      } finally {
        client?.ws.terminate();
        await proxy.close();
        await upstream.close();
      }
    });

    it('relays the 101 head as sent and the bytes that travel with the heads, both ways', async () => {
      // A raw upstream: answers 101 with odd-case fields and sends its first bytes in the same
      // write; then echoes. The client puts bytes right after its request head, before any 101.
      const upstreamHeads: string[] = [];
      const upstream = await startRawServer((socket) => {
        void readUntil(socket, hasHead).then(
          (bytes) => {
            const end = bytes.indexOf('\r\n\r\n') + 4;
            upstreamHeads.push(bytes.subarray(0, end).toString('latin1'));
            socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo\r\nConnection: Upgrade\r\nx-OdD: 1\r\n\r\nserver-first|');
            const early = bytes.subarray(end);
            if (early.length > 0) socket.write(early);
            socket.on('data', (data: Buffer) => socket.write(data));
          },
          () => undefined,
        );
      });
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        await client.write(
          `GET ${proxy.target('/echo')} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\nConnection: Upgrade\r\nUpgrade: x-echo\r\n\r\nclient-early|`,
        );
        const switching = await client.readResponse(3000);
        assert.equal(switching.headLines[0], 'HTTP/1.1 101 Switching Protocols');
        assert.deepEqual(switching.rawHeaders, ['Upgrade', 'x-echo', 'Connection', 'Upgrade', 'x-OdD', '1']);
        await client.waitFor((b) => b.toString('latin1') === 'server-first|client-early|', 3000, 'the bytes sent with the heads');
        await client.write(Buffer.from([0, 1, 2, 255, 13, 10]));
        await client.waitFor((b) => b.subarray(-6).equals(Buffer.from([0, 1, 2, 255, 13, 10])), 3000, 'the echo of binary bytes');

        assert.equal(upstreamHeads.length, 1);
        assert.match(upstreamHeads[0]!, /^GET \/echo HTTP\/1\.1\r\n/);
        assert.match(upstreamHeads[0]!, /\r\nConnection: Upgrade\r\n/);
        assert.match(upstreamHeads[0]!, /\r\nUpgrade: x-echo\r\n/);

        client.end();
        const [x] = await proxy.waitForExchanges(1, 3000);
        assert.equal(x?.kind, 'upgrade');
        assert.equal(x?.response?.statusCode, 101);
        assert.equal(x?.bytes.request, 'client-early|'.length + 6);
        assert.equal(x?.bytes.response, 'server-first|'.length + 'client-early|'.length + 6);
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });
  });
}
