/**
 * Issue 20: FPSE verdicts that were wrong on traffic written by third parties, each through the
 * real proxy to a real upstream on 127.0.0.1. What a negotiation is (MS-FPSE 1.7.1, 3.1.5.3.14):
 * one `server version` call, which always starts afresh; a `_vti_inf.html` GET starts over too;
 * a call without a client version negotiates nothing and is not judged for its echo; one client
 * (User-Agent) is never judged against another's negotiation. Each test checks the verdicts, the
 * record's versions and the `proto` of the exchange's log line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { PassThrough } from 'node:stream';
import { writeHar } from '../src/record/har-write.js';
import { buildReport } from '../src/record/report.js';
import { formatHtml } from '../src/record/report-html.js';
import { formatMarkdown } from '../src/record/report-markdown.js';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { proxiedRequest, type CollectedResponse } from './helpers/client.js';
import { AUTHOR, FPSE_HEADERS, SHTML, closeLater, codesOf, fpseServer, forwardProxy, logger, protoLogged, protocolOf, verdictOf } from './helpers/protocol.js';
import { ROOT } from './helpers/process.js';
import { startProxy, type Exchange, type TestProxy } from './helpers/proxy.js';
import { startRecordingServer, type RecordingServer, type SeenRequest } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

const OFFICE_2007 = '12.0.0.6415';
/** Alfresco's emulation answers every call on its own build (docs/protocols.md §2.3). */
const ALFRESCO = '14.0.0.4730';

const NMAP_AGENT = 'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)';
const NMAP_PROBLEM = `version 'FPVersion="5.0.2.2623"' looks like a quoted FPVersion assignment`;

/** A vermeer RPC packet (MS-FPSE 2.2.4, LF lines) with `method=<line>` and, optionally, a `server version` list. */
function packet(methodLine: string, build?: string): string {
  const list = build === undefined ? '' : listOf(build);
  return `<html><head><title>vermeer RPC packet</title></head>\n<body>\n<p>method=${methodLine}\n${list}</body>\n</html>\n`;
}

function listOf(build: string): string {
  const [major, minor, phase, incr] = build.split('.');
  return `<p>server version=\n<ul>\n<li>major ver=${major}\n<li>minor ver=${minor}\n<li>phase ver=${phase}\n<li>ver incr=${incr}\n</ul>\n<p>source control=1\n`;
}

const VTI_INF = `<html><head><title>FrontPage Configuration Information</title></head><body>
<!-- FrontPage Configuration Information
FPVersion="${ALFRESCO}"
FPShtmlScriptUrl="_vti_bin/shtml.dll/_vti_rpc"
FPAuthorScriptUrl="_vti_bin/_vti_aut/author.dll"
FPAdminScriptUrl="_vti_bin/_vti_adm/admin.dll"
TPScriptUrl="_vti_bin/owssvr.dll"
-->
</body></html>
`;

/**
 * An upstream that answers like an emulator: every RPC call on `echo` (its own build, whatever
 * the client said), `server version` with `list` as its build; `_vti_inf.html` with the page
 * (a 404 for `//_vti_inf.html`, as most servers give nmap).
 */
async function emulator(t: TestContext, echo: string, list = echo): Promise<RecordingServer> {
  return closeLater(
    t,
    await startRecordingServer((seen: SeenRequest, res) => {
      if (seen.method === 'GET') {
        const found = seen.url === '/_vti_inf.html';
        res.writeHead(found ? 200 : 404, { 'Content-Type': 'text/html' });
        res.end(found ? VTI_INF : '<html><body>Not Found</body></html>');
        return;
      }
      const method = /^method=([^&:%]+(?:\+[^&:%]+)*)/.exec(seen.body.toString('latin1'))?.[1]?.replace(/\+/g, ' ') ?? '?';
      res.writeHead(200, { 'Content-Type': 'application/x-vermeer-rpc' });
      res.end(packet(`${method}:${echo}`, method === 'server version' ? list : undefined));
    }),
  );
}

/** One RPC POST through the proxy with Office's headers, or another User-Agent. */
function call(proxy: TestProxy, server: RecordingServer, path: string, body: string, userAgent: string = FPSE_HEADERS['User-Agent']): Promise<CollectedResponse> {
  const headers = { Host: new URL(server.url).host, ...FPSE_HEADERS, 'User-Agent': userAgent };
  return proxiedRequest(proxy.port, `${server.url}${path}`, { method: 'POST', headers, body, timeoutMs: 5000 });
}

function get(proxy: TestProxy, server: RecordingServer, path: string): Promise<CollectedResponse> {
  return proxiedRequest(proxy.port, `${server.url}${path}`, { headers: { Host: new URL(server.url).host, 'User-Agent': 'Mozilla/4.0 (compatible; MS FrontPage 12.0)' }, timeoutMs: 5000 });
}

/** Sends one call and returns its finished record. */
async function judged(proxy: TestProxy, send: () => Promise<CollectedResponse>): Promise<Exchange> {
  const before = proxy.exchanges.length;
  const res = await send();
  assert.ok(res.statusCode > 0);
  const all = await proxy.waitForExchanges(before + 1);
  return all[before]!;
}

describe('FPSE verdicts on third-party traffic (issue 20)', () => {
  it('a new client session is not condemned by the previous one: fpse-downgrade-to-fp2002, two fpse-client runs', async (t) => {
    const dir = tempDir(t, 'vp-verdicts-');
    const server = await fpseServer(t);
    const proxy = closeLater(t, await startProxy({ rules: [join(ROOT, 'rules', 'fpse-downgrade-to-fp2002.yaml')], seed: 42, record: { path: dir, captureBytes: 1024 * 1024, rotateBytes: 256 * 1024 * 1024 } }));
    const first = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });
    const second = await runFpseClient({ server: server.url, via: proxy.url, version: OFFICE_2007, logger });
    for (const report of [first, second]) {
      assert.equal(report.negotiated, '5.0.2.6790');
      assert.equal(report.steps[1]?.request, `server version:${OFFICE_2007}`);
    }
    const exchanges = await proxy.waitForExchanges(first.steps.length + second.steps.length);
    const negotiations = exchanges.filter((x) => x.protocol?.operation === 'server version');
    assert.equal(negotiations.length, 2);
    // The second run's opening call states the client's own version: a new negotiation.
    for (const x of negotiations) {
      assert.deepEqual(codesOf(x), ['accepted']);
      assert.equal(protocolOf(x).versions.negotiated, '5.0.2.6790');
      assert.equal(await protoLogged(proxy, x), `fpse "server version" client=${OFFICE_2007} server=5.0.2.6790 negotiated=5.0.2.6790 accepted`);
    }
    const all = exchanges.flatMap((x) => (x.protocol ? codesOf(x) : []));
    assert.ok(!all.includes('client-ignored-negotiated'), all.join(', '));
    assert.equal(exchanges.flatMap((x) => x.protocol?.verdicts ?? []).filter((v) => v.level === 'violation').length, 0);

    await proxy.close();
    const report = await buildReport([dir]);
    assert.equal(report.totals.violations, 0);
    const md = formatMarkdown(report);
    assert.match(md, /No protocol violations/);
    assert.doesNotMatch(md, /⚠/);
  });

  it('echo-mismatch without a known build: an emulator answers getDocsMetaInfo on its own build, above the client', async (t) => {
    const server = await emulator(t, ALFRESCO);
    const proxy = await forwardProxy(t);
    const x = await judged(proxy, () => call(proxy, server, AUTHOR, `method=getDocsMetaInfo%3a${OFFICE_2007}&url%5flist=%5b%5d`));
    assert.deepEqual(codesOf(x), ['echo-mismatch']);
    assert.equal(verdictOf(x, 'echo-mismatch').level, 'violation');
    assert.match(verdictOf(x, 'echo-mismatch').message, /method line says 14\.0\.0\.4730, above the client's 12\.0\.0\.6415; Min\(client, server\) never is \(MS-FPSE 1\.7\.1\)/);
    assert.deepEqual(protocolOf(x).versions, { client: OFFICE_2007, server: undefined, negotiated: undefined, echo: ALFRESCO });
    assert.equal(await protoLogged(proxy, x), `fpse "getDocsMetaInfo" client=${OFFICE_2007} echo=${ALFRESCO} echo-mismatch`);
  });

  it('a call without a client version negotiates nothing; the next server version call is not condemned', async (t) => {
    const server = await emulator(t, ALFRESCO);
    const proxy = await forwardProxy(t);
    const bare = await judged(proxy, () => call(proxy, server, SHTML, 'method=url+to+web+url&url=%2fa&flags=0'));
    // No client version: nothing to take the Min of, so no echo verdict and no negotiation.
    assert.deepEqual(codesOf(bare), []);
    assert.deepEqual(protocolOf(bare).versions, { client: undefined, server: undefined, negotiated: undefined, echo: ALFRESCO });
    assert.equal(await protoLogged(proxy, bare), `fpse "url to web url" echo=${ALFRESCO}`);

    const version = await judged(proxy, () => call(proxy, server, SHTML, `method=server+version%3a${OFFICE_2007}&service%5fname=%2f`));
    assert.ok(!codesOf(version).includes('client-ignored-negotiated'), codesOf(version).join(', '));
    // The emulator lists 14.0.0.4730 and echoes it: Min(12.0.0.6415, 14.0.0.4730) is the client's.
    assert.deepEqual(codesOf(version), ['echo-mismatch']);
    assert.deepEqual(protocolOf(version).versions, { client: OFFICE_2007, server: ALFRESCO, negotiated: OFFICE_2007, echo: ALFRESCO });
  });

  it('after an echo-mismatch, later calls are judged against the true Min, or the server answer the client followed', async (t) => {
    const server = await emulator(t, ALFRESCO);
    const proxy = await forwardProxy(t);
    const version = await judged(proxy, () => call(proxy, server, SHTML, `method=server+version%3a${OFFICE_2007}&service%5fname=%2f`));
    assert.deepEqual(codesOf(version), ['echo-mismatch']);
    assert.equal(await protoLogged(proxy, version), `fpse "server version" client=${OFFICE_2007} server=${ALFRESCO} negotiated=${OFFICE_2007} echo=${ALFRESCO} echo-mismatch`);

    // The client keeps to the true Min: right, though the server echoes its own build again.
    const own = await judged(proxy, () => call(proxy, server, AUTHOR, `method=open+service%3a${OFFICE_2007}&service%5fname=%2f`));
    assert.deepEqual(codesOf(own), ['echo-mismatch']);
    assert.match(verdictOf(own, 'echo-mismatch').message, /Min\(client 12\.0\.0\.6415, server 14\.0\.0\.4730\) is 12\.0\.0\.6415/);
    // A client that uses what the server answered did as MS-FPSE 1.7.1 says.
    const followed = await judged(proxy, () => call(proxy, server, AUTHOR, `method=open+service%3a${ALFRESCO}&service%5fname=%2f`));
    assert.deepEqual(codesOf(followed), ['accepted']);
    // Above both: that ignores the negotiation.
    const above = await judged(proxy, () => call(proxy, server, AUTHOR, 'method=open+service%3a15.0.0.4420&service%5fname=%2f'));
    assert.equal(verdictOf(above, 'client-ignored-negotiated').level, 'violation');
    assert.match(verdictOf(above, 'client-ignored-negotiated').message, /sent 15\.0\.0\.4420, above the negotiated 12\.0\.0\.6415 and the server's answer 14\.0\.0\.4730/);
  });

  it('a _vti_inf.html GET starts over, and another client (User-Agent) is not judged against this one', async (t) => {
    const server = await emulator(t, ALFRESCO, '16.0.0.4000');
    const proxy = await forwardProxy(t);
    await judged(proxy, () => call(proxy, server, SHTML, `method=server+version%3a${OFFICE_2007}&service%5fname=%2f`));
    const other = await judged(proxy, () => call(proxy, server, AUTHOR, 'method=open+service%3a15.0.0.4420&service%5fname=%2f', 'MSFrontPage/15.0'));
    assert.ok(!codesOf(other).includes('client-ignored-negotiated'), codesOf(other).join(', '));
    const same = await judged(proxy, () => call(proxy, server, AUTHOR, 'method=open+service%3a15.0.0.4420&service%5fname=%2f'));
    assert.ok(codesOf(same).includes('client-ignored-negotiated'), codesOf(same).join(', '));

    const discovery = await judged(proxy, () => get(proxy, server, '/_vti_inf.html'));
    assert.equal(protocolOf(discovery).operation, '_vti_inf.html');
    const after = await judged(proxy, () => call(proxy, server, AUTHOR, 'method=open+service%3a15.0.0.4420&service%5fname=%2f'));
    assert.ok(!codesOf(after).includes('client-ignored-negotiated'), codesOf(after).join(', '));
  });

  it("nmap's defaults: GET //_vti_inf.html answered 404 is no discovery; open service:FPVersion=\"…\" negotiates nothing and says it has a problem", async (t) => {
    const dir = tempDir(t, 'vp-verdicts-');
    const server = await emulator(t, '5.0.2.2623');
    const proxy = closeLater(t, await startProxy({ record: { path: dir, captureBytes: 1024 * 1024, rotateBytes: 256 * 1024 * 1024 } }));
    const miss = await judged(proxy, () => get(proxy, server, '//_vti_inf.html'));
    assert.equal(server.requests[0]?.url, '//_vti_inf.html');
    assert.equal(miss.response?.statusCode, 404);
    assert.equal(miss.protocol, undefined);
    assert.equal(await protoLogged(proxy, miss), undefined);

    const open = await judged(proxy, () => call(proxy, server, AUTHOR, 'method=open+service:FPVersion="5.0.2.2623"&service_name=/', NMAP_AGENT));
    const p = protocolOf(open);
    assert.equal(p.versions.negotiated, undefined);
    assert.equal(p.versions.echo, '5.0.2.2623');
    assert.deepEqual(codesOf(open), []);
    assert.ok(p.problems.some((m) => m.startsWith(NMAP_PROBLEM)), p.problems.join(' | '));
    assert.equal(await protoLogged(proxy, open), `fpse "open service" echo=5.0.2.2623 problems=${p.problems.length}`);
    await proxy.close();

    // The HAR carries the record as it is: no negotiation, the echo, the problems.
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await writeHar([dir], out);
    const har = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { log: { entries: Array<{ request: { url: string }; _versions?: { versions: object; summary: string; problems: string[] } }> } };
    const [harMiss, harOpen] = har.log.entries;
    assert.equal(harMiss?._versions, undefined);
    assert.deepEqual(harOpen?._versions?.versions, { echo: '5.0.2.2623' });
    assert.equal(harOpen?._versions?.summary, p.summary);
    assert.deepEqual(harOpen?._versions?.problems, p.problems);

    // The report: the 404 is plain traffic, the problem is a decoding problem quoted as sent.
    const report = await buildReport([dir]);
    assert.deepEqual(report.totals.byProtocol, { http: 1, fpse: 1 });
    const conv = report.hosts[0]!.conversations[0]!;
    assert.equal(conv.negotiated, undefined);
    for (const text of [formatMarkdown(report), formatHtml(report)]) {
      assert.match(text, /decoding problem \(×1\): version ('|&#39;)FPVersion=("|&quot;)5\.0\.2\.2623/);
      assert.doesNotMatch(text, /could not decode|\\"/);
    }
  });
});
