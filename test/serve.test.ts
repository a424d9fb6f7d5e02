/**
 * `./proxy serve` (issue 6, item 5; acceptance: "Replay and serve reproduce the recorded verdicts
 * against the simulators"): real FPSE and MAPI/HTTP conversations are recorded through the proxy,
 * the journal is served, and the same client simulator talks to the served recording through a
 * proxy in reverse mode: the client sees what it saw, and the new records carry the recorded
 * versions and verdict codes. Also: recorded heads served in order without hop-by-hop fields,
 * truncated bodies marked, a 404 that names the closest recorded requests.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createExchange, type Exchange } from '../src/core/exchange.js';
import { ProgramError } from '../src/errors.js';
import { exchangeLine, type ExchangeLine } from '../src/record/entry.js';
import { readJournal } from '../src/record/journal-read.js';
import { noMatchText, responseFor, startServe, type RecordedAnswer, type ServeHandle } from '../src/record/serve.js';
import { runFpseClient, type FpseClientReport } from '../src/simulators/fpse-client.js';
import { runMapiClient, type MapiClientReport } from '../src/simulators/mapi-client.js';
import { request } from './helpers/client.js';
import { createLogSink } from './helpers/log-sink.js';
import { fpseServer, logger, mapiServer, modeProxy } from './helpers/protocol.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { tempDir } from './helpers/temp.js';

const OFFICE_2007 = '12.0.0.6415';
const FRONTPAGE_98 = '3.0.2.1000';
const SHAREPOINT_2010 = '14.0.0.6029';
const OUTLOOK = 'Outlook/16.0.15928.20006';
const EXCHANGE_2019 = 'Exchange/15.02.1544.014';
const LISTEN = { host: '127.0.0.1', port: 0 };

/** Runs `talk` through a recording forward proxy; the journal file and its exchange lines. */
async function record<T>(t: TestContext, talk: (proxy: TestProxy) => Promise<T>, captureBytes = 1 << 20): Promise<{ file: string; lines: ExchangeLine[]; value: T }> {
  const dir = tempDir(t, 'vp-serve-');
  const proxy = await startProxy({ record: { path: dir, captureBytes, rotateBytes: 1 << 28 } });
  t.after(() => proxy.close());
  const value = await talk(proxy);
  await proxy.close();
  const files = readdirSync(dir).filter((name) => name.endsWith('.ndjson'));
  assert.equal(files.length, 1);
  const file = join(dir, files[0]!);
  const lines: ExchangeLine[] = [];
  for await (const { entry } of readJournal([file])) if (entry.type === 'exchange') lines.push(entry);
  lines.sort((a, b) => a.timings.start - b.timings.start);
  return { file, lines, value };
}

async function serve(t: TestContext, journals: string[]): Promise<ServeHandle> {
  const handle = await startServe(journals, LISTEN, logger);
  t.after(() => handle.close());
  return handle;
}

/** `operation: codes` and versions, per exchange with a protocol record, in order. */
function judged(records: Array<Pick<Exchange, 'protocol'>>): unknown[] {
  return records.flatMap((x) =>
    x.protocol === undefined ? [] : [{ operation: x.protocol.operation, verdicts: x.protocol.verdicts.map((v) => v.code), versions: JSON.parse(JSON.stringify(x.protocol.versions)) as unknown }],
  );
}

function withoutPorts(report: FpseClientReport): unknown {
  return { ...report, steps: report.steps.map(({ connection: _connection, ...step }) => step) };
}

function mapiSteps(report: MapiClientReport): unknown[] {
  return report.steps.map(({ metaTagTimes: _times, ...step }) => step);
}

describe('serve: the simulators against a served recording', () => {
  for (const [name, version, verdict] of [
    ['Office 2007', OFFICE_2007, 'accepted'],
    ['FrontPage 98', FRONTPAGE_98, 'rejected-client-too-old'],
  ] as const) {
    it(`FPSE, ${name}: the client gets what it got, and the records carry the recorded versions and ${verdict}`, async (t) => {
      const original = await fpseServer(t, { version: SHAREPOINT_2010 });
      const recorded = await record(t, (proxy) => runFpseClient({ server: original.url, via: proxy.url, version, logger }));
      assert.ok(judged(recorded.lines).some((j) => (j as { verdicts: string[] }).verdicts.includes(verdict)));
      await original.close();

      const served = await serve(t, [recorded.file]);
      assert.equal(served.answers, recorded.lines.length);
      const proxy = await modeProxy(t, 'reverse', served.port);
      const report = await runFpseClient({ server: proxy.url, version, logger });
      assert.deepEqual(withoutPorts(report), withoutPorts(recorded.value));
      const now = await proxy.waitForExchanges(recorded.lines.length);
      assert.deepEqual(judged(now), judged(recorded.lines));
    });
  }

  it('MAPI/HTTP: Outlook (another mailbox) gets what it got, and the records carry the recorded versions and verdicts', async (t) => {
    const original = await mapiServer(t, { server: EXCHANGE_2019 });
    const recorded = await record(t, (proxy) => runMapiClient({ server: original.url, via: proxy.url, client: OUTLOOK, logger }));
    await original.close();
    const served = await serve(t, [recorded.file]);
    const proxy = await modeProxy(t, 'reverse', served.port);
    // A fresh MailboxId: matched on the path without its query.
    const report = await runMapiClient({ server: proxy.url, client: OUTLOOK, logger });
    assert.deepEqual(mapiSteps(report), mapiSteps(recorded.value));
    assert.equal(report.serverApplication, EXCHANGE_2019);
    const now = await proxy.waitForExchanges(recorded.lines.length);
    assert.deepEqual(judged(now), judged(recorded.lines));
    assert.deepEqual(
      judged(now).map((j) => (j as { operation: string }).operation),
      ['Connect', 'Execute', 'PING', 'Disconnect', 'Bind', 'GetMailboxUrl', 'Unbind'],
    );
  });
});

describe('serve: answers', () => {
  /** A journal of hand-made exchanges (entry.ts) in a temp folder. */
  function journalOf(t: TestContext, exchanges: Exchange[]): string {
    const file = join(tempDir(t, 'vp-serve-'), 'hand.ndjson');
    writeFileSync(file, exchanges.map((x) => `${JSON.stringify(exchangeLine(x))}\n`).join(''));
    return file;
  }

  function exchange(method: string, url: string, status: number, rawHeaders: string[], body: string, size = Buffer.byteLength(body)): Exchange {
    const x = createExchange('http', { address: '127.0.0.1', port: 1, connection: 1 }, { method, url, httpVersion: '1.1', rawHeaders: ['Host', 'h'] });
    x.response = { statusCode: status, statusMessage: status === 401 ? 'Unauthorized' : 'Fine', httpVersion: '1.1', rawHeaders, source: 'upstream' };
    const bytes = Buffer.from(body);
    x.bodies = { response: { bytes, size, truncated: size > bytes.length } };
    x.bytes.response = size;
    return x;
  }

  it('serves the recorded status line and head in order, hop-by-hop and framing replaced by Content-Length', async (t) => {
    const file = journalOf(t, [
      exchange('GET', 'http://origin.lab/auth', 401, ['Server', 'IIS', 'WWW-Authenticate', 'Negotiate', 'Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'WWW-Authenticate', 'NTLM', 'Transfer-Encoding', 'chunked', 'Keep-Alive', 'timeout=5'], 'denied'),
    ]);
    const served = await serve(t, [file]);
    const res = await request(served.port, '/auth');
    assert.equal(res.statusCode, 401);
    assert.equal(res.statusMessage, 'Unauthorized');
    const names = res.rawHeaders.filter((_, i) => i % 2 === 0);
    assert.deepEqual(names.slice(0, 3), ['Server', 'WWW-Authenticate', 'WWW-Authenticate']);
    assert.deepEqual(res.rawHeaders.slice(0, 6), ['Server', 'IIS', 'WWW-Authenticate', 'Negotiate', 'WWW-Authenticate', 'NTLM']);
    assert.ok(!names.some((n) => /^(x-hop|transfer-encoding|date)$/i.test(n)), names.join(' '));
    assert.equal(res.headers['content-length'], '6');
    assert.equal(res.body.toString(), 'denied');
  });

  it('marks a body the capture cut short, and serves it as kept', async (t) => {
    const file = journalOf(t, [exchange('GET', '/big', 200, ['Content-Type', 'text/plain', 'Content-Length', '1000'], 'x'.repeat(64), 1000)]);
    const served = await serve(t, [file]);
    const res = await request(served.port, '/big');
    assert.equal(res.headers['x-version-proxy-served'], 'truncated (64 of 1000 bytes)');
    assert.equal(res.headers['content-length'], '64');
    assert.equal(res.body.length, 64);
  });

  it('logs which recorded answer it served, in words, also when it serves the last one again', async (t) => {
    const file = journalOf(t, [exchange('GET', '/a', 200, [], 'one')]);
    const logs = createLogSink('info');
    const served = await startServe([file], LISTEN, logs.logger);
    t.after(() => served.close());
    await request(served.port, '/a');
    await request(served.port, '/a');
    const lines = await logs.waitFor((l) => l.msg === 'served', 2, 2000);
    assert.deepEqual(lines.map((l) => l.answer), ['1 of 1 recorded', 'the last of 1 recorded, again (request 2)']);
    assert.ok(lines.every((l) => !('nth' in l) && !('of' in l)));
  });

  it('answers 404 naming what was looked for and the closest recorded requests, and logs it', async (t) => {
    const file = journalOf(t, [exchange('GET', '/_vti_inf.html', 200, [], 'inf'), exchange('POST', '/_vti_bin/shtml.dll/_vti_rpc', 200, [], 'rpc')]);
    const logs = createLogSink('info');
    const served = await startServe([file], LISTEN, logs.logger);
    t.after(() => served.close());
    const res = await request(served.port, '/_vti_bin/shtml.dll/_vti_rpc', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'method=list+documents%3a12%2e0%2e0%2e6415' });
    assert.equal(res.statusCode, 404);
    const text = res.body.toString();
    assert.match(text, /^No recorded answer for POST \/_vti_bin\/shtml\.dll\/_vti_rpc \(FPSE "list documents"\)\.\nClosest recorded requests:\n {2}POST \/_vti_bin\/shtml\.dll\/_vti_rpc\n {2}GET \/_vti_inf\.html\n/);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    const [line] = await logs.waitFor((l) => l.msg === 'no recorded answer', 1, 2000);
    assert.equal(line!.level, 40);
    assert.equal(line!.request, 'POST /_vti_bin/shtml.dll/_vti_rpc (FPSE "list documents")');
    // The recorded answers themselves are still there.
    assert.equal((await request(served.port, '/_vti_bin/shtml.dll/_vti_rpc', { method: 'POST' })).body.toString(), 'rpc');
  });

  it('refuses a journal without HTTP answers (ERR_JOURNAL) and a taken port (ERR_ADDRESS_IN_USE)', async (t) => {
    const empty = join(tempDir(t, 'vp-serve-'), 'empty.ndjson');
    writeFileSync(empty, `${JSON.stringify({ v: 1, type: 'run', time: 1, tool: 't', mode: 'forward', captureBytes: 0, redaction: { enabled: true, extraHeaders: [] }, part: 1 })}\n`);
    await assert.rejects(startServe([empty], LISTEN, logger), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_JOURNAL' && /holds no HTTP exchange with a response/.test(err.message));
    const file = journalOf(t, [exchange('GET', '/', 200, [], 'x')]);
    const first = await serve(t, [file]);
    await assert.rejects(startServe([file], { host: '127.0.0.1', port: first.port }, logger), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_ADDRESS_IN_USE');
  });
});

describe('serve: heads without sockets', () => {
  const answer = (statusCode: number, rawHeaders: string[], body = 'abc', size = body.length): RecordedAnswer => ({ id: 'x-1', statusCode, statusMessage: 'S', rawHeaders, body: Buffer.from(body), size });

  it('sets Content-Length in place of the recorded one, appends it when there was none', () => {
    assert.deepEqual(responseFor(answer(200, ['A', '1', 'Content-Length', '99', 'B', '2']), 'GET').rawHeaders, ['A', '1', 'Content-Length', '3', 'B', '2']);
    assert.deepEqual(responseFor(answer(200, ['Transfer-Encoding', 'chunked', 'A', '1']), 'GET').rawHeaders, ['A', '1', 'Content-Length', '3']);
  });

  it('sends no content where RFC 9110 allows none: HEAD keeps the recorded length, 204 loses it, 304 keeps it', () => {
    const head = responseFor(answer(200, ['Content-Length', '3']), 'HEAD');
    assert.deepEqual([head.rawHeaders, head.body.length], [['Content-Length', '3'], 0]);
    assert.deepEqual(responseFor(answer(204, ['Content-Length', '0', 'A', '1'], ''), 'DELETE').rawHeaders, ['A', '1']);
    assert.deepEqual(responseFor(answer(304, ['Content-Length', '3', 'ETag', '"e"'], ''), 'GET').rawHeaders, ['Content-Length', '3', 'ETag', '"e"']);
  });

  it('writes the 404 text without closest keys when the index has none', () => {
    assert.equal(noMatchText({ method: 'GET', path: '/' }, []), 'No recorded answer for GET /.\nRequests are matched by method, path, FPSE method, MAPI/HTTP request type, then order (./proxy serve).\n');
  });
});
