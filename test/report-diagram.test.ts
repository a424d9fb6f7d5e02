/**
 * Sequence diagrams in `./proxy report --html`, end to end: the shipped FPSE simulator behind a
 * recording proxy running a shipped scenario (rules/fpse-downgrade-to-fp2002.yaml, then
 * rules/fpse-reject-old-client.yaml), `./proxy simulate fpse-client` driven through it as a child
 * process, the proxy closed (flushing the journal), and `./proxy report --html` run on the
 * journal. The SVG in the page is parsed as XML and must name what each side said: the client's
 * version, the server's true build and the rewritten one, and the proxy's refusal.
 *
 * Every server and proxy is closed by the test that started it; the children are bounded by
 * runCli's timeout.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { ROOT, runCli } from './helpers/process.js';
import { closeLater, fpseServer } from './helpers/protocol.js';
import { startProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/temp.js';

const MiB = 1024 * 1024;
const CLIENT = '12.0.0.6415';
/** What the simulator is, unless a rule says otherwise (helpers/protocol.ts). */
const SERVER = '14.0.0.6029';
/** What rules/fpse-downgrade-to-fp2002.yaml makes it look like. */
const FP2002 = '5.0.2.6790';

interface Diagram {
  doc: Document;
  texts: string[];
  desc: string;
}

/** Runs the simulated Office client through a proxy recording under `scenario`, then `./proxy report --html`; the page's diagrams. */
async function reportOf(t: TestContext, scenario: string): Promise<{ html: string; diagrams: Diagram[] }> {
  const server = await fpseServer(t);
  const dir = tempDir(t, 'vp-diagram-');
  const proxy = closeLater(t, await startProxy({ rules: [join(ROOT, 'rules', `${scenario}.yaml`)], seed: 42, record: { path: dir, captureBytes: MiB, rotateBytes: 256 * MiB } }));
  const client = await runCli(['simulate', 'fpse-client', '--server', server.url, '--via', proxy.url, '--version', CLIENT], { timeoutMs: 30_000 });
  assert.equal(client.code, 0, client.stderr);
  await proxy.close();

  const report = await runCli(['report', '--html', dir], { timeoutMs: 30_000 });
  assert.equal(report.code, 0, report.stderr);
  const html = report.stdout;
  const diagrams = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map(([svg]) => {
    const doc = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') throw new Error(`the diagram is not well-formed XML: ${level}: ${message}`);
      },
    }).parseFromString(svg, 'image/svg+xml');
    const texts = Array.from(doc.getElementsByTagName('text')).map((e: Element) => e.textContent ?? '');
    const desc = doc.getElementsByTagName('desc')[0]?.textContent ?? '';
    return { doc, texts, desc };
  });
  return { html, diagrams };
}

/** The texts of the diagram that include `part`, for asserting and for failure messages. */
function withText(d: Diagram, part: string): string[] {
  return d.texts.filter((t) => t.includes(part));
}

describe('report --html: negotiation sequence diagrams', () => {
  it('a downgrade: the client’s version, the server’s true build, the proxy rewriting it, the negotiated version', { timeout: 60_000 }, async (t) => {
    const { html, diagrams } = await reportOf(t, 'fpse-downgrade-to-fp2002');
    assert.equal(diagrams.length, 1, 'one diagram for the one FPSE conversation');
    const d = diagrams[0]!;
    const all = d.texts.join('\n');
    assert.equal(d.doc.documentElement?.getAttribute('role'), 'img');

    // client -> proxy -> server: the client's own version, unchanged on the way.
    assert.deepEqual(withText(d, `server version · ${CLIENT}`).length, 2, all);
    // server -> proxy: the true build; the method line Min(client, server) = the client's (MS-FPSE 1.7.1).
    assert.ok(d.texts.some((t) => t.includes(`server ${SERVER}`)), all);
    // The proxy changing the value, and the client getting the new one.
    assert.ok(withText(d, `✎ rule fpse-looks-like-fp2002: response body: server version ${SERVER} → ${FP2002}`).length === 1, all);
    assert.ok(withText(d, `✎ rule fpse-looks-like-fp2002: response body: method line ${CLIENT} → ${FP2002}`).length === 1, all);
    assert.ok(withText(d, `method line ${FP2002}, server ${FP2002}`).length === 1, all);
    assert.ok(withText(d, `⇄ negotiated ${FP2002}`).length === 1, all);
    // Later calls carry the negotiated version, as the client must (MS-FPSE 1.7.1).
    assert.ok(withText(d, `open service · ${FP2002}`).length === 2, all);
    assert.deepEqual(withText(d, '⚠ violation'), []);
    // In words too, for a screen reader, in the order of the calls.
    assert.match(d.desc, new RegExp(`2\\. server version: client sends proxy server version \\(${CLIENT}\\); proxy sends server server version \\(${CLIENT}\\); server sends proxy 200 OK \\(method line ${CLIENT}, server ${SERVER}\\)`));
    // The page's CSP is unchanged: the diagram is inline SVG, nothing loads.
    assert.match(html, /content="default-src 'none'; style-src 'unsafe-inline'"/);
  });

  it('a rejection: the proxy answers 262156 itself, the server never sees the call, the violation marked', { timeout: 60_000 }, async (t) => {
    const { diagrams } = await reportOf(t, 'fpse-reject-old-client');
    assert.equal(diagrams.length, 1);
    const d = diagrams[0]!;
    const all = d.texts.join('\n');
    assert.ok(withText(d, `server version · ${CLIENT}`).length === 1, all);
    assert.ok(withText(d, '✖ rule fpse-refuse-server-version: reject → FPSE status 262156 (0x0004000C, client too old)').length === 1, all);
    assert.ok(withText(d, '200 OK from the proxy').length === 1, all);
    assert.ok(d.texts.some((t) => t.startsWith('⚠ violation rejected-client-too-old')), all);
    // The refused call has no arrow to or from the server; the discovery GET before it does.
    const calls = d.desc.split(/ (?=\d+\. )/);
    const refused = calls.find((c) => c.startsWith('2. server version: ')) ?? '';
    assert.match(refused, /^2\. server version: client sends proxy server version \(12\.0\.0\.6415\); the proxy notes rule fpse-refuse-server-version/, d.desc);
    assert.doesNotMatch(refused, /server sends|sends server/, d.desc);
    assert.match(d.desc, /1\. _vti_inf\.html: client sends proxy _vti_inf\.html; proxy sends server _vti_inf\.html; server sends proxy 200 OK/);
  });
});
