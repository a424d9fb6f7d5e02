/**
 * The negotiation report on hand-built journals: grouping by host + protocol + conversation,
 * builds, verdicts (violations first), rules, errors, runs and redaction, torn lines, the
 * memory caps, and escaping in the markdown and HTML formats.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Exchange, ProtocolRecord, RuleRecord, TrafficError, Verdict } from '../../src/core/exchange.js';
import { exchangeLine, type RunLine } from '../../src/record/entry.js';
import { decodeFpseFirstLine } from '../../src/protocols/fpse-request.js';
import type { JournalProblem } from '../../src/record/journal-read.js';
import { buildReport, type ConversationReport, type Report } from '../../src/record/report.js';
import { MATCH_ALL, parseFilter } from '../../src/core/filter.js';
import { formatHtml } from '../../src/record/report-html.js';
import { formatMarkdown } from '../../src/record/report-markdown.js';

const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const SHAREPOINT = 'http://sp.example:8080';
const EXCHANGE = 'https://mail.example';

function run(overrides: Partial<RunLine> = {}): RunLine {
  return { v: 1, type: 'run', time: T0, tool: '0.1.0', mode: 'forward', captureBytes: 1048576, redaction: { enabled: true, extraHeaders: [] }, part: 1, ...overrides };
}

let sequence = 0;

interface Spec {
  url: string;
  at: number;
  protocol?: Partial<ProtocolRecord>;
  rules?: RuleRecord[];
  error?: TrafficError;
  kind?: Exchange['kind'];
  hints?: string[];
}

function exchange(spec: Spec): object {
  sequence += 1;
  const x: Exchange = {
    id: `test-${sequence}`,
    kind: spec.kind ?? 'http',
    client: { address: '127.0.0.1', port: 50000, connection: 1 },
    url: spec.url,
    request: { method: 'POST', url: spec.url, httpVersion: '1.1', rawHeaders: [] },
    response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' },
    bytes: { request: 10, response: 20 },
    timings: { start: spec.at, end: spec.at + 5 },
  };
  if (spec.protocol !== undefined) {
    x.protocol = { protocol: 'fpse', summary: '', conversation: '127.0.0.1 sp.example:8080', operation: 'server version', versions: {}, facts: {}, verdicts: [], problems: [], ...spec.protocol };
  }
  if (spec.rules !== undefined) x.rules = spec.rules;
  if (spec.error !== undefined) x.error = spec.error;
  if (spec.hints !== undefined) x.hints = spec.hints;
  return exchangeLine(x);
}

const ACCEPTED: Verdict = { code: 'accepted', level: 'ok', message: 'the server answered on 12.0.0.6415 = Min(client 12.0.0.6415, server 14.0.0.6029), as MS-FPSE 1.7.1 requires' };
const TOO_OLD: Verdict = { code: 'rejected-client-too-old', level: 'ok', message: 'the server refused the client 3.0.2.1000 as older than 4.0.2.2611, as MS-FPSE 1.7.1 requires' };
const ECHO_MISMATCH: Verdict = { code: 'echo-mismatch', level: 'violation', message: 'the method line says 14.0.0.6029, but Min(client 12.0.0.6415, server 14.0.0.6029) is 12.0.0.6415 (MS-FPSE 1.7.1)' };
const MAPI_OK: Verdict = { code: 'ok', level: 'ok', message: 'both builds stated, as MS-OXCMAPIHTTP requires' };

function fpse(at: number, operation: string, verdicts: Verdict[], versions: ProtocolRecord['versions'], conversation = '127.0.0.1 sp.example:8080', more: Partial<Spec> = {}): object {
  return exchange({ url: `${SHAREPOINT}/_vti_bin/shtml.dll/_vti_rpc`, at, protocol: { protocol: 'fpse', operation, verdicts, versions, conversation }, ...more });
}

function mapi(at: number, operation: string, verdicts: Verdict[], versions: ProtocolRecord['versions'], more: Partial<Spec> = {}): object {
  return exchange({ url: `${EXCHANGE}/mapi/emsmdb/?MailboxId=x@example.com`, at, protocol: { protocol: 'mapihttp', operation, verdicts, versions, conversation: 'clientinfo {2F7A1C1E-0000-4000-8000-000000000001}' }, ...more });
}

/** Writes a journal file (lines as NDJSON, then `tail` as it is) into a folder removed after the test. */
function journal(t: TestContext, lines: object[], tail = '', name = 'a.ndjson'): string {
  const dir = mkdtempSync(join(tmpdir(), 'report-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, lines.map((l) => `${JSON.stringify(l)}\n`).join('') + tail);
  return file;
}

function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `expected one ${what}, got ${items.length}`);
  return items[0]!;
}

function conversation(report: Report, host: string, protocol: ConversationReport['protocol']): ConversationReport {
  const h = report.hosts.find((x) => x.host === host);
  assert.ok(h, `no host ${host}; hosts: ${report.hosts.map((x) => x.host).join(', ')}`);
  return only(h.conversations.filter((c) => c.protocol === protocol), `${protocol} conversation on ${host}`);
}

/** Markdown table rows (`| … |`) whose first cell contains `first`. */
function tableRow(markdown: string, first: string): string {
  const line = markdown.split('\n').find((l) => l.startsWith('| ') && l.split(' | ')[0]!.includes(first));
  assert.ok(line, `no table row for ${first} in:\n${markdown}`);
  return line;
}

/** Cells of a table row, splitting on bars that are not escaped. */
function cells(row: string): string[] {
  return row.slice(2, -2).split(/(?<!\\) \| /);
}

describe('buildReport', () => {
  it('an accepted FPSE conversation: builds, negotiated version, operations, verdict counts', async (t) => {
    const versions = { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' };
    const file = journal(t, [run(), fpse(T0 + 1000, 'server version', [ACCEPTED], versions), fpse(T0 + 2000, 'open service', [ACCEPTED], versions), fpse(T0 + 3000, 'url to web url', [ACCEPTED], versions)]);
    const report = await buildReport([file], { now: new Date(T0 + 9000) });
    assert.equal(report.generated, '2024-05-01T10:00:09.000Z');
    assert.deepEqual(report.journals, [file]);
    const c = conversation(report, 'sp.example:8080', 'fpse');
    assert.equal(c.conversation, '127.0.0.1 sp.example:8080');
    assert.equal(c.client, '12.0.0.6415');
    assert.equal(c.server, '14.0.0.6029');
    assert.equal(c.negotiated, '12.0.0.6415');
    assert.deepEqual(c.operations, { 'open service': 1, 'server version': 1, 'url to web url': 1 });
    assert.deepEqual(c.verdicts, [{ ...ACCEPTED, count: 3, firstExchange: c.verdicts[0]!.firstExchange }]);
    assert.match(c.verdicts[0]!.firstExchange, /^test-\d+$/);
    assert.equal(c.exchanges, 3);
    assert.equal(c.firstSeen, T0 + 1000);
    assert.equal(c.lastSeen, T0 + 3005);
    assert.deepEqual(c.clientsSeen, ['12.0.0.6415']);
    assert.deepEqual(report.totals.byProtocol, { fpse: 3 });
    assert.equal(report.totals.violations, 0);
    assert.equal(report.totals.conversations, 1);

    const md = formatMarkdown(report);
    const row = cells(tableRow(md, '127.0.0.1 sp.example:8080'));
    assert.deepEqual(row, ['127.0.0.1 sp.example:8080', '12.0.0.6415', '14.0.0.6029', '12.0.0.6415', 'accepted ×3', '—', '—', '2024-05-01T10:00:01.000Z', '2024-05-01T10:00:03.005Z']);
    assert.match(md, /No protocol violations\. No rule applied; no exchange ended in an error\./);
    assert.match(md, /3 exchanges \(3 FPSE\) with 1 host/);
    // The message is listed once in the details, not once per exchange.
    assert.equal(md.split(ACCEPTED.message).length - 1, 1);
  });

  it('rejected-client-too-old and echo-mismatch: violations sort first and are flagged', async (t) => {
    const file = journal(t, [
      run(),
      fpse(T0 + 1, 'server version', [TOO_OLD], { client: '3.0.2.1000', server: '14.0.0.6029' }, '10.0.0.5 sp.example:8080'),
      fpse(T0 + 2, 'server version', [ACCEPTED], { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }),
      fpse(T0 + 3, 'open service', [ECHO_MISMATCH], { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '14.0.0.6029' }),
      fpse(T0 + 4, 'open service', [ACCEPTED], { client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }),
    ]);
    const report = await buildReport([file]);
    const host = report.hosts[0]!;
    assert.equal(host.conversations.length, 2);
    const [old, mismatch] = host.conversations;
    assert.equal(old!.conversation, '10.0.0.5 sp.example:8080');
    assert.deepEqual(old!.verdicts.map((v) => [v.code, v.level, v.count]), [['rejected-client-too-old', 'ok', 1]]);
    assert.equal(old!.negotiated, undefined);
    assert.deepEqual(mismatch!.verdicts.map((v) => [v.code, v.level, v.count]), [['echo-mismatch', 'violation', 1], ['accepted', 'ok', 2]]);
    assert.equal(mismatch!.verdicts[0]!.message, ECHO_MISMATCH.message);
    assert.equal(report.totals.violations, 1);

    const md = formatMarkdown(report);
    assert.equal(cells(tableRow(md, '127.0.0.1 sp.example'))[4], '**⚠ echo-mismatch ×1**, accepted ×2');
    assert.equal(cells(tableRow(md, '10.0.0.5'))[4], 'rejected-client-too-old ×1');
    assert.match(md, /1 protocol violation in 1 conversation \(sp\.example:8080\)\./);
    assert.match(md, /\*\*⚠ violation\*\* `echo-mismatch` ×1 \(first in exchange test-\d+\): the method line says 14\.0\.0\.6029/);
  });

  it("decoding problems are named as such, quotes as sent: nmap's open service with FPVersion=\"…\" (issue 20)", async (t) => {
    // The problem exactly as fpse-request.ts words it for nmap's first line.
    const nmap = decodeFpseFirstLine('method=open+service:FPVersion="5.0.2.2623"&service_name=/').problems[0]!;
    const open = exchange({ url: `${SHAREPOINT}/_vti_bin/_vti_aut/author.dll`, at: T0 + 1, protocol: { operation: 'open service', versions: { echo: '5.0.2.2623' }, problems: [nmap] } });
    const file = journal(t, [run(), open]);
    const report = await buildReport([file]);
    const c = conversation(report, 'sp.example:8080', 'fpse');
    assert.equal(c.negotiated, undefined, 'an echo is no negotiation');
    const md = formatMarkdown(report);
    assert.match(md, /^- decoding problem \(×1\): version 'FPVersion="5\.0\.2\.2623"' looks like a quoted FPVersion assignment/m);
    assert.doesNotMatch(md, /could not decode/);
    assert.doesNotMatch(md, /\\"/);
    const html = formatHtml(report);
    assert.match(html, /<li>decoding problem \(×1\): version 'FPVersion=&quot;5\.0\.2\.2623&quot;'|<li>decoding problem \(×1\): version &#39;FPVersion=&quot;5\.0\.2\.2623&quot;&#39;/);
    assert.doesNotMatch(html, /could not decode|\\/);
  });

  it('MAPI/HTTP: the X-ServerApplication build, a client build that changed, X-ResponseCode notices', async (t) => {
    const first = { client: 'Outlook/16.0.15928.20006', server: 'Exchange/15.02.1544.014' };
    const changed: Verdict = { code: 'build-changed-mid-session', level: 'violation', message: 'the client said Outlook/16.0.15928.20006 earlier in this session and now Outlook/16.0.17000.1' };
    const notice: Verdict = { code: 'context-not-found', level: 'notice', message: 'X-ResponseCode 10 (Context Not Found) in the response head' };
    const file = journal(t, [
      run(),
      mapi(T0 + 10, 'Connect', [MAPI_OK], first),
      mapi(T0 + 20, 'Execute', [MAPI_OK], first),
      mapi(T0 + 30, 'Execute', [changed, notice], { client: 'Outlook/16.0.17000.1', server: 'Exchange/15.02.1544.014' }),
    ]);
    const report = await buildReport([file]);
    const c = conversation(report, 'mail.example', 'mapihttp');
    assert.equal(c.server, 'Exchange/15.02.1544.014');
    assert.equal(c.client, 'Outlook/16.0.17000.1');
    assert.deepEqual(c.clientsSeen, ['Outlook/16.0.15928.20006', 'Outlook/16.0.17000.1']);
    assert.deepEqual(c.serversSeen, ['Exchange/15.02.1544.014']);
    assert.equal(c.negotiated, undefined);
    assert.deepEqual(c.operations, { Execute: 2, Connect: 1 });
    assert.deepEqual(c.verdicts.map((v) => [v.code, v.level, v.count]), [['build-changed-mid-session', 'violation', 1], ['context-not-found', 'notice', 1], ['ok', 'ok', 2]]);
    assert.equal(report.totals.notices, 1);

    const row = cells(tableRow(formatMarkdown(report), 'clientinfo'));
    assert.equal(row[1], 'Outlook/16.0.15928.20006 → Outlook/16.0.17000.1');
    assert.equal(row[2], 'Exchange/15.02.1544.014');
    assert.equal(row[3], '—');
    assert.equal(row[4], '**⚠ build-changed-mid-session ×1**, context-not-found ×1 (notice), ok ×2');
  });

  it('rules: counted per id and outcome, with up to 3 distinct changes', async (t) => {
    const rule = (after: string): RuleRecord => ({
      id: 'pin-client',
      explain: 'Match MAPI/HTTP requests, and set X-ClientApplication',
      stage: 'request-head',
      outcome: 'applied',
      changes: [{ action: 'clientApplication', target: 'X-ClientApplication', before: 'Outlook/16.0.15928.20006', after }],
    });
    const skipped: RuleRecord = { id: 'big-body', explain: 'x', stage: 'request-body', outcome: 'skipped', reason: 'the body is over the 1 MiB buffer cap', changes: [] };
    const versions = { client: 'Outlook/15.0.4569.1000', server: 'Exchange/15.02.1544.014' };
    const lines = ['Outlook/15.0.1', 'Outlook/15.0.1', 'Outlook/15.0.2', 'Outlook/15.0.3', 'Outlook/15.0.4'].map((after, i) => mapi(T0 + i, 'Execute', [MAPI_OK], versions, { rules: [rule(after)] }));
    const file = journal(t, [run(), ...lines, mapi(T0 + 9, 'Execute', [MAPI_OK], versions, { rules: [skipped] })]);
    const report = await buildReport([file]);
    const c = conversation(report, 'mail.example', 'mapihttp');
    assert.equal(report.totals.rulesApplied, 5);
    assert.match(formatMarkdown(report), /Rules applied 5 times;/);
    assert.deepEqual(c.rules.map((r) => [r.id, r.outcome, r.count]), [['pin-client', 'applied', 5], ['big-body', 'skipped', 1]]);
    assert.deepEqual(c.rules[0]!.changes.map((ch) => ch.after), ['Outlook/15.0.1', 'Outlook/15.0.2', 'Outlook/15.0.3']);
    assert.equal(c.rules[1]!.reason, 'the body is over the 1 MiB buffer cap');

    const md = formatMarkdown(report);
    assert.equal(cells(tableRow(md, 'clientinfo'))[5], 'pin-client ×5');
    assert.match(md, /rule `pin-client` applied ×5: clientApplication X-ClientApplication: "Outlook\/16\.0\.15928\.20006" → "Outlook\/15\.0\.1"; /);
    assert.match(md, /rule `big-body` skipped ×1: because the body is over the 1 MiB buffer cap/);
  });

  it('errors: grouped by code and phase, on conversations and on plain traffic', async (t) => {
    const reset: TrafficError = { code: 'ECONNRESET', phase: 'response-head', message: 'the upstream reset the connection' };
    const file = journal(t, [
      run(),
      fpse(T0, 'server version', [], { client: '12.0.0.6415' }, undefined, { error: reset }),
      fpse(T0 + 1, 'server version', [], { client: '12.0.0.6415' }, undefined, { error: { ...reset, message: 'another wording' } }),
      exchange({ url: `${SHAREPOINT}/favicon.ico`, at: T0 + 2, error: { code: 'ECONNREFUSED', phase: 'connect', message: 'refused' } }),
      exchange({ url: `${SHAREPOINT}/index.html`, at: T0 + 3 }),
    ]);
    const report = await buildReport([file]);
    const host = only(report.hosts, 'host');
    const c = only(host.conversations, 'conversation');
    assert.deepEqual(c.errors, [{ code: 'ECONNRESET', phase: 'response-head', message: 'the upstream reset the connection', count: 2 }]);
    assert.deepEqual(host.plain, { exchanges: 2, tunnels: 0, upgrades: 0, errors: 1, firstSeen: T0 + 2, lastSeen: T0 + 8 });
    assert.equal(report.totals.errors, 3);
    assert.match(formatMarkdown(report), / 3 exchanges ended in an error\./);
    assert.deepEqual(report.totals.byProtocol, { fpse: 2, http: 2 });
    const md = formatMarkdown(report);
    assert.equal(cells(tableRow(md, '127.0.0.1 sp'))[6], 'ECONNRESET ×2');
    assert.match(md, /Other traffic: 2 exchanges, 1 error, 2024-05-01T10:00:00\.002Z to 2024-05-01T10:00:00\.008Z\./);
    assert.match(md, /- error ECONNRESET in response-head ×2: the upstream reset the connection/);
  });

  it('plain-only hosts go to one table; a CONNECT to host:443 is the same host as https://host/', async (t) => {
    const file = journal(t, [
      run(),
      exchange({ url: 'mail.example:443', kind: 'tunnel', at: T0 }),
      mapi(T0 + 1, 'Connect', [MAPI_OK], { client: 'Outlook/16.0.1', server: 'Exchange/15.02.1544.014' }),
      exchange({ url: 'http://Cdn.Example:80/a.js', at: T0 + 2 }),
      exchange({ url: 'http://cdn.example/b.js', at: T0 + 3 }),
      exchange({ url: 'ws.example:8443', kind: 'tunnel', at: T0 + 4 }),
    ]);
    const report = await buildReport([file]);
    assert.deepEqual(report.hosts.map((h) => h.host), ['cdn.example', 'mail.example', 'ws.example:8443']);
    const mail = report.hosts[1]!;
    assert.equal(mail.plain.tunnels, 1);
    assert.equal(mail.conversations.length, 1);
    assert.equal(report.hosts[0]!.plain.exchanges, 2);
    const md = formatMarkdown(report);
    assert.match(md, /## Other hosts \(no FPSE or MAPI\/HTTP traffic\)/);
    assert.deepEqual(cells(tableRow(md, 'cdn.example')).slice(0, 3), ['cdn.example', '2 exchanges', '0']);
    assert.deepEqual(cells(tableRow(md, 'ws.example')).slice(0, 2), ['ws.example:8443', '1 exchange (1 tunnel)']);
    assert.match(md, /## mail\.example\n\nOther traffic: 1 exchange \(1 tunnel\)/);
  });

  it('a torn last line is counted as a problem and the rest still reports', async (t) => {
    const seen: JournalProblem[] = [];
    const file = journal(t, [run(), fpse(T0, 'server version', [ACCEPTED], { client: '12.0.0.6415' })], '{"v":1,"type":"exchange","id":"cut');
    const report = await buildReport([file], { onProblem: (p) => seen.push(p) });
    assert.equal(report.totals.exchanges, 1);
    assert.equal(report.totals.problems, 1);
    assert.equal(seen.length, 1);
    assert.deepEqual(report.problems, seen);
    assert.equal(report.problems[0]!.line, 3);
    assert.match(report.problems[0]!.message, /cut short/);
    const md = formatMarkdown(report);
    assert.match(md, /1 journal line could not be read/);
    assert.match(md, /## Journal problems\n\n- .*a\.ndjson:3: the last line/);
  });

  it('an exchange line without the fields the report needs is a problem, not a crash', async (t) => {
    const file = journal(t, [run(), { v: 1, type: 'exchange', id: 'x-1', url: 'http://a.example/' }, { v: 1, type: 'dropped', time: T0, count: 7, reason: 'queue full' }]);
    const report = await buildReport([file]);
    assert.equal(report.totals.exchanges, 0);
    assert.equal(report.totals.problems, 1);
    assert.match(report.problems[0]!.message, /without timings\.start/);
    assert.equal(report.totals.dropped, 7);
    assert.match(formatMarkdown(report), /dropped 7 exchanges/);
  });

  it('keeps only the first 100 problems but counts them all', async (t) => {
    const file = journal(t, [run(), ...Array.from({ length: 150 }, () => ({ not: 'journal' }))]);
    let told = 0;
    const report = await buildReport([file], { onProblem: () => (told += 1) });
    assert.equal(report.totals.problems, 150);
    assert.equal(told, 150);
    assert.equal(report.problems.length, 100);
    assert.match(formatMarkdown(report), /- … and 50 more/);
  });

  it('two runs, and the parts of a rotated run count as one', async (t) => {
    const first = journal(t, [run({ time: T0 }), fpse(T0 + 1, 'server version', [ACCEPTED], { client: '12.0.0.6415' })], '', '2024-05-01T10-00-00.ndjson');
    const part2 = join(first, '..', '2024-05-01T10-00-00.part2.ndjson');
    writeFileSync(part2, `${JSON.stringify(run({ time: T0 + 60_000, part: 2 }))}\n${JSON.stringify(fpse(T0 + 60_001, 'open service', [ACCEPTED], { client: '12.0.0.6415' }))}\n`);
    const second = join(first, '..', '2024-05-02T09-00-00.ndjson');
    writeFileSync(second, `${JSON.stringify(run({ time: T0 + 86_400_000, mode: 'reverse', target: 'http://sp.example:8080', seed: 42 }))}\n`);
    const report = await buildReport([join(first, '..')]);
    assert.deepEqual(report.journals, [first, part2, second]);
    assert.deepEqual(report.runs.map((r) => [r.file, r.time, r.mode, r.parts, r.seed]), [[first, T0, 'forward', 2, undefined], [second, T0 + 86_400_000, 'reverse', 1, 42]]);
    assert.equal(report.runs[1]!.target, 'http://sp.example:8080');
    const md = formatMarkdown(report);
    assert.match(md, /^2 runs of version-proxy 0\.1\.0 \(forward mode, reverse mode for http:\/\/sp\.example:8080\)\. Traffic from 2024-05-01T10:00:00\.001Z to 2024-05-01T10:01:00\.006Z\./m);
    assert.match(md, /Secrets were redacted \(the default headers\)\./);
    assert.doesNotMatch(md, /CONTAINS SECRETS/);
    assert.match(md, /\| 2024-05-02T10:00:00\.000Z \| 0\.1\.0 \| reverse \| http:\/\/sp\.example:8080 \| 42 \| on \|/);
  });

  it('--filter: only the exchanges it holds for, and the report says so with the count it left out', async (t) => {
    const broken = { v: 1, type: 'exchange', id: 'x-broken', url: 'http://a.example/', timings: { start: T0 } };
    const file = journal(t, [run(), fpse(T0, 'server version', [ECHO_MISMATCH], {}), fpse(T0 + 1, 'open service', [ACCEPTED], {}), mapi(T0 + 2, 'Connect', [MAPI_OK], {}), broken]);
    const parsed = parseFilter('verdict:echo-mismatch operation:"server version"');
    assert.ok(parsed.ok);
    const report = await buildReport([file], { filter: parsed.filter });
    assert.equal(report.totals.exchanges, 1);
    assert.deepEqual(report.filter, { expression: 'verdict:echo-mismatch operation:"server version"', leftOut: 3 });
    assert.deepEqual(conversation(report, 'sp.example:8080', 'fpse').verdicts.map((v) => v.code), ['echo-mismatch']);
    assert.match(formatMarkdown(report), /^Only exchanges matching `verdict:echo-mismatch operation:"server version"`; 3 left out\.$/m);
    assert.match(formatHtml(report), /<p>Only exchanges matching <code>verdict:echo-mismatch operation:&quot;server version&quot;<\/code>; 3 left out\.<\/p>/);
    // A line without a request cannot be tested for its method: left out, not a crash.
    const byMethod = parseFilter('method:post');
    assert.ok(byMethod.ok);
    const posts = await buildReport([file], { filter: byMethod.filter });
    assert.deepEqual([posts.totals.exchanges, posts.filter?.leftOut], [3, 1]);
    // No filter, or an empty one: no line, nothing left out.
    const all = await buildReport([file], { filter: MATCH_ALL });
    assert.equal(all.filter, undefined);
    assert.doesNotMatch(formatMarkdown(all), /Only exchanges matching/);
  });

  it('a --no-redact run is said loudly at the top of markdown and HTML', async (t) => {
    const file = journal(t, [run({ redaction: { enabled: false, extraHeaders: [] } }), fpse(T0, 'server version', [ACCEPTED], {})]);
    const report = await buildReport([file]);
    assert.equal(report.runs[0]!.redaction.enabled, false);
    const md = formatMarkdown(report);
    const lines = md.split('\n');
    assert.equal(lines[0], '# Negotiation report');
    assert.match(lines[2]!, /^> \*\*⚠ CONTAINS SECRETS: recorded with --no-redact\.\*\*/);
    assert.match(md, /Every run recorded with --no-redact: secrets are NOT redacted\./);
    assert.match(md, /\*\*OFF \(--no-redact\)\*\*/);
    const html = formatHtml(report);
    assert.match(html, /<body>\n<h1>Negotiation report<\/h1>\n<p class="secrets">⚠ CONTAINS SECRETS: recorded with --no-redact\./);
  });

  it('extra redacted headers are named; a journal without a run line says redaction is unknown', async (t) => {
    const withExtra = await buildReport([journal(t, [run({ redaction: { enabled: true, extraHeaders: ['X-Api-Key'] } })])]);
    assert.match(formatMarkdown(withExtra), /Secrets were redacted \(the default headers and X-Api-Key\)\./);
    const bare = await buildReport([journal(t, [fpse(T0, 'server version', [], {})])]);
    assert.equal(bare.runs.length, 0);
    assert.match(formatMarkdown(bare), /No run line was found.*Whether secrets were redacted is unknown\./);
  });

  it('memory is bounded per conversation: many distinct messages and operations fold, counts stay exact', async (t) => {
    const lines = Array.from({ length: 2000 }, (_, i) => fpse(T0 + i, `method ${i}`, [{ code: 'client-ignored-negotiated', level: 'violation', message: `the client sent 12.0.0.${i}` }], { client: `12.0.0.${i}` }));
    const report = await buildReport([journal(t, [run(), ...lines])]);
    const c = conversation(report, 'sp.example:8080', 'fpse');
    assert.equal(c.exchanges, 2000);
    assert.equal(c.verdicts.length, 5);
    assert.equal(c.verdicts.reduce((n, v) => n + v.count, 0), 2000);
    assert.equal(Object.keys(c.operations).length, 33);
    assert.equal(c.operations['(other)'], 2000 - 32);
    assert.equal(c.clientsSeen.length, 10);
    assert.equal(c.client, '12.0.0.1999');
    assert.equal(cells(tableRow(formatMarkdown(report), '127.0.0.1'))[4], '**⚠ client-ignored-negotiated ×2000**');
  });

  it('diagrams only when asked for (--html), at most 200 calls each, the rest counted', async (t) => {
    const lines = Array.from({ length: 500 }, (_, i) => fpse(T0 + i, `method ${i}`, [ACCEPTED], { client: '12.0.0.6415' }));
    const file = journal(t, [run(), ...lines]);
    assert.equal(conversation(await buildReport([file]), 'sp.example:8080', 'fpse').diagram, undefined);
    const diagram = conversation(await buildReport([file], { diagrams: true }), 'sp.example:8080', 'fpse').diagram;
    assert.ok(diagram);
    assert.equal(diagram.calls.length, 200);
    assert.equal(diagram.more, 300);
    assert.equal(diagram.calls[0]!.operation, 'method 0');
    assert.deepEqual(diagram.lanes.map((l) => l.detail), ['12.0.0.6415', undefined, 'sp.example:8080']);
  });

  it('the report survives JSON (what --json prints)', async (t) => {
    const report = await buildReport([journal(t, [run(), fpse(T0, 'server version', [ACCEPTED], { client: '12.0.0.6415' }), exchange({ url: 'http://x.example/', at: T0 })])]);
    assert.deepEqual(JSON.parse(JSON.stringify(report, null, 2)), report);
  });

  it('a missing journal is an ERR_JOURNAL with a hint', async () => {
    await assert.rejects(buildReport(['/nonexistent/journal.ndjson']), (err: Error & { code?: string; hint?: string }) => err.code === 'ERR_JOURNAL' && err.hint !== undefined);
  });
});

describe('report escaping', () => {
  const evil = '<script>alert(1)</script>';

  async function evilReport(t: TestContext, diagrams = false): Promise<Report> {
    const versions = { client: `12.0.0.6415${evil}`, server: `Exchange|${evil}`, negotiated: '12.0.0.6415' };
    const verdict: Verdict = { code: 'echo-mismatch', level: 'violation', message: `the method line says ${evil}` };
    const rule: RuleRecord = { id: 'r1', explain: '', stage: 'request-head', outcome: 'applied', changes: [{ action: 'set', target: 'X-Header', before: 'a', after: evil }] };
    const error: TrafficError = { code: 'EBAD', phase: 'response-head', message: `bad ${evil}` };
    return buildReport([
      journal(t, [
        run({ target: `http://x.example/${evil}` }),
        exchange({ url: `http://evil.example/${evil}`, at: T0, protocol: { protocol: 'fpse', operation: evil, verdicts: [verdict], versions, conversation: `127.0.0.1 ${evil}` }, rules: [rule], error, hints: [evil] }),
        exchange({ url: `${evil}:443`, kind: 'tunnel', at: T0 }),
      ]),
    ], { diagrams });
  }

  it('HTML: every value from the traffic is escaped; no script, no external resource', async (t) => {
    const html = formatHtml(await evilReport(t, true));
    assert.equal(html.split('<svg ').length - 1, 1, 'the conversation is drawn');
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<(link|img|iframe|object|embed)\b/i);
    assert.doesNotMatch(html, /\b(src|href)=/i);
    assert.doesNotMatch(html, /url\(/i);
    // Each injected place shows the text escaped: conversation, builds, verdict message, rule change, error, hint, host, target.
    const escaped = html.split('&lt;script&gt;alert(1)&lt;/script&gt;').length - 1;
    assert.ok(escaped >= 9, `escaped ${escaped} times`);
    assert.match(html, /the method line says &lt;script&gt;/);
    assert.match(html, /12\.0\.0\.6415&lt;script&gt;/);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    assert.match(html, /<\/html>\n$/);
  });

  it('markdown: values cannot open HTML or break a table row', async (t) => {
    const md = formatMarkdown(await evilReport(t));
    assert.doesNotMatch(md, /(?<!\\)<script/);
    assert.match(md, /\\<script\\>alert\(1\)\\<\/script\\>/);
    const row = tableRow(md, '127.0.0.1');
    assert.equal(cells(row).length, 9, row);
    assert.match(cells(row)[2]!, /^Exchange\\\|/);
  });
});
