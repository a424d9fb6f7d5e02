/**
 * Connection affinity (docs/running.md "Connection affinity"): one upstream connection per client connection,
 * kept across the client's requests, never shared with another client, closed with it.
 * NTLM and Negotiate authenticate the TCP connection, not the request (RFC 4559 §4, MS-NTHT 2):
 * the challenge of leg 2 is only good on the connection that received it, so a proxy that pools
 * or re-opens upstream connections breaks the handshake. The upstream below enforces that.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clock, header, RawConnection, withTimeout, waitUntil } from './helpers/client.js';
import { MODES, startProxyFor, type Exchange, type ModeProxy } from './helpers/proxy.js';
import { socketId, startRecordingServer, startServer, type TestServer } from './helpers/servers.js';

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
const message = (type: number, payload: Buffer = Buffer.alloc(0)): string =>
  Buffer.concat([SIGNATURE, Buffer.from([type, 0, 0, 0]), payload]).toString('base64');
const TYPE1 = message(1);

interface Leg {
  client: string;
  leg: number;
  socket: number;
  status: number;
}

/**
 * A connection-authenticating upstream in the shape of NTLM: no credentials → 401 `NTLM`;
 * type 1 → 401 with a challenge bound to this socket; type 3 → 200 only when it answers the
 * challenge issued on the same socket, else 401.
 */
async function startNtlmServer(): Promise<TestServer & { legs: Leg[] }> {
  const legs: Leg[] = [];
  const challenges = new Map<number, Buffer>();
  const server = await startServer((req, res) => {
    req.resume();
    const id = socketId(req.socket);
    const client = String(req.headers['x-client']);
    const auth = req.headers.authorization ?? '';
    const answer = (leg: number, status: number, wwwAuthenticate?: string, body = ''): void => {
      legs.push({ client, leg, socket: id, status });
      const headers: Record<string, string> = { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)) };
      if (wwwAuthenticate !== undefined) headers['WWW-Authenticate'] = wwwAuthenticate;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (!auth.startsWith('NTLM ')) return answer(1, 401, 'NTLM');
    const blob = Buffer.from(auth.slice(5), 'base64');
    const type = blob[8];
    if (type === 1) {
      const challenge = randomBytes(8);
      challenges.set(id, challenge);
      return answer(2, 401, `NTLM ${message(2, challenge)}`);
    }
    if (type === 3) {
      const expected = challenges.get(id);
      const ok = expected !== undefined && blob.subarray(12).equals(expected);
      return ok ? answer(3, 200, undefined, `hello ${client}`) : answer(3, 401, 'NTLM');
    }
    return answer(0, 400);
  });
  return Object.assign(server, { legs });
}

/** Leg 3 of the handshake: a type 3 message answering the challenge of leg 2. */
function type3For(wwwAuthenticate: string | undefined): string {
  if (wwwAuthenticate === undefined || !wwwAuthenticate.startsWith('NTLM ')) {
    assert.fail(`leg 2 should answer with a challenge, got WWW-Authenticate: ${String(wwwAuthenticate)}`);
  }
  const challenge = Buffer.from(wwwAuthenticate.slice(5), 'base64').subarray(12);
  return message(3, challenge);
}

function get(proxy: ModeProxy, path: string, fields: string[]): string {
  let text = `GET ${proxy.target(path)} HTTP/1.1\r\nHost: ${proxy.upstreamAuthority}\r\n`;
  for (let i = 0; i < fields.length; i += 2) text += `${fields[i]!}: ${fields[i + 1]!}\r\n`;
  return `${text}\r\n`;
}

for (const mode of MODES) {
  describe(`affinity, ${mode} mode`, () => {
    it('two clients interleaving NTLM handshakes each keep one upstream connection of their own', async () => {
      const upstream = await startNtlmServer();
      const proxy = await startProxyFor(mode, upstream.port);
      const a = await RawConnection.open(proxy.port);
      const b = await RawConnection.open(proxy.port);
      try {
        const path = '/EWS/Exchange.asmx';
        // Leg 1: anonymous.
        const a1 = await a.request(get(proxy, path, ['X-Client', 'A']));
        const b1 = await b.request(get(proxy, path, ['X-Client', 'B']));
        assert.equal(a1.statusCode, 401);
        assert.equal(b1.statusCode, 401);
        assert.equal(header(a1.rawHeaders, 'www-authenticate'), 'NTLM');
        // Leg 2: negotiate, get a challenge bound to the upstream connection.
        const a2 = await a.request(get(proxy, path, ['X-Client', 'A', 'Authorization', `NTLM ${TYPE1}`]));
        const b2 = await b.request(get(proxy, path, ['X-Client', 'B', 'Authorization', `NTLM ${TYPE1}`]));
        assert.equal(a2.statusCode, 401);
        assert.equal(b2.statusCode, 401);
        // Leg 3: authenticate; only good on the connection that got the challenge.
        const a3 = await a.request(get(proxy, path, ['X-Client', 'A', 'Authorization', `NTLM ${type3For(header(a2.rawHeaders, 'www-authenticate'))}`]));
        const b3 = await b.request(get(proxy, path, ['X-Client', 'B', 'Authorization', `NTLM ${type3For(header(b2.rawHeaders, 'www-authenticate'))}`]));

        // Client view.
        assert.equal(a3.statusCode, 200, 'client A authenticated');
        assert.equal(a3.body.toString(), 'hello A');
        assert.equal(b3.statusCode, 200, 'client B authenticated');
        assert.equal(b3.body.toString(), 'hello B');

        // Upstream view: each client's three legs on one socket of its own.
        const socketsOf = (client: string): number[] => [...new Set(upstream.legs.filter((l) => l.client === client).map((l) => l.socket))];
        assert.equal(upstream.legs.length, 6);
        assert.equal(socketsOf('A').length, 1, `client A's legs arrived on upstream sockets ${JSON.stringify(socketsOf('A'))}`);
        assert.equal(socketsOf('B').length, 1, `client B's legs arrived on upstream sockets ${JSON.stringify(socketsOf('B'))}`);
        assert.notEqual(socketsOf('A')[0], socketsOf('B')[0], 'the two clients must not share an upstream connection');
        assert.equal(upstream.sockets.length, 2, 'two upstream connections in all');

        // Record view: each client's exchanges on its own client connection and upstream port.
        const records = await proxy.waitForExchanges(6);
        const of = (client: string): Exchange[] => records.filter((x) => header(x.request.rawHeaders, 'x-client') === client);
        for (const [client, upstreamSocket] of [['A', socketsOf('A')[0]], ['B', socketsOf('B')[0]]] as const) {
          const xs = of(client);
          assert.equal(xs.length, 3);
          assert.equal(new Set(xs.map((x) => x.client.connection)).size, 1, `client ${client}: one client connection`);
          const port = upstream.sockets.find((s) => s.id === upstreamSocket)?.remotePort;
          assert.deepEqual(xs.map((x) => x.upstream?.localPort), [port, port, port], `client ${client}: the record names the upstream connection used`);
          assert.deepEqual(xs.map((x) => x.upstream?.reused), [false, true, true], `client ${client}: legs 2 and 3 reused the connection`);
        }
        assert.notEqual(of('A')[0]!.client.connection, of('B')[0]!.client.connection);
      } finally {
        a.destroy();
        b.destroy();
        await proxy.close();
        await upstream.close();
      }
    });

    it('does not lend an idle upstream connection to another client', async () => {
      const upstream = await startRecordingServer();
      const proxy = await startProxyFor(mode, upstream.port);
      const a = await RawConnection.open(proxy.port);
      const b = await RawConnection.open(proxy.port);
      try {
        assert.equal((await a.request(get(proxy, '/a', []))).statusCode, 200);
        // A's upstream connection is idle now; B must still get one of its own.
        assert.equal((await b.request(get(proxy, '/b', []))).statusCode, 200);
        assert.equal((await a.request(get(proxy, '/a2', []))).statusCode, 200);
        const [ra, rb, ra2] = upstream.requests;
        assert.notEqual(ra!.socket, rb!.socket, 'B got a connection of its own');
        assert.equal(ra!.socket, ra2!.socket, 'A kept its connection');
        assert.equal(upstream.sockets.length, 2);
      } finally {
        a.destroy();
        b.destroy();
        await proxy.close();
        await upstream.close();
      }
    });

    for (const how of ['end', 'destroy'] as const) {
      it(`closes the upstream connection when the client connection closes (${how})`, async () => {
        const upstream = await startRecordingServer();
        const proxy = await startProxyFor(mode, upstream.port);
        const client = await RawConnection.open(proxy.port);
        try {
          for (const path of ['/1', '/2', '/3']) assert.equal((await client.request(get(proxy, path, []))).statusCode, 200);
          assert.equal(new Set(upstream.requests.map((r) => r.socket)).size, 1, 'successive requests reuse one upstream connection');
          assert.equal(upstream.sockets.length, 1);
          const upstreamSocket = upstream.sockets[0]!;
          assert.equal(upstreamSocket.closedAt, undefined);

          const closedAt = clock();
          if (how === 'end') client.end();
          else client.destroy();
          await withTimeout(upstreamSocket.closed, 2000, "the upstream connection to close after the client's closed");
          assert.ok(upstreamSocket.closedAt! - closedAt < 2000);
          const records = await proxy.waitForExchanges(3);
          assert.equal(new Set(records.map((x) => x.client.connection)).size, 1);
        } finally {
          client.destroy();
          await proxy.close();
          await upstream.close();
        }
      });
    }

    it("ends the client's connection when the upstream closes its idle connection", async () => {
      const upstream = await startRecordingServer();
      const proxy = await startProxyFor(mode, upstream.port);
      const client = await RawConnection.open(proxy.port);
      try {
        assert.equal((await client.request(get(proxy, '/1', []))).statusCode, 200);
        await waitUntil(() => upstream.sockets.length === 1, 1000, 'the upstream connection');
        // As a direct client would learn that its (authenticated) connection is gone.
        upstream.sockets[0]!.socket.end();
        await client.waitForClose(2000, "the client's connection to close after the upstream's");
      } finally {
        client.destroy();
        await proxy.close();
        await upstream.close();
      }
    });
  });
}
