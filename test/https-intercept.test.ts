/**
 * HTTPS interception end to end (issue 5, Acceptance): the real proxy, in this process, between
 * real clients (curl from Debian, Node's TLS/HTTPS client) and local HTTPS upstreams that carry
 * certificates of their own test CA. Each test looks from three sides: what the client got (body,
 * the certificate it was shown), what the upstream saw (requests, connections), and what the
 * record says (URL, `intercepted`, the tunnel's end, errors in words).
 *
 * The proxy's CA lives in a fresh temporary folder per test, never in ~/.version-proxy.
 */
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { ProxyConfig } from '../src/config.js';
import type { MapiFacts } from '../src/protocols/mapihttp-observation.js';
import { openCa } from '../src/tls/ca.js';
import { clock, delay, header, withTimeout, type TimedChunk } from './helpers/client.js';
import { curl, findCurl } from './helpers/curl.js';
import { createLogSink } from './helpers/log-sink.js';
import { startProxy, type Exchange, type TestProxy } from './helpers/proxy.js';
import { ruleRecord, writeRules } from './helpers/rule-files.js';
import { assertEachPieceWithinBound, type Write } from './helpers/timing.js';
import { makeSelfSigned, makeTestCa, startHttpsServer, type CertAndKey, type HttpsTestServer, type TestCa } from './helpers/tls.js';

const quiet = createLogSink('warn').logger;

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the file: the upstreams' test CA (trusted by the proxy through --upstream-ca)
// and a second CA that nobody trusts.

const root = await mkdtemp(path.join(os.tmpdir(), 'vp-https-'));
after(() => rm(root, { recursive: true, force: true }));
let upstreamCa: TestCa;
let strangerCa: TestCa;
/** The upstream CA's certificate as a file, for `upstreamCa: [file]`. */
let upstreamCaFile: string;
/** A leaf of the upstream CA for localhost and 127.0.0.1. */
let goodLeaf: CertAndKey;

before(async () => {
  upstreamCa = await makeTestCa('upstream');
  strangerCa = await makeTestCa('stranger');
  upstreamCaFile = path.join(root, 'upstream-ca.pem');
  await writeFile(upstreamCaFile, upstreamCa.certPem);
  goodLeaf = await upstreamCa.issue(['localhost', '127.0.0.1']);
});

let dirs = 0;
/** A CA directory that does not exist yet. */
const freshCaDir = (): string => path.join(root, `ca-${++dirs}`);

interface Intercepting {
  proxy: TestProxy;
  caDir: string;
  /** `<caDir>/ca.pem`, present once the CA exists. */
  caFile: string;
}

/**
 * A forward proxy intercepting every host, trusting the upstream test CA, closed when the test
 * ends. With `precreate` the CA is made first (curl's --cacert needs the file before the first
 * CONNECT); the proxy opens that same directory, as a second run would.
 */
async function interceptingProxy(t: TestContext, overrides: Partial<ProxyConfig> = {}, options: { precreate?: boolean } = {}): Promise<Intercepting> {
  const caDir = freshCaDir();
  if (options.precreate ?? true) await openCa(caDir, quiet);
  const proxy = await startProxy({
    interception: { caDir, intercept: ['*'], noIntercept: [] },
    upstreamCa: [upstreamCaFile],
    ...overrides,
  });
  t.after(() => proxy.close(200));
  return { proxy, caDir, caFile: path.join(caDir, 'ca.pem') };
}

interface Upstream extends HttpsTestServer {
  /** Every request as the upstream saw it, with the remote port of its connection. */
  requests: Array<{ method: string; url: string; host: string | undefined; remotePort: number | undefined }>;
  /** TLS connections accepted. */
  connections: number;
}

/** An HTTPS upstream on 127.0.0.1 presenting `cert`, answering `hello <url>` unless `handler` is given. */
async function httpsUpstream(t: TestContext, cert: CertAndKey, handler?: http.RequestListener): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  const server = await startHttpsServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host, remotePort: req.socket.remotePort });
    if (handler) return handler(req, res);
    req.resume();
    const body = `hello ${req.url ?? ''}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  }, cert);
  const upstream: Upstream = Object.assign(server, { requests, connections: 0 });
  server.server.on('secureConnection', (socket: tls.TLSSocket) => {
    upstream.connections += 1;
    socket.setNoDelay(true);
  });
  t.after(() => server.close());
  return upstream;
}

/** curl's path, or skips the test with the reason. */
async function needCurl(t: TestContext): Promise<string | undefined> {
  const found = await findCurl();
  if (found.ok) return found.path;
  t.skip(found.reason);
  return undefined;
}

/** Opens `CONNECT authority` on the proxy and resolves with the tunnel's socket once it is answered 200. */
function openTunnel(proxyPort: number, authority: string, timeoutMs = 5000): Promise<net.Socket> {
  const opened = new Promise<net.Socket>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority, headers: { Host: authority }, agent: false });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new Error(`CONNECT ${authority} was answered ${res.statusCode ?? '?'}`));
    });
    req.once('response', (res) => reject(new Error(`CONNECT ${authority} got a normal response ${res.statusCode ?? '?'}`)));
    req.once('error', reject);
    req.end();
  });
  return withTimeout(opened, timeoutMs, `CONNECT ${authority}`);
}

/** TLS over a tunnel; resolves once the handshake (and its verification) succeeded. */
function secure(socket: net.Socket, options: tls.ConnectionOptions, timeoutMs = 5000): Promise<tls.TLSSocket> {
  const done = new Promise<tls.TLSSocket>((resolve, reject) => {
    const tlsSocket = tls.connect({ socket, ALPNProtocols: ['http/1.1'], ...options }, () => resolve(tlsSocket));
    tlsSocket.once('error', reject);
  });
  return withTimeout(done, timeoutMs, 'the TLS handshake through the tunnel');
}

/** An https.Agent that hands out one already-secured socket (the tunnel's), and keeps it alive between requests. */
class TunnelAgent extends https.Agent {
  private given = false;
  constructor(private readonly socket: tls.TLSSocket) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  }

  override createConnection(): tls.TLSSocket {
    if (this.given) throw new Error('the agent was asked for a second connection: the first was not kept alive');
    this.given = true;
    return this.socket;
  }
}

interface Answer {
  statusCode: number;
  rawHeaders: string[];
  body: Buffer;
  chunks: TimedChunk[];
}

/** One request over `agent` (or over `socket` alone); resolves with the whole answer and its timed chunks. */
function httpsRequest(options: https.RequestOptions & { body?: Buffer | string; timeoutMs?: number }): Promise<Answer> {
  const done = new Promise<Answer>((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: TimedChunk[] = [];
      res.on('data', (data: Buffer) => chunks.push({ at: clock(), data }));
      res.once('error', reject);
      res.once('end', () => resolve({ statusCode: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks.map((c) => c.data)), chunks }));
    });
    req.once('error', reject);
    req.end(options.body);
  });
  return withTimeout(done, options.timeoutMs ?? 5000, `${options.method ?? 'GET'} ${options.path ?? '/'}`);
}

/** Waits until the proxy has recorded `n` exchanges of `kind`. */
async function recordsOf(proxy: TestProxy, kind: Exchange['kind'], n = 1, timeoutMs = 5000): Promise<Exchange[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = proxy.exchanges.filter((x) => x.kind === kind);
    if (found.length >= n) return found;
    if (Date.now() > deadline) {
      const seen = proxy.exchanges.map((x) => `${x.kind} ${x.url} ${x.response?.statusCode ?? '-'} ${x.error?.code ?? ''}`).join('; ');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${n} ${kind} record(s); finished: ${seen || 'none'}`);
    }
    await delay(10);
  }
}

/** The base64 body of a PEM, and each of its lines: what a leak of key material would show. */
function pemFragments(pem: string): string[] {
  const lines = pem.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('-----'));
  return [lines.join(''), ...lines.filter((l) => l.length >= 16)];
}

// ---------------------------------------------------------------------------------------------

describe('HTTPS interception: clients that trust the CA', () => {
  it('curl --cacert <ours> -x <proxy>: the body arrives, the inner exchange is https://localhost:PORT/path, intercepted; the tunnel is recorded as such', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const { proxy, caFile } = await interceptingProxy(t);

    const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${upstream.port}/path?q=1`]);
    assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello /path?q=1');

    // Upstream view: one request, origin-form, the client's own Host.
    assert.deepEqual(upstream.requests.map((q) => [q.method, q.url, q.host]), [['GET', '/path?q=1', `localhost:${upstream.port}`]]);

    // Record view.
    const [inner] = await recordsOf(proxy, 'http');
    const [tunnel] = await recordsOf(proxy, 'tunnel');
    assert.ok(inner && tunnel);
    assert.equal(inner.url, `https://localhost:${upstream.port}/path?q=1`);
    assert.equal(inner.intercepted, true);
    assert.equal(inner.request.method, 'GET');
    assert.equal(inner.request.url, '/path?q=1', 'the request-target as the client sent it inside the tunnel');
    assert.equal(inner.response?.statusCode, 200);
    assert.equal(inner.response?.source, 'upstream');
    assert.equal(inner.bytes.response, 'hello /path?q=1'.length);
    assert.equal(inner.error, undefined);

    assert.equal(tunnel.kind, 'tunnel');
    assert.equal(tunnel.url, `localhost:${upstream.port}`);
    assert.equal(tunnel.intercepted, true);
    assert.equal(tunnel.response?.statusCode, 200);
    assert.equal(tunnel.error, undefined, `the tunnel failed: ${JSON.stringify(tunnel.error)}`);
    assert.equal(tunnel.ended, 'closed');
    assert.ok(tunnel.timings.end !== undefined && tunnel.timings.end >= tunnel.timings.start);
    assert.ok(tunnel.bytes.request > 0 && tunnel.bytes.response > 0, `TLS bytes each way: ${JSON.stringify(tunnel.bytes)}`);
    assert.equal(inner.client.address, '127.0.0.1', 'the inner exchange names the client behind the tunnel');
    assert.equal(inner.client.port, tunnel.client.port);
  });

  it("Node's https client with our CA: ALPN http/1.1, and two requests on one TLS connection ride ONE upstream connection", async (t) => {
    const upstream = await httpsUpstream(t, goodLeaf, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = `${req.method ?? ''} ${req.url ?? ''} ${Buffer.concat(chunks).toString()}`;
        res.writeHead(200, { 'Content-Length': String(Buffer.byteLength(body)) });
        res.end(body);
      });
    });
    const { proxy, caFile } = await interceptingProxy(t);
    const ca = await readFile(caFile, 'utf8');

    const tunnel = await openTunnel(proxy.port, `localhost:${upstream.port}`);
    const tlsSocket = await secure(tunnel, { ca, servername: 'localhost' });
    t.after(() => tlsSocket.destroy());
    assert.equal(tlsSocket.authorized, true);
    assert.equal(tlsSocket.alpnProtocol, 'http/1.1');
    const leaf = tlsSocket.getPeerCertificate();
    assert.match(leaf.subjectaltname ?? '', /DNS:localhost/);
    assert.match(String(leaf.issuer.CN), /^version-proxy CA/);

    const agent = new TunnelAgent(tlsSocket);
    t.after(() => agent.destroy());
    const base = { host: 'localhost', port: upstream.port, agent };
    const first = await httpsRequest({ ...base, path: '/one' });
    const second = await httpsRequest({ ...base, method: 'POST', path: '/two', headers: { 'Content-Type': 'text/plain' }, body: 'payload' });
    assert.equal(first.body.toString(), 'GET /one ');
    assert.equal(second.body.toString(), 'POST /two payload');

    // Affinity: the upstream saw one TLS connection carrying both requests.
    assert.equal(upstream.connections, 1, 'one upstream connection for one client connection');
    assert.equal(upstream.requests.length, 2);
    assert.equal(upstream.requests[0]!.remotePort, upstream.requests[1]!.remotePort);

    const records = await recordsOf(proxy, 'http', 2);
    assert.deepEqual(records.map((x) => x.url), [`https://localhost:${upstream.port}/one`, `https://localhost:${upstream.port}/two`]);
    assert.ok(records.every((x) => x.intercepted === true));
    assert.equal(records[0]!.client.connection, records[1]!.client.connection, 'both on one client connection');
    assert.equal(records[1]!.upstream?.reused, true, 'the second exchange reused the upstream connection');
    assert.equal(records[1]!.bytes.request, 'payload'.length);

    tlsSocket.end();
    const [tunnelRecord] = await recordsOf(proxy, 'tunnel');
    assert.equal(tunnelRecord?.intercepted, true);
    assert.ok(tunnelRecord?.ended !== undefined);
  });

  it('an IP address target (CONNECT 127.0.0.1:PORT): the leaf carries an IP SAN and curl --cacert accepts it', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const { proxy, caFile } = await interceptingProxy(t);

    const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://127.0.0.1:${upstream.port}/ip`]);
    assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
    assert.equal(r.body, 'hello /ip');
    const [inner] = await recordsOf(proxy, 'http');
    assert.equal(inner?.url, `https://127.0.0.1:${upstream.port}/ip`);
    assert.equal(inner?.intercepted, true);

    // The certificate itself, seen by Node: an IP SAN, no SNI needed.
    const ca = await readFile(caFile, 'utf8');
    const tlsSocket = await secure(await openTunnel(proxy.port, `127.0.0.1:${upstream.port}`), { ca, host: '127.0.0.1' });
    t.after(() => tlsSocket.destroy());
    assert.equal(tlsSocket.authorized, true);
    assert.match(tlsSocket.getPeerCertificate().subjectaltname ?? '', /IP Address:127\.0\.0\.1/);
  });

  it('MAPI/HTTP over intercepted TLS still streams: each PROCESSING/PENDING/DONE piece reaches the client within the bound', { timeout: 20_000 }, async (t) => {
    const done = Buffer.concat([Buffer.from('DONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 1300\r\n\r\n'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])]);
    const steps = [
      { after: 0, bytes: Buffer.from('PROCESSING\r\n') },
      { after: 500, bytes: Buffer.from('PENDING\r\n') },
      { after: 500, bytes: Buffer.from('PENDING\r\n') },
      { after: 300, bytes: done },
    ];
    const writes: Write[] = [];
    const upstream = await httpsUpstream(t, goodLeaf, (req, res) => {
      req.resume();
      void (async () => {
        res.writeHead(200, [
          'Content-Type', 'application/mapi-http',
          'X-RequestType', req.rawHeaders[req.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-requesttype') + 1] ?? '',
          'X-RequestId', req.rawHeaders[req.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-requestid') + 1] ?? '',
          'X-ClientInfo', req.rawHeaders[req.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-clientinfo') + 1] ?? '',
          'X-ResponseCode', '0',
          'X-PendingPeriod', '500',
          'X-ServerApplication', 'Exchange/15.02.1544.014',
        ]);
        res.flushHeaders();
        for (const step of steps) {
          if (step.after > 0) await delay(step.after);
          if (res.destroyed) return;
          writes.push({ at: clock(), bytes: step.bytes });
          res.write(step.bytes);
        }
        res.end();
      })();
    });
    const { proxy, caFile } = await interceptingProxy(t);
    const ca = await readFile(caFile, 'utf8');
    const tlsSocket = await secure(await openTunnel(proxy.port, `localhost:${upstream.port}`), { ca, servername: 'localhost' });
    t.after(() => tlsSocket.destroy());

    const body = Buffer.alloc(8);
    const res = await httpsRequest({
      createConnection: () => tlsSocket,
      host: 'localhost',
      port: upstream.port,
      method: 'POST',
      path: '/mapi/emsmdb/?MailboxId=x@example.com',
      headers: {
        'Content-Type': 'application/mapi-http',
        'X-RequestType': 'NotificationWait',
        'X-RequestId': '{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:7',
        'X-ClientInfo': '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:3',
        'X-ClientApplication': 'Outlook/16.0.15928.20006',
        'Content-Length': String(body.length),
      },
      body,
      timeoutMs: 10_000,
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.body, Buffer.concat(steps.map((s) => s.bytes)));
    assert.equal(writes.length, steps.length);
    const arrivals = assertEachPieceWithinBound(writes, res.chunks, 'client over intercepted TLS');
    assert.ok(arrivals[1]! - arrivals[0]! > 400 && arrivals[2]! - arrivals[1]! > 400, 'the pieces arrived as far apart as they were written');

    const [x] = await recordsOf(proxy, 'http');
    assert.ok(x);
    assert.equal(x.intercepted, true);
    assert.equal(x.protocol?.protocol, 'mapihttp');
    assert.equal(x.protocol?.operation, 'NotificationWait');
    const stream = (x.protocol?.facts as MapiFacts | undefined)?.stream;
    assert.equal(stream?.processing, 1);
    assert.equal(stream?.pending, 2);
    assert.equal(stream?.done, true);
  });

  it('the rules apply inside TLS: a response setHeader (matched on host and path) shows on an intercepted exchange', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const file = await writeRules(
      t,
      `
rules:
  - id: tag-https
    match: { host: localhost, path: /ruled }
    actions:
      - setHeader: { name: X-Seen-Inside-Tls, value: "yes", on: response }
`,
    );
    const { proxy, caFile } = await interceptingProxy(t, { rules: [file], seed: 42 });

    const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, '-i', `https://localhost:${upstream.port}/ruled`]);
    assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
    // -i: the proxy's CONNECT answer, then the inner response head and body.
    assert.match(r.body, /^X-Seen-Inside-Tls: yes\r$/im);
    assert.match(r.body, /hello \/ruled$/);

    const [x] = await recordsOf(proxy, 'http');
    assert.equal(x?.intercepted, true);
    assert.equal(header(x?.response?.rawHeaders ?? [], 'X-Seen-Inside-Tls'), 'yes');
    assert.equal(ruleRecord(x, 'tag-https').outcome, 'applied');
  });
});

describe('HTTPS interception: passthrough (--no-intercept)', () => {
  it('a --no-intercept host is tunnelled untouched: the client sees the upstream certificate (issuer checked) and one tunnel record with bytes each way', async (t) => {
    const upstream = await httpsUpstream(t, goodLeaf);
    const { proxy } = await interceptingProxy(t, { interception: { caDir: freshCaDir(), intercept: ['*'], noIntercept: ['localhost'] } }, { precreate: false });

    const tlsSocket = await secure(await openTunnel(proxy.port, `localhost:${upstream.port}`), { ca: upstreamCa.certPem, servername: 'localhost' });
    assert.equal(tlsSocket.authorized, true);
    assert.equal(tlsSocket.getPeerCertificate().issuer.CN, 'upstream test CA', "the upstream's own certificate, not a leaf of ours");

    const received = new Promise<string>((resolve, reject) => {
      let text = '';
      tlsSocket.setEncoding('utf8');
      tlsSocket.on('data', (s: string) => (text += s));
      tlsSocket.once('end', () => resolve(text));
      tlsSocket.once('error', reject);
    });
    tlsSocket.write(`GET /through HTTP/1.1\r\nHost: localhost:${upstream.port}\r\nConnection: close\r\n\r\n`);
    const text = await withTimeout(received, 5000, 'the answer through the passthrough tunnel');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /hello \/through$/);
    tlsSocket.destroy();

    const [tunnel] = await recordsOf(proxy, 'tunnel');
    assert.ok(tunnel);
    assert.equal(tunnel.url, `localhost:${upstream.port}`);
    assert.ok(tunnel.intercepted !== true, 'a passthrough tunnel is not intercepted');
    assert.ok(tunnel.bytes.request > 0, 'bytes client → upstream');
    assert.ok(tunnel.bytes.response > 'hello /through'.length, 'bytes upstream → client (TLS records included)');
    assert.ok(tunnel.ended !== undefined, 'how it ended');
    assert.ok(tunnel.timings.end !== undefined);
    await delay(50);
    assert.deepEqual(proxy.exchanges.map((x) => x.kind), ['tunnel'], 'nothing inside the tunnel is recorded: it was not decrypted');
    assert.equal(proxy.logs.filter((l) => l.msg === 'CA created').length, 0, 'a proxy that only tunnels never creates the CA');
  });

  it('curl trusting only the upstream CA gets through a passthrough tunnel (it could not, were our leaf presented)', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const { proxy } = await interceptingProxy(t, { interception: { caDir: freshCaDir(), intercept: ['*'], noIntercept: ['local*'] } }, { precreate: false });
    const r = await curl(curlPath, ['--cacert', upstreamCaFile, '-x', proxy.url, `https://localhost:${upstream.port}/pinned`]);
    assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
    assert.equal(r.body, 'hello /pinned');
    const [tunnel] = await recordsOf(proxy, 'tunnel');
    assert.ok(tunnel?.intercepted !== true);
  });
});

describe('HTTPS interception: upstream verification', () => {
  const cases: Array<{ name: string; cert: () => Promise<CertAndKey>; reason: RegExp; code: string }> = [
    { name: 'a certificate of an untrusted CA', cert: () => strangerCa.issue(['localhost', '127.0.0.1']), reason: /unknown issuer/, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    { name: 'a self-signed certificate', cert: () => makeSelfSigned(['localhost', '127.0.0.1']), reason: /unknown issuer/, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    { name: 'an expired certificate', cert: () => upstreamCa.issue(['localhost', '127.0.0.1'], { expired: true }), reason: /expired/, code: 'CERT_HAS_EXPIRED' },
    { name: 'a certificate for another host', cert: () => upstreamCa.issue(['other.example']), reason: /another host name/, code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
  ];
  for (const c of cases) {
    it(`${c.name} → 502 whose body and record give the reason`, async (t) => {
      const curlPath = await needCurl(t);
      if (curlPath === undefined) return;
      const upstream = await httpsUpstream(t, await c.cert());
      const { proxy, caFile } = await interceptingProxy(t);
      const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${upstream.port}/v`]);
      assert.equal(r.code, 0, `curl itself succeeded against the proxy's leaf: ${r.stderr}`);
      assert.equal(r.status, 502);
      assert.match(r.body, c.reason);
      assert.match(r.body, /localhost/);
      assert.match(r.body, /--insecure-upstream localhost/, 'the body names the way out');
      assert.equal(upstream.requests.length, 0, 'nothing was sent to an unverified upstream');

      const [x] = await recordsOf(proxy, 'http');
      assert.ok(x);
      assert.equal(x.intercepted, true);
      assert.equal(x.response?.statusCode, 502);
      assert.equal(x.response?.source, 'proxy');
      assert.equal(x.error?.code, c.code);
      assert.match(x.error?.message ?? '', c.reason);
    });
  }

  it(
    'a verification failure is recorded in phase connect, with no upstream connection on the record (the request never left)',
    async (t) => {
      const curlPath = await needCurl(t);
      if (curlPath === undefined) return;
      const upstream = await httpsUpstream(t, await strangerCa.issue(['localhost']));
      const { proxy, caFile } = await interceptingProxy(t);
      const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${upstream.port}/v`]);
      assert.equal(r.status, 502);
      const [x] = await recordsOf(proxy, 'http');
      assert.equal(x?.error?.phase, 'connect');
      assert.equal(x?.timings.upstreamConnected, undefined, 'no upstream connection was established: TLS never completed');
      assert.equal(x?.upstream, undefined);
    },
  );

  it('--insecure-upstream localhost: a self-signed upstream works; a glob that does not match it still refuses', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, await makeSelfSigned(['localhost']));
    const matching = await interceptingProxy(t, { insecureUpstream: ['localhost'] });
    const ok = await curl(curlPath, ['--cacert', matching.caFile, '-x', matching.proxy.url, `https://localhost:${upstream.port}/lab`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'hello /lab');

    const other = await interceptingProxy(t, { insecureUpstream: ['*.lab.example'] });
    const refused = await curl(curlPath, ['--cacert', other.caFile, '-x', other.proxy.url, `https://localhost:${upstream.port}/lab`]);
    assert.equal(refused.status, 502);
    assert.match(refused.body, /unknown issuer/);
  });

  it('--insecure-upstream with no globs ([]) skips verification for every host: expired and wrong-name upstreams work', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const expired = await httpsUpstream(t, await upstreamCa.issue(['localhost'], { expired: true }));
    const wrongName = await httpsUpstream(t, await strangerCa.issue(['other.example']));
    const { proxy, caFile } = await interceptingProxy(t, { insecureUpstream: [] });
    for (const upstream of [expired, wrongName]) {
      const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${upstream.port}/any`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'hello /any');
    }
  });
});

describe('HTTPS interception: a client that does not trust the CA', () => {
  it('curl without --cacert fails, and the tunnel record says the handshake failed, with a hint naming ./proxy ca and --no-intercept', async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const { proxy } = await interceptingProxy(t);
    const r = await curl(curlPath, ['-x', proxy.url, `https://localhost:${upstream.port}/refused`]);
    assert.notEqual(r.code, 0, 'curl must refuse a certificate of a CA it does not trust');
    assert.equal(r.code, 60, `curl's "peer certificate cannot be authenticated" (got ${r.code}: ${r.stderr})`);

    const [tunnel] = await recordsOf(proxy, 'tunnel');
    assert.ok(tunnel);
    assert.equal(tunnel.intercepted, true);
    assert.equal(tunnel.ended, 'handshake-failed');
    assert.equal(tunnel.error?.phase, 'tunnel');
    assert.match(tunnel.error?.message ?? '', /\.\/proxy ca/);
    assert.match(tunnel.error?.message ?? '', /--no-intercept localhost/);
    assert.equal(upstream.connections, 0, 'the upstream was never contacted');
  });

  it(
    'a refused client handshake is recorded once, on the tunnel: no empty http exchange, no "malformed request"',
    async (t) => {
      const curlPath = await needCurl(t);
      if (curlPath === undefined) return;
      const upstream = await httpsUpstream(t, goodLeaf);
      const { proxy } = await interceptingProxy(t);
      const r = await curl(curlPath, ['-x', proxy.url, `https://localhost:${upstream.port}/refused`]);
      assert.notEqual(r.code, 0);
      await recordsOf(proxy, 'tunnel');
      await delay(100);
      const extra = proxy.exchanges.filter((x) => x.kind !== 'tunnel');
      assert.deepEqual(extra.map((x) => `${x.kind} "${x.url}" ${x.error?.phase ?? ''} ${x.error?.message ?? ''}`), [], 'only the tunnel is on the record');
      assert.equal(proxy.logs.filter((l) => l.msg === 'malformed request').length, 0);
    },
  );
});

describe('HTTPS interception: names and CA trouble', () => {
  it('the leaf is for the SNI name when the client sends one (CONNECT 127.0.0.1, SNI localhost); the record keeps the CONNECT host', async (t) => {
    const upstream = await httpsUpstream(t, goodLeaf);
    const { proxy, caFile } = await interceptingProxy(t);
    const ca = await readFile(caFile, 'utf8');
    const tlsSocket = await secure(await openTunnel(proxy.port, `127.0.0.1:${upstream.port}`), { ca, servername: 'localhost' });
    t.after(() => tlsSocket.destroy());
    assert.equal(tlsSocket.authorized, true);
    assert.equal(tlsSocket.getPeerCertificate().subjectaltname, 'DNS:localhost');
    const answer = await httpsRequest({ createConnection: () => tlsSocket, host: 'localhost', port: upstream.port, path: '/sni' });
    assert.equal(answer.body.toString(), 'hello /sni');
    assert.equal(upstream.requests[0]?.host, `localhost:${upstream.port}`, "the client's own Host reaches the upstream");
    const [x] = await recordsOf(proxy, 'http');
    assert.equal(x?.url, `https://127.0.0.1:${upstream.port}/sni`);
  });

  /** CONNECTs `attempts` times to a proxy whose CA directory is a file; returns the 502 bodies. */
  async function connectWithBrokenCa(t: TestContext, attempts: number): Promise<{ proxy: TestProxy; bodies: string[] }> {
    const notADir = path.join(root, `file-${++dirs}`);
    await writeFile(notADir, 'not a directory');
    const proxy = await startProxy({ interception: { caDir: notADir, intercept: ['*'], noIntercept: [] }, upstreamCa: [upstreamCaFile] });
    t.after(() => proxy.close(200));
    const bodies: string[] = [];
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const answer = await withTimeout(
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'CONNECT', path: 'localhost:9', agent: false });
          req.once('connect', (res, socket, head) => {
            // The answer's body may have come with its head.
            let body = head.toString('utf8');
            socket.setEncoding('utf8');
            socket.on('data', (s: string) => (body += s));
            socket.once('close', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.once('error', reject);
          req.end();
        }),
        5000,
        'the answer to CONNECT',
      );
      assert.equal(answer.status, 502);
      bodies.push(answer.body);
      const tunnels = await recordsOf(proxy, 'tunnel', attempt);
      const x = tunnels[attempt - 1]!;
      assert.equal(x.error?.code, 'ERR_CA');
      assert.equal(x.ended, 'refused');
      assert.equal(x.intercepted, true);
    }
    return { proxy, bodies };
  }

  it('a CA directory that cannot be used: the CONNECT is answered 502 ERR_CA with the reason, and the next CONNECT tries again', async (t) => {
    const { bodies } = await connectWithBrokenCa(t, 2);
    for (const body of bodies) assert.match(body, /cannot intercept localhost:9: cannot use the CA directory .*file-\d+/);
  });

  it(
    "the ERR_CA answer and record carry the fix (the ProgramError's hint: pass a writable directory with --ca-dir)",
    async (t) => {
      const { proxy, bodies } = await connectWithBrokenCa(t, 1);
      assert.match(bodies[0] ?? '', /--ca-dir/);
      assert.match(proxy.exchanges[0]?.error?.message ?? '', /--ca-dir/);
    },
  );
});

describe('HTTPS interception: shutdown', () => {
  it(
    'a graceful close waits for an exchange in flight inside an intercepted tunnel',
    async (t) => {
      const upstream = await httpsUpstream(t, goodLeaf, (req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first ');
        setTimeout(() => res.end('last'), 600);
      });
      const { proxy, caFile } = await interceptingProxy(t);
      const ca = await readFile(caFile, 'utf8');
      const tlsSocket = await secure(await openTunnel(proxy.port, `localhost:${upstream.port}`), { ca, servername: 'localhost' });
      t.after(() => tlsSocket.destroy());
      const answer = httpsRequest({ createConnection: () => tlsSocket, host: 'localhost', port: upstream.port, path: '/slow', timeoutMs: 5000 });
      answer.catch(() => undefined);
      await waitForStart(proxy);
      const closedAt = clock();
      const closed = proxy.close(3000);
      const res = await answer;
      assert.equal(res.body.toString(), 'first last');
      assert.ok(clock() - closedAt >= 400, 'the answer took its time, the close waited');
      await closed;
      const [x] = await recordsOf(proxy, 'http');
      assert.equal(x?.error, undefined);
    },
  );
});

/** Resolves once the proxy has started an http exchange. */
async function waitForStart(proxy: TestProxy): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!proxy.started.some((x) => x.kind === 'http')) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the exchange to start');
    await delay(5);
  }
  await delay(50);
}

describe('HTTPS interception: key material', () => {
  it('the proxy creates the CA on first need (keys 0600), and no key material appears in its logs or records', async (t) => {
    const curlPath = await needCurl(t);
    const upstream = await httpsUpstream(t, goodLeaf);
    const untrusted = await httpsUpstream(t, await makeSelfSigned(['localhost']));
    const { proxy, caDir, caFile } = await interceptingProxy(t, { logLevel: 'trace' }, { precreate: false });

    // First contact creates the CA: a client that verifies nothing yet.
    const first = await secure(await openTunnel(proxy.port, `localhost:${upstream.port}`), { rejectUnauthorized: false, servername: 'localhost' });
    const answer = await httpsRequest({ createConnection: () => first, host: 'localhost', port: upstream.port, path: '/first' });
    assert.equal(answer.body.toString(), 'hello /first');
    first.destroy();
    assert.equal(proxy.logs.filter((l) => l.msg === 'CA created').length, 1, 'the proxy logged the creation of its CA');

    if (process.platform !== 'win32') {
      assert.equal((await stat(path.join(caDir, 'ca-key.pem'))).mode & 0o777, 0o600);
      assert.equal((await stat(path.join(caDir, 'leaf-key.pem'))).mode & 0o777, 0o600);
    }

    // More traffic, failures included: a good exchange, a 502, a refused handshake.
    if (curlPath !== undefined) {
      assert.equal((await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${upstream.port}/second`])).body, 'hello /second');
      assert.equal((await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${untrusted.port}/bad`])).status, 502);
      assert.notEqual((await curl(curlPath, ['-x', proxy.url, `https://localhost:${upstream.port}/untrusting`])).code, 0);
    }
    await recordsOf(proxy, 'tunnel', curlPath === undefined ? 1 : 4);

    const secrets = [...pemFragments(await readFile(path.join(caDir, 'ca-key.pem'), 'utf8')), ...pemFragments(await readFile(path.join(caDir, 'leaf-key.pem'), 'utf8'))];
    assert.ok(secrets.length >= 4);
    const logs = proxy.logs.lines.map((l) => JSON.stringify(l)).join('\n');
    const records = [...proxy.started, ...proxy.exchanges].map((x) => JSON.stringify(x)).join('\n');
    assert.ok(logs.length > 0 && records.length > 0);
    for (const [what, text] of [['logs', logs], ['records', records]] as const) {
      assert.ok(!text.includes('PRIVATE KEY'), `${what} contain "PRIVATE KEY"`);
      for (const secret of secrets) assert.ok(!text.includes(secret), `${what} contain key material (${secret.slice(0, 8)}…)`);
    }
  });
});
