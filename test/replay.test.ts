/**
 * `./proxy replay` (issue 6, item 5; acceptance: "Replay and serve reproduce the recorded verdicts
 * against the simulators"): real FPSE and MAPI/HTTP conversations are recorded through the proxy
 * into a journal, then re-sent to fresh simulators. With the same settings nothing differs and the
 * new records carry the recorded verdicts; with another server build, the changed versions and
 * verdicts are reported. Also: redacted headers are left out and named, session cookies come from
 * the new server, truncated request bodies and tunnels are skipped with a reason, long pauses are
 * capped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Exchange } from '../src/core/exchange.js';
import type { Origin } from '../src/core/origin.js';
import { createExchange } from '../src/core/exchange.js';
import { exchangeLine, type ExchangeLine } from '../src/record/entry.js';
import { readJournal } from '../src/record/journal-read.js';
import { formatReplay, type ReplayResult } from '../src/record/replay-diff.js';
import { replayJournal } from '../src/record/replay.js';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { runMapiClient } from '../src/simulators/mapi-client.js';
import type { RunningServer } from '../src/simulators/fpse-server.js';
import { fpseServer, logger, mapiServer } from './helpers/protocol.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';

const OFFICE_2007 = '12.0.0.6415';
const FRONTPAGE_98 = '3.0.2.1000';
const SHAREPOINT_2010 = '14.0.0.6029';
const WSS_2 = '6.0.2.5530';
const OUTLOOK = 'Outlook/16.0.15928.20006';
const EXCHANGE_2019 = 'Exchange/15.02.1544.014';
const EXCHANGE_2013_RTM = 'Exchange/15.00.0516.032';

interface Recording {
  file: string;
  lines: ExchangeLine[];
}

/** Runs `talk` through a recording forward proxy and returns its journal once it is flushed. */
async function record(t: TestContext, talk: (proxy: TestProxy) => Promise<unknown>, captureBytes = 1 << 20): Promise<Recording> {
  const dir = mkdtempSync(join(tmpdir(), 'vp-replay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const proxy = await startProxy({ record: { path: dir, captureBytes, rotateBytes: 1 << 28 } });
  t.after(() => proxy.close());
  await talk(proxy);
  await proxy.close();
  const files = readdirSync(dir).filter((name) => name.endsWith('.ndjson'));
  assert.equal(files.length, 1, `journal files in ${dir}: ${files.join(', ')}`);
  const file = join(dir, files[0]!);
  const lines: ExchangeLine[] = [];
  for await (const { entry } of readJournal([file])) if (entry.type === 'exchange') lines.push(entry);
  return { file, lines };
}

function originOf(server: RunningServer): Origin {
  return { protocol: 'http:', hostname: '127.0.0.1', port: server.port, authority: `127.0.0.1:${server.port}` };
}

/** Replays `file` to `server` and collects the new records by recorded id. */
async function replay(file: string, server: RunningServer, fast = true): Promise<{ result: ReplayResult; replayed: Map<string, Exchange | undefined> }> {
  const replayed = new Map<string, Exchange | undefined>();
  const result = await replayJournal([file], { target: originOf(server), fast, logger, onExchange: (id, x) => replayed.set(id, x) });
  return { result, replayed };
}

/** `operation: codes` for every recorded or replayed exchange with a protocol record, in order. */
function verdictsOf(records: Array<Pick<Exchange, 'protocol'> | undefined>): string[] {
  return records.flatMap((x) => (x?.protocol === undefined ? [] : [`${x.protocol.operation}: ${x.protocol.verdicts.map((v) => v.code).join(' ')}`]));
}

/** Versions as the journal holds them (JSON leaves out undefined sides). */
function versionsOf(records: Array<Pick<Exchange, 'protocol'> | undefined>): unknown[] {
  return records.map((x) => JSON.parse(JSON.stringify(x?.protocol?.versions ?? null)) as unknown);
}

/** The recorded lines in the order their requests started (the order replay sends them). */
function byStart(lines: ExchangeLine[]): ExchangeLine[] {
  return [...lines].sort((a, b) => a.timings.start - b.timings.start);
}

describe('replay: FPSE', () => {
  it('against a simulator with the same settings: nothing differs, the new records carry the recorded versions and verdicts', async (t) => {
    const original = await fpseServer(t, { version: SHAREPOINT_2010 });
    const { file, lines } = await record(t, (proxy) => runFpseClient({ server: original.url, via: proxy.url, version: OFFICE_2007, logger }));
    const recorded = byStart(lines);
    assert.deepEqual(recorded.map((x) => x.protocol?.operation), ['_vti_inf.html', 'server version', 'open service', 'url to web url']);
    assert.deepEqual(verdictsOf(recorded).slice(1), ['server version: accepted', 'open service: accepted', 'url to web url: accepted']);

    const fresh = await fpseServer(t, { version: SHAREPOINT_2010 });
    const { result, replayed } = await replay(file, fresh, false);
    assert.deepEqual(result, { sent: 4, skipped: [], differences: [], withheld: [], notes: [] });
    assert.equal(formatReplay(result), '4 sent, 0 skipped, 0 differ\n');
    const again = recorded.map((x) => replayed.get(x.id));
    assert.ok(again.every((x) => x !== undefined && x.url.startsWith(fresh.url)), 'every new record is of a request to the fresh simulator');
    assert.deepEqual(verdictsOf(again), verdictsOf(recorded));
    assert.deepEqual(versionsOf(again), versionsOf(recorded));
    // One recorded client connection, one replay connection (the conversation's affinity).
    assert.equal(new Set(again.map((x) => x!.client.connection)).size, 1);
  });

  it('against an older server build: the changed versions and verdicts are reported', async (t) => {
    const original = await fpseServer(t, { version: SHAREPOINT_2010 });
    const { file, lines } = await record(t, (proxy) => runFpseClient({ server: original.url, via: proxy.url, version: OFFICE_2007, logger }));
    const [, version, open, url] = byStart(lines).map((x) => x.id);

    const older = await fpseServer(t, { version: WSS_2 });
    const { result, replayed } = await replay(file, older);
    assert.equal(result.sent, 4);
    const byId = new Map(result.differences.map((d) => [d.id, d]));
    // server version: the server's build and Min(client, server) change; still accepted.
    assert.deepEqual(byId.get(version!)?.versions, {
      server: { recorded: SHAREPOINT_2010, replayed: WSS_2 },
      negotiated: { recorded: OFFICE_2007, replayed: WSS_2 },
    });
    assert.equal(byId.get(version!)?.verdicts, undefined);
    // The recorded client goes on with 12.0.0.6415, above what this server negotiates.
    for (const id of [open!, url!]) {
      assert.deepEqual(byId.get(id)?.verdicts?.added, ['client-ignored-negotiated'], formatReplay(result));
      assert.equal(byId.get(id)?.versions?.server?.replayed, WSS_2);
    }
    assert.equal(replayed.get(open!)?.protocol?.verdicts.some((v) => v.code === 'client-ignored-negotiated'), true);
    const text = formatReplay(result);
    assert.match(text, new RegExp(`${version} POST /_vti_bin/shtml\\.dll/_vti_rpc "server version": server ${SHAREPOINT_2010} → ${WSS_2}; negotiated ${OFFICE_2007} → ${WSS_2}\\n`));
    assert.match(text, /\n4 sent, 0 skipped, [34] differ\n$/);
  });

  it('a rejected old client: same settings reproduce rejected-client-too-old; a lenient server is reported', async (t) => {
    const original = await fpseServer(t, { version: SHAREPOINT_2010 });
    const { file, lines } = await record(t, (proxy) => runFpseClient({ server: original.url, via: proxy.url, version: FRONTPAGE_98, logger }));
    const recorded = byStart(lines);
    assert.deepEqual(verdictsOf(recorded).slice(1), ['server version: rejected-client-too-old']);

    const same = await replay(file, await fpseServer(t, { version: SHAREPOINT_2010 }));
    assert.deepEqual(same.result.differences, []);
    assert.deepEqual(verdictsOf(recorded.map((x) => same.replayed.get(x.id))), verdictsOf(recorded));

    const lenient = await replay(file, await fpseServer(t, { version: SHAREPOINT_2010, minClient: '1.0.0.0' }));
    assert.equal(lenient.result.differences.length, 1);
    const [diff] = lenient.result.differences;
    assert.equal(diff!.operation, 'server version');
    assert.deepEqual(diff!.verdicts, { missing: ['rejected-client-too-old'], added: ['accepted', 'server-should-have-rejected'] });
    // The refusal listed no build; the lenient server's answer does.
    assert.deepEqual(diff!.versions, { server: { replayed: SHAREPOINT_2010 }, negotiated: { replayed: FRONTPAGE_98 } });
  });

  it('skips a request body the capture cut short and tunnels, saying why; caps long pauses', async (t) => {
    const original = await fpseServer(t, { version: SHAREPOINT_2010 });
    const { lines } = await record(t, (proxy) => runFpseClient({ server: original.url, via: proxy.url, version: OFFICE_2007, logger }));
    const recorded = byStart(lines);
    // Stretch the recording to a minute between requests, cut the last body as --capture-bytes 16
    // would, and add a tunnel.
    const edited = recorded.map((x, i) => ({ ...x, timings: { start: x.timings.start + i * 60_000, ...(x.timings.end !== undefined && { end: x.timings.end + i * 60_000 }) } }));
    const last = edited[3]!;
    const body = last.bodies!.request!;
    last.bodies = { ...last.bodies, request: { ...body, data: body.data.slice(0, 16), truncated: true } };
    const tunnel = { ...recorded[0]!, id: 'tunnl-1', kind: 'tunnel', url: 'mail.contoso.lab:443', request: { method: 'CONNECT', url: 'mail.contoso.lab:443', httpVersion: '1.1', rawHeaders: [] } };
    delete (tunnel as Partial<ExchangeLine>).bodies;
    const dir = mkdtempSync(join(tmpdir(), 'vp-replay-edit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'edited.ndjson');
    writeFileSync(file, [...edited, tunnel].map((x) => `${JSON.stringify(x)}\n`).join(''));

    const fresh = await fpseServer(t, { version: SHAREPOINT_2010 });
    const result = await replayJournal([file], { target: originOf(fresh), logger, maxGapMs: 20 });
    assert.equal(result.sent, 3);
    // In recorded order: the tunnel started first.
    assert.deepEqual(result.skipped, [
      { id: 'tunnl-1', reason: 'a tunnel (mail.contoso.lab:443); replay re-sends HTTP requests only' },
      { id: last.id, reason: `its body was cut at 16 of ${body.size} bytes by --capture-bytes; part of it would be another request` },
    ]);
    assert.deepEqual(result.notes, ['original pacing; 2 pause(s) longer than 0.02 s shortened to 0.02 s']);
    assert.deepEqual(result.differences, []);
    assert.match(formatReplay(result), new RegExp(`\\nskipped tunnl-1: a tunnel[^\\n]*\\nskipped ${last.id}: its body was cut at 16 of \\d+ bytes[^\\n]*\\n3 sent, 2 skipped, 0 differ\\n$`));
  });
});

describe('replay: MAPI/HTTP', () => {
  const talk = (server: RunningServer) => (proxy: TestProxy) =>
    runMapiClient({ server: server.url, via: proxy.url, client: OUTLOOK, logger, authorization: 'Basic dXNlcjpwYXNzd29yZA==' });

  it('against a fresh server: session cookies come from it, Authorization is left out and named, nothing differs', async (t) => {
    const original = await mapiServer(t, { server: EXCHANGE_2019 });
    const { file, lines } = await record(t, talk(original));
    const recorded = byStart(lines);
    assert.ok(recorded.length >= 6, `recorded ${recorded.length} exchanges`);
    // The journal holds the session cookies redacted: replay cannot send them as recorded.
    assert.ok(recorded.some((x) => x.request.rawHeaders.some((v, i) => i % 2 === 1 && /^MapiContext=<redacted /.test(v))), 'session cookies redacted in the journal');

    const { result, replayed } = await replay(file, await mapiServer(t, { server: EXCHANGE_2019 }));
    assert.deepEqual(result.differences, [], formatReplay(result));
    assert.deepEqual(result.withheld, ['Authorization']);
    assert.deepEqual(result.notes, ['cookies the target set during the replay were sent in place of the recorded values, as a client would']);
    const again = recorded.map((x) => replayed.get(x.id));
    assert.deepEqual(verdictsOf(again), verdictsOf(recorded));
    assert.ok(verdictsOf(recorded).every((line) => line.endsWith(': ok')), verdictsOf(recorded).join('\n'));
    assert.deepEqual(versionsOf(again), versionsOf(recorded));
    assert.match(formatReplay(result), /^not replayed: Authorization \(redacted in the journal\)\n/m);
  });

  it('against a server older than MAPI/HTTP: the server build and server-predates-mapihttp are reported on every request', async (t) => {
    const original = await mapiServer(t, { server: EXCHANGE_2019 });
    const { file, lines } = await record(t, talk(original));
    const { result } = await replay(file, await mapiServer(t, { server: EXCHANGE_2013_RTM }));
    assert.equal(result.differences.length, lines.length, formatReplay(result));
    for (const d of result.differences) {
      assert.deepEqual(d.versions, { server: { recorded: EXCHANGE_2019, replayed: EXCHANGE_2013_RTM } });
      assert.deepEqual(d.verdicts, { missing: ['ok'], added: ['server-predates-mapihttp'] });
    }
  });
});

describe('replay: plain HTTP', () => {
  it('re-sends method, path, headers and body as recorded, Host rewritten, hop-by-hop left out', async (t) => {
    const seen: Array<{ method?: string; url?: string; headers: string[]; body: string }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.rawHeaders, body: Buffer.concat(chunks).toString() });
        res.writeHead(201, { 'Content-Type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const target: RunningServer = { url: `http://127.0.0.1:${port}`, port, close: () => Promise.resolve() };

    const { file } = await record(t, async (proxy) => {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'PUT', path: `${target.url}/doc?v=2`, headers: [['X-Custom', 'a'], ['Keep-Alive', 'timeout=5'], ['X-custom', 'b'], ['Content-Type', 'text/plain']].flat() });
        req.on('response', (res) => res.resume().on('end', resolve));
        req.on('error', reject);
        req.end('the body');
      });
    });
    seen.length = 0;
    const { result } = await replay(file, target);
    assert.deepEqual(result.differences, []);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, 'PUT');
    assert.equal(seen[0]!.url, '/doc?v=2');
    assert.equal(seen[0]!.body, 'the body');
    const raw = seen[0]!.headers;
    const names = raw.filter((_, i) => i % 2 === 0);
    // Order, case and repeats as recorded (docs/running.md "Fidelity"); Keep-Alive is hop-by-hop.
    assert.deepEqual(names.slice(0, 3), ['X-Custom', 'X-custom', 'Content-Type']);
    assert.deepEqual([raw[1], raw[3]], ['a', 'b']);
    assert.ok(!names.some((name) => name.toLowerCase() === 'keep-alive'), raw.join(' '));
    assert.equal(raw[raw.findIndex((name, i) => i % 2 === 0 && name.toLowerCase() === 'host') + 1], `127.0.0.1:${port}`);
  });

  it('reports a recorded head Node refuses to send as a difference, and goes on', async (t) => {
    const server = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end('ok')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const line = (path: string, rawHeaders: string[], start: number): string => {
      const x = createExchange('http', { address: '127.0.0.1', port: 1, connection: 1 }, { method: 'GET', url: path, httpVersion: '1.1', rawHeaders });
      x.url = `http://origin.lab${path}`;
      x.response = { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' };
      x.timings = { start, end: start + 1 };
      return `${JSON.stringify(exchangeLine(x))}\n`;
    };
    const dir = mkdtempSync(join(tmpdir(), 'vp-replay-bad-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bad.ndjson');
    writeFileSync(file, line('/bad', ['Host', 'origin.lab', 'X-Odd', 'a\u0001b'], 1000) + line('/ok', ['Host', 'origin.lab'], 1002));
    const result = await replayJournal([file], { target: { protocol: 'http:', hostname: '127.0.0.1', port, authority: `127.0.0.1:${port}` }, fast: true, logger });
    assert.equal(result.sent, 2);
    assert.deepEqual(
      result.differences.map((d) => [d.path, d.status]),
      [['/bad', { recorded: '200', replayed: 'ERR_INVALID_CHAR' }]],
    );
  });
});
