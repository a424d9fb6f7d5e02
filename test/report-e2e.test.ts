/**
 * The negotiation report from a real recording: FPSE and MAPI/HTTP simulator conversations and a
 * plain request go through a recording proxy, the proxy closes (flushing the journal), and the
 * report built from the journal must show the builds, negotiated versions and verdict codes of
 * the records the proxy emitted, per host and conversation, without the secrets sent.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Exchange } from '../src/core/exchange.js';
import { buildReport, hostOf, type Report } from '../src/record/report.js';
import { formatHtml } from '../src/record/report-html.js';
import { formatMarkdown } from '../src/record/report-markdown.js';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { runMapiClient } from '../src/simulators/mapi-client.js';
import { proxiedRequest } from './helpers/client.js';
import { fpseServer, logger, mapiServer } from './helpers/protocol.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/temp.js';

const MiB = 1024 * 1024;
const SECRET = 'dXNlcjpzM2NyZXQtcmVwb3J0';

interface Expected {
  client?: string;
  server?: string;
  negotiated?: string;
  /** `level code` → count */
  verdicts: Map<string, number>;
  exchanges: number;
}

/** What the report should say, worked out from the proxy's own records. */
function expectedFrom(exchanges: Exchange[]): Map<string, Expected> {
  const out = new Map<string, Expected>();
  for (const x of [...exchanges].sort((a, b) => a.timings.start - b.timings.start)) {
    const p = x.protocol;
    if (p === undefined) continue;
    const key = `${hostOf(x)} ${p.protocol} ${p.conversation}`;
    const e = out.get(key) ?? { verdicts: new Map<string, number>(), exchanges: 0 };
    out.set(key, e);
    e.exchanges += 1;
    if (p.versions.client !== undefined) e.client = p.versions.client;
    if (p.versions.server !== undefined) e.server = p.versions.server;
    if (p.versions.negotiated !== undefined) e.negotiated = p.versions.negotiated;
    for (const v of p.verdicts) e.verdicts.set(`${v.level} ${v.code}`, (e.verdicts.get(`${v.level} ${v.code}`) ?? 0) + 1);
  }
  return out;
}

function shownIn(report: Report): Map<string, Expected> {
  const out = new Map<string, Expected>();
  for (const h of report.hosts) {
    for (const c of h.conversations) {
      const verdicts = new Map<string, number>();
      for (const v of c.verdicts) verdicts.set(`${v.level} ${v.code}`, (verdicts.get(`${v.level} ${v.code}`) ?? 0) + v.count);
      const e: Expected = { verdicts, exchanges: c.exchanges };
      if (c.client !== undefined) e.client = c.client;
      if (c.server !== undefined) e.server = c.server;
      if (c.negotiated !== undefined) e.negotiated = c.negotiated;
      out.set(`${h.host} ${c.protocol} ${c.conversation}`, e);
    }
  }
  return out;
}

async function recordingProxy(t: TestContext, dir: string): Promise<TestProxy> {
  const proxy = await startProxy({ record: { path: dir, captureBytes: MiB, rotateBytes: 256 * MiB } });
  t.after(() => proxy.close());
  return proxy;
}

describe('report from a recording', () => {
  it('shows the versions and verdict codes the proxy recorded, per host and conversation', async (t) => {
    const dir = tempDir(t, 'vp-report-');
    const good = await fpseServer(t);
    const echoesWrong = await fpseServer(t, { echo: { fixed: '14.0.0.6029' } });
    const strict = await fpseServer(t);
    const mail = await mapiServer(t);
    const proxy = await recordingProxy(t, dir);

    const accepted = await runFpseClient({ server: good.url, via: proxy.url, version: '12.0.0.6415', logger });
    assert.equal(accepted.negotiated, '12.0.0.6415');
    await runFpseClient({ server: echoesWrong.url, via: proxy.url, version: '12.0.0.6415', logger });
    const rejected = await runFpseClient({ server: strict.url, via: proxy.url, version: '3.0.2.1000', logger });
    assert.equal(rejected.rejected, true);
    await runMapiClient({ server: mail.url, via: proxy.url, client: 'Outlook/16.0.15928.20006', authorization: `Basic ${SECRET}`, logger });
    const plain = await proxiedRequest(proxy.port, `${good.url}/favicon.ico`, { timeoutMs: 5000 });
    assert.ok(plain.statusCode > 0);

    const recorded = proxy.exchanges.slice();
    await proxy.close();
    const report = await buildReport([dir]);

    assert.equal(report.totals.exchanges, recorded.length);
    assert.equal(report.totals.problems, 0);
    assert.equal(report.runs.length, 1);
    assert.equal(report.runs[0]!.redaction.enabled, true);
    assert.deepEqual(shownIn(report), expectedFrom(recorded));

    // The same, said concretely, so a wrong record cannot agree with a wrong report.
    const conv = (url: string, protocol: string): Report['hosts'][number]['conversations'][number] => {
      const host = report.hosts.find((h) => h.host === new URL(url).host);
      assert.ok(host, `no host for ${url}`);
      const found = host.conversations.filter((c) => c.protocol === protocol);
      assert.equal(found.length, 1, `${protocol} conversations on ${url}`);
      return found[0]!;
    };
    const ok = conv(good.url, 'fpse');
    assert.equal(ok.client, '12.0.0.6415');
    assert.equal(ok.server, '14.0.0.6029');
    assert.equal(ok.negotiated, '12.0.0.6415');
    assert.deepEqual(ok.verdicts.map((v) => v.code), ['accepted']);
    assert.deepEqual(Object.keys(ok.operations).sort(), ['_vti_inf.html', 'open service', 'server version', 'url to web url']);
    const wrong = conv(echoesWrong.url, 'fpse');
    assert.equal(wrong.verdicts[0]!.code, 'echo-mismatch');
    assert.equal(wrong.verdicts[0]!.level, 'violation');
    // The negotiation is the true Min (MS-FPSE 1.7.1), not the wrong echo; the client that used
    // the echo it was given did as told and is not faulted (issue 20).
    assert.equal(wrong.negotiated, '12.0.0.6415');
    assert.deepEqual(wrong.verdicts.map((v) => v.code), ['echo-mismatch', 'accepted']);
    const old = conv(strict.url, 'fpse');
    assert.equal(old.client, '3.0.2.1000');
    assert.deepEqual(old.verdicts.map((v) => [v.code, v.level]), [['rejected-client-too-old', 'ok']]);
    const mapi = conv(mail.url, 'mapihttp');
    assert.equal(mapi.client, 'Outlook/16.0.15928.20006');
    assert.equal(mapi.server, 'Exchange/15.02.1544.014');
    assert.match(mapi.conversation, /^clientinfo \{[0-9A-F-]+\}$/);
    assert.ok(mapi.operations.Connect !== undefined && mapi.operations.Connect >= 1, JSON.stringify(mapi.operations));
    const plainHost = report.hosts.find((h) => h.host === new URL(good.url).host)!;
    assert.ok(plainHost.plain.exchanges >= 1);

    const md = formatMarkdown(report);
    assert.match(md, /\*\*⚠ echo-mismatch ×\d+\*\*/);
    assert.match(md, /\| 12\.0\.0\.6415 \| 14\.0\.0\.6029 \| 12\.0\.0\.6415 \| accepted ×3 \|/);
    assert.match(md, /\| Outlook\/16\.0\.15928\.20006 \| Exchange\/15\.02\.1544\.014 \| — \|/);
    assert.match(md, /Secrets were redacted/);
    // The credential the MAPI client sent appears in no form of the report.
    for (const text of [md, formatHtml(report), JSON.stringify(report)]) assert.ok(!text.includes(SECRET), 'the Authorization value leaked into the report');
  });

  it('a --no-redact recording makes the report say so at the top', async (t) => {
    const dir = tempDir(t, 'vp-report-');
    const good = await fpseServer(t);
    const proxy = await startProxy({ record: { path: dir, captureBytes: MiB, rotateBytes: 256 * MiB }, redaction: { enabled: false, extraHeaders: [] } });
    t.after(() => proxy.close());
    await runFpseClient({ server: good.url, via: proxy.url, version: '12.0.0.6415', logger });
    await proxy.close();
    const report = await buildReport([dir]);
    assert.equal(report.runs[0]!.redaction.enabled, false);
    assert.match(formatMarkdown(report).split('\n')[2]!, /CONTAINS SECRETS: recorded with --no-redact/);
  });
});
