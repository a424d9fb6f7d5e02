/**
 * Malformed protocol traffic through the real proxy (docs/running.md "Failures are answers": failures are data).
 * For every case, three things hold:
 *   record   the exchange's `protocol.problems` names what could not be decoded, in a sentence;
 *   traffic  passes unchanged: the upstream received exactly the bytes the client sent and the
 *            client received exactly the bytes the upstream sent (compared by SHA-256);
 *   proxy    stays up: a well-formed exchange afterwards, on the same proxy, is relayed and
 *            decoded as usual, and nothing was logged at error level.
 * Upstreams answer as FPSE (application/x-vermeer-rpc) or Exchange (application/mapi-http with
 * the X-* echoes) would. Fixture bytes are in test/fixtures/fpse and test/fixtures/mapihttp.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange, ProtocolRecord } from '../src/core/exchange.js';
import type { FpseFacts } from '../src/protocols/fpse-observation.js';
import type { MapiFacts } from '../src/protocols/mapihttp-observation.js';
import { clock, header, request, startRequest, type CollectedResponse } from './helpers/client.js';
import { LEVELS } from './helpers/log-sink.js';
import { MODES, startProxyFor, type Mode, type ModeProxy } from './helpers/proxy.js';
import { hasHead, readUntil, startRawServer, startServer } from './helpers/servers.js';
import { FIXTURES } from './fixtures/mapihttp/read.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const FPSE_FIXTURES = join(FIXTURES, '..', 'fpse');
const fpseFixture = (name: string): Buffer => readFileSync(join(FPSE_FIXTURES, name));

/** nmap's default User-Agent (nselib/http.lua). */
const NMAP_AGENT = 'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)';

const SHTML = '/_vti_bin/shtml.dll/_vti_rpc';
const AUTHOR = '/_vti_bin/_vti_aut/author.dll';
const EMSMDB = '/mapi/emsmdb/?MailboxId=416c6368-656d-794a-6f45-57615272456e@example.com';

// ---------------------------------------------------------------------------------------------
// FPSE: an upstream that hashes each request body as it streams and answers like SharePoint 2010.

/** Office 2007's `server version` (docs/protocols.md §4.9) and SharePoint 2010's answer (§2.3). */
const NORMAL_FPSE_REQUEST = fpseFixture('req-server-version-office.txt');
const NORMAL_FPSE_ANSWER = fpseFixture('resp-server-version-sp2010.txt');

/** The head Office sends to an RPC script (MS-FPSE 3.1.5.1). */
function fpseRequestHeaders(host: string, contentLength: number): string[] {
  return [
    'Host', host,
    'User-Agent', 'MSFrontPage/12.0',
    'Accept', 'auth/sicily',
    'Content-Type', 'application/x-www-form-urlencoded',
    'X-Vermeer-Content-Type', 'application/x-www-form-urlencoded',
    'Content-Length', String(contentLength),
    'Cache-Control', 'no-cache',
  ];
}

/** The head of an IIS/SharePoint 2010 RPC answer (§2.7). */
function fpseResponseHeaders(contentLength: number): string[] {
  return [
    'Cache-Control', 'private',
    'Content-Type', 'application/x-vermeer-rpc',
    'Server', 'Microsoft-IIS/7.5',
    'MicrosoftSharePointTeamServices', '14.0.0.6029',
    'X-Powered-By', 'ASP.NET',
    'Content-Length', String(contentLength),
  ];
}

interface SeenBody {
  method: string;
  url: string;
  rawHeaders: string[];
  /** Body bytes received, hashed and counted as they arrived (never held). */
  bytes: number;
  sha: string;
  /** clock() when the first body bytes arrived. */
  firstAt?: number;
}

interface FpseUpstream {
  port: number;
  seen: SeenBody[];
  /** The response bodies written, in order. */
  sent: Buffer[];
}

/** Answers the first request with `answer` (the case) and every later one as SharePoint 2010 would. */
async function fpseUpstream(t: TestContext, answer: Buffer): Promise<FpseUpstream> {
  const seen: SeenBody[] = [];
  const sent: Buffer[] = [];
  const server = await startServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let firstAt: number | undefined;
    req.on('data', (chunk: Buffer) => {
      firstAt ??= clock();
      hash.update(chunk);
      bytes += chunk.length;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, bytes, sha: hash.digest('hex'), firstAt });
      const out = seen.length === 1 ? answer : NORMAL_FPSE_ANSWER;
      sent.push(out);
      res.writeHead(200, fpseResponseHeaders(out.length));
      res.end(out);
    });
  });
  t.after(() => server.close());
  return { port: server.port, seen, sent };
}

async function proxyFor(t: TestContext, mode: Mode, upstreamPort: number): Promise<ModeProxy> {
  const proxy = await startProxyFor(mode, upstreamPort);
  t.after(() => proxy.close());
  return proxy;
}

function protocolOf(x: Exchange | undefined): ProtocolRecord {
  assert.ok(x, 'the exchange was recorded');
  assert.ok(x.protocol, `exchange ${x.request.method} ${x.request.url} has a protocol record`);
  return x.protocol;
}

/** `problems` has a sentence matching `pattern`; the message lists what is there. */
function assertProblem(problems: string[], pattern: RegExp): string {
  const found = problems.find((p) => pattern.test(p));
  assert.ok(found !== undefined, `no problem matching ${pattern}; problems: ${JSON.stringify(problems)}`);
  // A clear sentence: several words, not a bare code or a stack trace.
  assert.match(found, /^\S.* .* .*\S$/s, `problem ${JSON.stringify(found)} reads as a sentence`);
  assert.doesNotMatch(found, /\bat .*\.js:\d+|Error:|undefined|\[object /, `problem ${JSON.stringify(found)} is not a stack or a stray value`);
  return found;
}

/** The traffic passed unchanged both ways, and the record counted it. */
function assertUnchanged(x: Exchange, clientSent: Buffer | { bytes: number; sha: string }, upstreamSaw: SeenBody, upstreamSent: Buffer, res: CollectedResponse): void {
  const sent = Buffer.isBuffer(clientSent) ? { bytes: clientSent.length, sha: sha256(clientSent) } : clientSent;
  assert.equal(upstreamSaw.bytes, sent.bytes, 'the upstream received as many bytes as the client sent');
  assert.equal(upstreamSaw.sha, sent.sha, 'the upstream received exactly the bytes the client sent');
  assert.equal(res.statusCode, 200);
  assert.equal(res.body.length, upstreamSent.length, 'the client received as many bytes as the upstream sent');
  assert.equal(sha256(res.body), sha256(upstreamSent), 'the client received exactly the bytes the upstream sent');
  assert.equal(x.bytes.request, sent.bytes);
  assert.equal(x.bytes.response, upstreamSent.length);
  assert.equal(x.error, undefined, `no traffic error on the record (got ${JSON.stringify(x.error)})`);
}

/** A well-formed `server version` on the same proxy is relayed and decoded as usual. */
async function assertFpseStillWorks(proxy: ModeProxy, upstream: FpseUpstream, finishedBefore: number): Promise<void> {
  const res = await request(proxy.port, proxy.target(SHTML), { method: 'POST', headers: fpseRequestHeaders(proxy.upstreamAuthority, NORMAL_FPSE_REQUEST.length), body: NORMAL_FPSE_REQUEST });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.body, NORMAL_FPSE_ANSWER);
  const xs = await proxy.waitForExchanges(finishedBefore + 1);
  const record = protocolOf(xs[finishedBefore]);
  assert.deepEqual(record.problems, [], 'the follow-up exchange decodes cleanly');
  assert.deepEqual(record.versions, { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' });
  assert.ok(record.verdicts.some((v) => v.code === 'accepted'), `verdicts: ${JSON.stringify(record.verdicts)}`);
  assert.equal(upstream.seen[upstream.seen.length - 1]!.sha, sha256(NORMAL_FPSE_REQUEST));
  assertNoErrorLogged(proxy);
}

function assertNoErrorLogged(proxy: ModeProxy): void {
  const bad = proxy.logs.filter((l) => l.level >= LEVELS.error);
  assert.deepEqual(bad, [], 'nothing logged at error level (e.g. "protocol observer failed")');
}

function fpseFacts(record: ProtocolRecord): FpseFacts {
  assert.equal(record.protocol, 'fpse');
  return record.facts as FpseFacts;
}

// ---------------------------------------------------------------------------------------------

for (const mode of MODES) {
  describe(`malformed FPSE traffic, ${mode} mode`, () => {
    it('a truncated response packet (half a vermeer packet, Content-Length right) is recorded as truncated and relayed as is', async (t) => {
      const half = NORMAL_FPSE_ANSWER.subarray(0, Math.floor(NORMAL_FPSE_ANSWER.length / 2));
      const upstream = await fpseUpstream(t, half);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await request(proxy.port, proxy.target(SHTML), { method: 'POST', headers: fpseRequestHeaders(proxy.upstreamAuthority, NORMAL_FPSE_REQUEST.length), body: NORMAL_FPSE_REQUEST });
      const [x] = await proxy.waitForExchanges(1);
      assertUnchanged(x!, NORMAL_FPSE_REQUEST, upstream.seen[0]!, half, res);
      assert.equal(header(res.rawHeaders, 'content-length'), String(half.length));
      assert.equal(header(res.rawHeaders, 'content-type'), 'application/x-vermeer-rpc');

      const record = protocolOf(x);
      assertProblem(record.problems, /^truncated packet: no <\/html>$/);
      const facts = fpseFacts(record);
      assert.equal(facts.packet?.bytes, half.length);
      assert.equal(facts.request?.method, 'server version', 'the request side still decoded');
      assert.ok(facts.request?.clientVersion?.ok);
      assert.ok(record.summary.startsWith('fpse "server version"'), record.summary);

      await assertFpseStillWorks(proxy, upstream, 1);
    });

    it('a packet cut inside the server version list says which list is open and which keys are missing', async (t) => {
      const truncated = fpseFixture('resp-server-version-truncated.txt');
      const upstream = await fpseUpstream(t, truncated);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await request(proxy.port, proxy.target(AUTHOR), { method: 'POST', headers: fpseRequestHeaders(proxy.upstreamAuthority, NORMAL_FPSE_REQUEST.length), body: NORMAL_FPSE_REQUEST });
      const [x] = await proxy.waitForExchanges(1);
      assertUnchanged(x!, NORMAL_FPSE_REQUEST, upstream.seen[0]!, truncated, res);
      const record = protocolOf(x);
      assertProblem(record.problems, /^truncated packet: no <\/html>$/);
      assertProblem(record.problems, /^truncated packet: 1 <ul> list\(s\) not closed$/);
      assertProblem(record.problems, /^server version list lacks ver incr \(§2\.3\)$/);
      // No server build could be read, so no negotiation verdict is claimed.
      assert.equal(record.versions.server, undefined);
      assert.ok(!record.verdicts.some((v) => v.code === 'accepted'), JSON.stringify(record.verdicts));

      await assertFpseStillWorks(proxy, upstream, 1);
    });

    it('binary garbage as an RPC request body is recorded as not form-urlencoded and passes byte-exact', async (t) => {
      const garbage = fpseFixture('req-binary-garbage.bin');
      const errorPacket = fpseFixture('resp-error-bad-url.txt');
      const upstream = await fpseUpstream(t, errorPacket);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await request(proxy.port, proxy.target(SHTML), { method: 'POST', headers: fpseRequestHeaders(proxy.upstreamAuthority, garbage.length), body: garbage });
      const [x] = await proxy.waitForExchanges(1);
      assertUnchanged(x!, garbage, upstream.seen[0]!, errorPacket, res);
      const record = protocolOf(x);
      assertProblem(record.problems, /^binary data in the first line \(\d+ control bytes, first unexpected byte at offset \d+\)$/);
      assertProblem(record.problems, /^\d+ non-ASCII bytes in the first line; form-urlencoded text is ASCII$/);
      assertProblem(record.problems, /^no method= parameter$/);
      const facts = fpseFacts(record);
      assert.equal(facts.request?.method, undefined);
      assert.equal(facts.request?.complete, true);
      // Only printable names of sane length reach the record; the rest are counted.
      for (const name of facts.request?.params ?? []) assert.match(name, /^[\x20-\x7e]{1,64}$/);
      assert.ok(record.problems.length <= 20, `a bounded list of problems (${record.problems.length})`);
      assert.equal(record.operation, '?');

      await assertFpseStillWorks(proxy, upstream, 1);
    });

    it("nmap's open service:FPVersion=\"5.0.2.2623\" decodes the method and records the unreadable version", async (t) => {
      // nmap's http-frontpage-login pastes the whole FPVersion="…" match from _vti_inf.html (§4.10).
      const nmap = fpseFixture('req-open-service-nmap.txt');
      assert.equal(nmap.toString('latin1'), 'method=open+service:FPVersion="5.0.2.2623"&service_name=/');
      const answer = fpseFixture('resp-open-service.txt');
      const upstream = await fpseUpstream(t, answer);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await request(proxy.port, proxy.target(AUTHOR), {
        method: 'POST',
        headers: ['Host', proxy.upstreamAuthority, 'User-Agent', NMAP_AGENT, 'Content-Type', 'application/x-www-form-urlencoded', 'Content-Length', String(nmap.length)],
        body: nmap,
      });
      const [x] = await proxy.waitForExchanges(1);
      assertUnchanged(x!, nmap, upstream.seen[0]!, answer, res);
      const record = protocolOf(x);
      const facts = fpseFacts(record);
      assert.equal(facts.request?.method, 'open service');
      assert.equal(record.operation, 'open service');
      assert.equal(facts.request?.clientVersion?.ok, false);
      assertProblem(record.problems, /^version 'FPVersion="5\.0\.2\.2623"' looks like a quoted FPVersion assignment, not a version/);
      assert.equal(record.versions.client, undefined, 'no client version claimed from an unreadable one');
      // Nothing was negotiated (no server version call, no readable client version); the line says a problem is on record.
      assert.equal(record.versions.negotiated, undefined);
      assert.match(record.summary, / problems=3$/);
      assert.equal(facts.packet?.method, 'open service');

      await assertFpseStillWorks(proxy, upstream, 1);
    });

    it("nmap's request head is recorded as not FrontPage's: no FrontPage User-Agent, no X-Vermeer-Content-Type (MS-FPSE 3.1.5.1)", async (t) => {
      // observeFpseRequestHeaders runs these checks only when told the endpoint is an RPC script;
      // the observer claimed the request for `author`, so they apply here.
      const nmap = fpseFixture('req-open-service-nmap.txt');
      const answer = fpseFixture('resp-open-service.txt');
      const upstream = await fpseUpstream(t, answer);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await request(proxy.port, proxy.target(AUTHOR), {
        method: 'POST',
        headers: ['Host', proxy.upstreamAuthority, 'User-Agent', NMAP_AGENT, 'Content-Type', 'application/x-www-form-urlencoded', 'Content-Length', String(nmap.length)],
        body: nmap,
      });
      const [x] = await proxy.waitForExchanges(1);
      assertUnchanged(x!, nmap, upstream.seen[0]!, answer, res);
      const record = protocolOf(x);
      assert.equal(fpseFacts(record).endpoint, 'author');
      assertProblem(record.problems, /^User-Agent ".*Nmap.*" lacks the case-sensitive "FrontPage" MS-FPSE 3\.1\.5\.1 requires$/);
      assertProblem(record.problems, /^no X-Vermeer-Content-Type; MS-FPSE 3\.1\.5\.1 servers should fail the request$/);

      await assertFpseStillWorks(proxy, upstream, 1);
    });

    it('a ten-part version (1.2.3.4.5.6.7.8.9.10) is recorded as unreadable on both sides, nothing crashes', async (t) => {
      const body = Buffer.from('method=server+version%3a1%2e2%2e3%2e4%2e5%2e6%2e7%2e8%2e9%2e10');
      // A naive server echoes what it was given on the method line.
      const echo = Buffer.from(NORMAL_FPSE_ANSWER.toString('latin1').replace('server version:12.0.0.6415', 'server version:1.2.3.4.5.6.7.8.9.10'), 'latin1');
      const upstream = await fpseUpstream(t, echo);
      const proxy = await proxyFor(t, mode, upstream.port);

      const res = await request(proxy.port, proxy.target(SHTML), { method: 'POST', headers: fpseRequestHeaders(proxy.upstreamAuthority, body.length), body });
      const [x] = await proxy.waitForExchanges(1);
      assertUnchanged(x!, body, upstream.seen[0]!, echo, res);
      const record = protocolOf(x);
      const facts = fpseFacts(record);
      assert.equal(facts.request?.method, 'server version');
      assertProblem(record.problems, /^version "1\.2\.3\.4\.5\.6\.7\.8\.9\.10" has 10 numbers; a version has exactly four, like 12\.0\.0\.6415$/);
      assertProblem(record.problems, /^method line version "1\.2\.3\.4\.5\.6\.7\.8\.9\.10" has 10 numbers/);
      assert.equal(record.versions.client, undefined);
      assert.equal(record.versions.negotiated, undefined);
      assert.equal(record.versions.server, '14.0.0.6029', 'the server list still read');

      await assertFpseStillWorks(proxy, upstream, 1);
    });
  });
}

for (const mode of MODES) {
  describe(`a 50 MB FPSE request body (put document), ${mode} mode`, () => {
    it('streams through with the method decoded from the first line, byte-exact, without growing the proxy', { timeout: 90_000 }, async (t) => {
      // §4.12: the first line, LF, then the document's raw bytes. Office escapes `:` `.` `_` `/`.
      const firstLine = Buffer.from(
        'method=put+document%3a12%2e0%2e0%2e6415&service%5fname=%2f&document=%5bdocument%5fname%3dShared+Documents%2fbig%2ebin%3bmeta%5finfo%3d%5b%5d%5d&put%5foption=overwrite&comment=&keep%5fchecked%5fout=false\n',
      );
      const block = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24; // deterministic, not compressible-looking
      const BLOCKS = 50;
      const total = firstLine.length + BLOCKS * block.length;
      const answer = Buffer.from(
        '<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=put document:12.0.0.6415\n' +
          "<p>message=successfully put document 'Shared Documents/big.bin' as 'Shared Documents/big.bin'\n" +
          '<p>document=\n<ul>\n<li>document_name=Shared Documents/big.bin\n<li>meta_info=\n<ul>\n</ul>\n</ul>\n</body>\n</html>\n',
      );
      const upstream = await fpseUpstream(t, answer);
      const proxy = await proxyFor(t, mode, upstream.port);

      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      t.after(() => clearInterval(sampler));

      const { req, response } = startRequest(proxy.port, proxy.target(AUTHOR), { method: 'POST', headers: fpseRequestHeaders(proxy.upstreamAuthority, total), timeoutMs: 80_000 });
      const hash = createHash('sha256');
      const write = async (bytes: Buffer): Promise<void> => {
        hash.update(bytes);
        if (!req.write(bytes)) {
          await Promise.race([new Promise((resolve) => req.once('drain', resolve)), response.then(() => undefined, () => undefined)]);
        }
      };
      await write(firstLine);
      for (let i = 0; i < BLOCKS; i++) {
        if (req.destroyed) break;
        await write(block);
      }
      const lastWriteAt = clock();
      req.end();
      const res = await response;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);

      const [x] = await proxy.waitForExchanges(1, 10_000);
      assertUnchanged(x!, { bytes: total, sha: hash.digest('hex') }, upstream.seen[0]!, answer, res);
      assert.equal(header(upstream.seen[0]!.rawHeaders, 'content-length'), String(total));
      // Streamed, not stored and forwarded: the upstream had bytes before the client finished.
      assert.ok(upstream.seen[0]!.firstAt !== undefined && upstream.seen[0]!.firstAt < lastWriteAt, 'the upstream received the start of the body while the client was still sending');

      const growthMb = (peak - baseline) / (1024 * 1024);
      t.diagnostic(`RSS ${(baseline / 1048576).toFixed(0)} MB before, peak growth ${growthMb.toFixed(1)} MB`);
      assert.ok(growthMb < 100, `RSS grew by ${growthMb.toFixed(1)} MB while 50 MB passed (bound 100 MB)`);

      const record = protocolOf(x);
      const facts = fpseFacts(record);
      assert.equal(facts.endpoint, 'author');
      assert.equal(facts.request?.method, 'put document');
      assert.ok(facts.request?.clientVersion?.ok);
      assert.equal(facts.request.clientVersion.version.text, '12.0.0.6415');
      assert.equal(facts.request.firstLineBytes, firstLine.length, 'only the first line was read');
      assert.equal(facts.request.complete, true);
      assert.deepEqual(facts.request.params, ['service_name', 'document', 'put_option', 'comment', 'keep_checked_out']);
      assert.equal(record.operation, 'put document');
      assert.deepEqual(record.problems, [], 'a well-formed put document has nothing to report, however large');

      await assertFpseStillWorks(proxy, upstream, 1);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// MAPI/HTTP: a raw upstream that writes exact chunked bytes, echoes the X-* headers like
// Exchange, and closes its connection cleanly after the last chunk.

const CLIENT_INFO = '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1';
const REQUEST_GUID = 'E2EA6C1C-E61B-49E9-9CFB-38184F907552';
/** A NotificationWait / Execute response body's tail: StatusCode, ErrorCode, EventPending, AuxiliaryBufferSize. */
const RESPONSE_TAIL = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
const NORMAL_STREAM = Buffer.concat([Buffer.from('PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 3\r\nX-StartTime: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n'), RESPONSE_TAIL]);

interface MapiUpstream {
  port: number;
  seen: SeenBody[];
  sent: Buffer[];
}

function mapiRequestHeaders(host: string, requestType: string, counter: number, contentLength: number): string[] {
  return [
    'Host', host,
    'Content-Type', 'application/mapi-http',
    'X-RequestType', requestType,
    'X-RequestId', `${REQUEST_GUID}:${counter}`,
    'X-ClientInfo', CLIENT_INFO,
    'X-ClientApplication', 'Outlook/16.0.15928.20006',
    'User-Agent', 'Microsoft Office/16.0 (Windows NT 10.0; MAPI 16.0.15928; Pro)',
    'Content-Length', String(contentLength),
  ];
}

/** Chunked framing as a server writes it: one chunk per piece, then the last chunk. */
function chunked(pieces: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const piece of pieces) if (piece.length > 0) parts.push(Buffer.from(`${piece.length.toString(16).toUpperCase()}\r\n`), piece, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/**
 * Answers request counter 1 with `pieces` (the case) and any later one with a normal stream. Each
 * connection serves one request and is closed after the last chunk (`Connection: close`).
 */
async function mapiUpstream(t: TestContext, pieces: Buffer[]): Promise<MapiUpstream> {
  const seen: SeenBody[] = [];
  const sent: Buffer[] = [];
  const server = await startRawServer((socket: net.Socket) => {
    void (async () => {
      const complete = (bytes: Buffer): boolean => {
        if (!hasHead(bytes)) return false;
        const headEnd = bytes.indexOf('\r\n\r\n') + 4;
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(bytes.subarray(0, headEnd).toString('latin1'))?.[1] ?? '0');
        return bytes.length >= headEnd + length;
      };
      const bytes = await readUntil(socket, complete).catch(() => undefined);
      if (bytes === undefined) return;
      const headEnd = bytes.indexOf('\r\n\r\n') + 4;
      const head = bytes.subarray(0, headEnd).toString('latin1');
      const body = bytes.subarray(headEnd);
      const lines = head.split('\r\n');
      const rawHeaders = lines.slice(1).filter((l) => l !== '').flatMap((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
      const [method = '', url = ''] = lines[0]!.split(' ');
      seen.push({ method, url, rawHeaders, bytes: body.length, sha: sha256(body) });
      const requestId = header(rawHeaders, 'x-requestid') ?? '';
      const normal = !requestId.endsWith(':1');
      const out = normal ? [NORMAL_STREAM] : pieces;
      sent.push(Buffer.concat(out));
      const responseHead =
        'HTTP/1.1 200 OK\r\n' +
        'Transfer-Encoding: chunked\r\n' +
        'Content-Type: application/mapi-http\r\n' +
        `X-RequestType: ${header(rawHeaders, 'x-requesttype') ?? ''}\r\n` +
        `X-RequestId: ${requestId}\r\n` +
        `X-ClientInfo: ${header(rawHeaders, 'x-clientinfo') ?? ''}\r\n` +
        'X-ResponseCode: 0\r\n' +
        'X-PendingPeriod: 30000\r\n' +
        'X-ExpirationInfo: 900000\r\n' +
        'X-ServerApplication: Exchange/15.02.1544.014\r\n' +
        'Connection: close\r\n\r\n';
      socket.write(responseHead);
      socket.end(chunked(out));
    })();
  });
  t.after(() => server.close());
  return { port: server.port, seen, sent };
}

async function mapiRequest(proxy: ModeProxy, requestType: string, counter: number): Promise<{ res: CollectedResponse; body: Buffer }> {
  // NotificationWait / Execute-shaped request bodies; the observer never reads them.
  const body = requestType === 'NotificationWait' ? Buffer.alloc(8) : Buffer.from([0, 0, 0, 0, 4, 0, 0, 0, 0x01, 0x00, 0xff, 0x0f, 0x00, 0x80, 0, 0, 0, 0, 0, 0]);
  const res = await request(proxy.port, proxy.target(EMSMDB), { method: 'POST', headers: mapiRequestHeaders(proxy.upstreamAuthority, requestType, counter, body.length), body });
  return { res, body };
}

function mapiFacts(record: ProtocolRecord): MapiFacts {
  assert.equal(record.protocol, 'mapihttp');
  return record.facts as MapiFacts;
}

async function assertMapiStillWorks(proxy: ModeProxy, upstream: MapiUpstream, finishedBefore: number): Promise<void> {
  const { res, body } = await mapiRequest(proxy, 'NotificationWait', 2);
  const xs = await proxy.waitForExchanges(finishedBefore + 1);
  const x = xs[finishedBefore]!;
  assertUnchanged(x, body, upstream.seen[upstream.seen.length - 1]!, NORMAL_STREAM, res);
  const record = protocolOf(x);
  assert.deepEqual(record.problems, [], 'the follow-up exchange decodes cleanly');
  const stream = mapiFacts(record).stream;
  assert.equal(stream?.done, true);
  assert.equal(stream?.complete, true);
  assert.equal(stream?.responseCode?.value, 0);
  assert.deepEqual(record.verdicts.map((v) => v.code), ['ok']);
  assertNoErrorLogged(proxy);
}

interface MapiCase {
  name: string;
  requestType: string;
  pieces: Buffer[];
  problems: RegExp[];
  check?(stream: NonNullable<MapiFacts['stream']>): void;
}

const MAPI_CASES: MapiCase[] = [
  {
    name: 'an inner stream that ends before DONE (`PROCESSING\\r\\nPEN`, then a clean end)',
    requestType: 'NotificationWait',
    pieces: [Buffer.from('PROCESSING\r\n'), Buffer.from('PEN')],
    problems: [/^stream ended before DONE \(inside "PEN"\)$/],
    check: (stream) => {
      assert.equal(stream.processing, 1);
      assert.equal(stream.pending, 0);
      assert.equal(stream.done, false);
      assert.equal(stream.complete, false);
      assert.equal(stream.phase, 'meta');
    },
  },
  {
    name: 'an inner stream of binary garbage',
    requestType: 'Execute',
    pieces: [readFileSync(join(FPSE_FIXTURES, 'resp-binary-garbage.bin'))],
    problems: [/^unexpected line ".*" before DONE$|^line over 1 KiB before DONE; stopped reading lines \(the rest is only counted\)$/, /^stream ended before DONE$/],
    check: (stream) => {
      assert.equal(stream.done, false);
      assert.equal(stream.totalBytes, 1500, 'every byte counted');
      assert.ok(stream.problems.length <= 17, `problems are bounded (${stream.problems.length})`);
    },
  },
  {
    name: 'an over-long line before DONE (4 KiB of text after PROCESSING)',
    requestType: 'Execute',
    pieces: [Buffer.from('PROCESSING\r\n'), Buffer.from('A'.repeat(4096)), Buffer.from('\r\nDONE\r\nX-ResponseCode: 0\r\n\r\n'), RESPONSE_TAIL],
    problems: [/^line over 1 KiB before DONE; stopped reading lines \(the rest is only counted\)$/, /^stream ended before DONE$/],
    check: (stream) => {
      assert.equal(stream.phase, 'stopped');
      assert.equal(stream.totalBytes, 12 + 4096 + 29 + RESPONSE_TAIL.length);
    },
  },
  {
    name: 'an over-long additional header line after DONE',
    requestType: 'Execute',
    pieces: [Buffer.from('PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n'), Buffer.from(`X-Diagnostics: ${'x'.repeat(2000)}\r\n\r\n`), RESPONSE_TAIL],
    problems: [/^additional header line over 1 KiB; stopped reading lines \(the rest is only counted\)$/],
    check: (stream) => {
      assert.equal(stream.done, true);
      assert.equal(stream.responseCode?.value, 0, 'the header before the long line was read');
      assert.equal(stream.complete, false);
      assert.equal(stream.phase, 'stopped');
    },
  },
];

for (const mode of MODES) {
  describe(`malformed MAPI/HTTP response streams, ${mode} mode`, () => {
    for (const c of MAPI_CASES) {
      it(`${c.name}: recorded, relayed byte-exact, proxy stays up`, async (t) => {
        const upstream = await mapiUpstream(t, c.pieces);
        const proxy = await proxyFor(t, mode, upstream.port);

        const { res, body } = await mapiRequest(proxy, c.requestType, 1);
        const [x] = await proxy.waitForExchanges(1);
        assertUnchanged(x!, body, upstream.seen[0]!, Buffer.concat(c.pieces), res);
        assert.equal(header(res.rawHeaders, 'x-serverapplication'), 'Exchange/15.02.1544.014');
        assert.equal(header(res.rawHeaders, 'content-type'), 'application/mapi-http');

        const record = protocolOf(x);
        for (const pattern of c.problems) assertProblem(record.problems, pattern);
        const facts = mapiFacts(record);
        assert.deepEqual(facts.request.problems, [], 'the request head was fine');
        assert.deepEqual(facts.response?.problems, [], 'the response head was fine');
        assert.ok(facts.stream, 'the inner stream was followed');
        assert.deepEqual(record.problems, facts.stream.problems, 'every problem is the stream’s');
        c.check?.(facts.stream);
        assert.equal(record.operation, c.requestType);
        assert.equal(record.versions.client, 'Outlook/16.0.15928.20006');
        assert.equal(record.versions.server, 'Exchange/15.02.1544.014');

        await assertMapiStillWorks(proxy, upstream, 1);
      });
    }
  });
}
