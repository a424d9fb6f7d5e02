/**
 * `./proxy har --filter` and `./proxy report --filter` (issue 22, docs/filter.md) on a real
 * journal: FPSE and MAPI/HTTP simulator conversations, a 404 and a 502 go through a recording
 * proxy with one rule that applies and one that only passes; then the command line narrows the
 * journal. What each filter should keep is worked out from the proxy's own records with plain
 * predicates written here, not with the filter under test. A bad filter is one line and exit 2.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Exchange } from '../src/core/exchange.js';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { runMapiClient } from '../src/simulators/mapi-client.js';
import { proxiedRequest } from './helpers/client.js';
import { closedPort, linesOf, runCli } from './helpers/process.js';
import { fpseServer, logger, mapiServer } from './helpers/protocol.js';
import { startProxy } from './helpers/proxy.js';
import { writeRules } from './helpers/rule-files.js';
import { tempDir } from './helpers/temp.js';

const MiB = 1024 * 1024;

const RULES = `
rules:
  - id: tag-connect
    match: { protocol: mapihttp, requestType: Connect }
    actions: [ { setHeader: { name: X-Filter-Test, value: tagged, on: response } } ]
  - id: never-fires
    match: { protocol: fpse }
    skip: 1000
    actions: [ { delay: 1ms } ]
`;

interface HarFile {
  log: { entries: Array<{ request: { method: string; url: string }; response: { status: number } }> };
}

describe('har and report --filter on a recorded journal', () => {
  it('narrow the journal as the filter says, ANDed with har\'s other filters; a bad filter is one line and exit 2', { timeout: 120_000 }, async (t) => {
    const dir = tempDir(t, 'vp-filter-cli-');
    const journal = join(dir, 'lab.ndjson');
    const good = await fpseServer(t);
    const echoesWrong = await fpseServer(t, { echo: { fixed: '14.0.0.6029' } });
    const mail = await mapiServer(t);
    const rules = await writeRules(t, RULES);
    const proxy = await startProxy({ record: { path: journal, captureBytes: MiB, rotateBytes: 256 * MiB }, rules: [rules], seed: 42 });
    t.after(() => proxy.close());

    await runFpseClient({ server: good.url, via: proxy.url, version: '12.0.0.6415', logger });
    await runFpseClient({ server: echoesWrong.url, via: proxy.url, version: '12.0.0.6415', logger });
    await runMapiClient({ server: mail.url, via: proxy.url, client: 'Outlook/16.0.15928.20006', logger });
    const missing = await proxiedRequest(proxy.port, `${good.url}/no/such/page.htm`, { timeoutMs: 5000 });
    assert.equal(missing.statusCode, 404);
    const refused = await proxiedRequest(proxy.port, `http://127.0.0.1:${await closedPort()}/down`, { timeoutMs: 5000 });
    assert.equal(refused.statusCode, 502);
    const recorded = proxy.exchanges.slice();
    await proxy.close();

    const portOf = (url: string): string => new URL(url).port;
    const on = (x: Exchange, server: string): boolean => new URL(x.url).port === portOf(server);
    const codes = (x: Exchange): string[] => x.protocol?.verdicts.map((v) => v.code) ?? [];
    // The traffic must hold every case the filters below tell apart, or they prove nothing.
    const echoMismatch = recorded.filter((x) => x.protocol?.protocol === 'fpse' && codes(x).includes('echo-mismatch'));
    const connects = recorded.filter((x) => x.protocol?.protocol === 'mapihttp' && x.protocol.operation === 'Connect');
    const mapi = recorded.filter((x) => x.protocol?.protocol === 'mapihttp');
    const fpseNotMismatch = recorded.filter((x) => x.protocol?.protocol === 'fpse' && !codes(x).includes('echo-mismatch'));
    assert.ok(echoMismatch.length > 0 && echoMismatch.every((x) => on(x, echoesWrong.url)), 'the echo-mismatch server drew the verdict');
    assert.ok(connects.length > 0 && connects.every((x) => x.rules?.some((r) => r.id === 'tag-connect' && r.outcome === 'applied')));
    assert.ok(recorded.some((x) => x.rules?.some((r) => r.id === 'never-fires' && r.outcome === 'passed')), 'never-fires matched and passed');
    assert.ok(mapi.length > connects.length && fpseNotMismatch.length > 0);

    async function harOf(...args: string[]): Promise<HarFile['log']['entries']> {
      const out = join(dir, `out-${Math.random().toString(36).slice(2)}.har`);
      const run = await runCli(['har', journal, '-o', out, ...args]);
      assert.equal(run.code, 0, run.stderr);
      return (JSON.parse(readFileSync(out, 'utf8')) as HarFile).log.entries;
    }
    const urls = (xs: Array<{ url: string } | { request: { url: string } }>): string[] => xs.map((x) => ('request' in x ? x.request.url : x.url)).sort();
    const harUrls = (entries: HarFile['log']['entries']): string[] => entries.map((e) => e.request.url).sort();

    assert.equal((await harOf()).length, recorded.length);
    assert.deepEqual(harUrls(await harOf('--filter', 'protocol:fpse verdict:echo-mismatch')), urls(echoMismatch));
    assert.deepEqual(harUrls(await harOf('--filter', `operation:Connect host:*:${portOf(mail.url)}`)), urls(connects));
    assert.deepEqual(harUrls(await harOf('--filter', 'rule:tag-connect')), urls(connects));
    // A rule that matched but passed did nothing to the exchange.
    assert.equal((await harOf('--filter', 'rule:never-fires')).length, 0);
    const plain404 = await harOf('--filter', 'protocol:http status:404 method:get');
    assert.deepEqual(plain404.map((e) => [e.response.status, new URL(e.request.url).pathname]), [[404, '/no/such/page.htm']]);
    assert.deepEqual((await harOf('--filter', 'status:5xx')).map((e) => new URL(e.request.url).pathname), ['/down']);
    assert.deepEqual(harUrls(await harOf('--filter', 'path:/mapi/* -operation:connect')), urls(mapi.filter((x) => x.protocol?.operation !== 'Connect')));
    // ANDed with --protocol: fpse exchanges without the verdict, none of the MAPI ones.
    // A filter that starts with `-` takes the `=` form, or yargs reads it as an option.
    assert.deepEqual(harUrls(await harOf('--protocol', 'fpse', '--filter=-verdict:echo-mismatch')), urls(fpseNotMismatch));
    const dashed = await runCli(['har', journal, '-o', join(dir, 'dashed.har'), '--filter', '-verdict:echo-mismatch']);
    assert.equal(dashed.code, 2);
    assert.deepEqual(linesOf(dashed.stderr), ['proxy: --filter needs a value; a filter that starts with - is written --filter=-status:2xx']);

    const json = await runCli(['report', journal, '--json', '--filter', 'protocol:mapihttp']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { totals: { exchanges: number; byProtocol: Record<string, number> }; hosts: Array<{ host: string }>; filter?: { expression: string; leftOut: number } };
    assert.equal(report.totals.exchanges, mapi.length);
    assert.deepEqual(Object.keys(report.totals.byProtocol), ['mapihttp']);
    assert.deepEqual(report.hosts.map((h) => h.host), [new URL(mail.url).host]);
    assert.deepEqual(report.filter, { expression: 'protocol:mapihttp', leftOut: recorded.length - mapi.length });
    const markdown = await runCli(['report', journal, '--filter', 'operation:"server version"  verdict:ECHO-MISMATCH']);
    assert.equal(markdown.code, 0, markdown.stderr);
    assert.ok(markdown.stdout.includes('Only exchanges matching `operation:"server version" verdict:echo-mismatch`'), markdown.stdout.slice(0, 400));
    assert.ok(markdown.stdout.includes(new URL(echoesWrong.url).host) && !markdown.stdout.includes(new URL(mail.url).host));

    const badHar = join(dir, 'bad.har');
    const bad = await runCli(['har', journal, '-o', badHar, '--filter', 'protocol:fpse verb:POST']);
    assert.equal(bad.code, 2);
    assert.deepEqual(linesOf(bad.stderr), [`proxy: --filter "protocol:fpse verb:POST": column 15, 'verb:POST': unknown key 'verb'; keys are protocol, operation, verdict, host, path, method, status, rule`]);
    assert.equal(bad.stdout, '');
    assert.equal(existsSync(badHar), false, 'no HAR is started for a bad filter');
    const badReport = await runCli(['report', journal, '--filter', 'status:5oo -bogus:1']);
    assert.equal(badReport.code, 2);
    const lines = linesOf(badReport.stderr);
    assert.equal(lines.length, 1, badReport.stderr);
    assert.match(lines[0]!, /\(and 1 more issue\): column 1, 'status:5oo': '5oo' is not a status; status must be a code like 404, a class like 5xx, or none/);
    assert.equal(badReport.stdout, '');
  });
});
