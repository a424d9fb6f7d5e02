/**
 * Recording from the command line, as a user runs it: `start --record`, then `har` and `report`
 * on the journal. The redaction acceptance test of issue 6 lives here: after an exchange carrying
 * `Authorization: NTLM …`, `Cookie: MapiContext=…` and `Set-Cookie`, none of the secret values
 * appears in the journal, the HAR, the report (all three formats) or the logs; the names and
 * the shape (`NTLM <redacted N bytes>`) do.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runFpseClient } from '../src/simulators/fpse-client.js';
import { proxiedRequest } from './helpers/client.js';
import { linesOf, ProxyProcess, runCli } from './helpers/process.js';
import { fpseServer, logger } from './helpers/protocol.js';
import { startProxy } from './helpers/proxy.js';
import { readBody, startServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

// An NTLM type-3 (AUTHENTICATE) message and a type-2 challenge, base64 as on the wire.
const NTLM_TYPE3 = 'TlRMTVNTUAADAAAAGAAYAEAAAAAYABgAWAAAAAAAAABwAAAAEAAQAHAAAAAQABAAgAAAAAAAAACQAAAABYKIogYBsR0AAAAPc2VjcmV0LXR5cGUzLXJlc3BvbnNl';
const NTLM_TYPE2 = 'TlRMTVNTUAACAAAADAAMADgAAAAFgomiU2VjcmV0Q2hhbGxlbmdlAAAAAAAAAAA=';
const MAPI_CONTEXT = 'MapiCtx-5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const SEQUENCE = 'Seq-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const SET_COOKIE_VALUE = 'NewSeq-99887766554433221100ffeeddccbbaa';
const API_KEY = 'key-abcdef0123456789abcdef0123456789';
const SECRETS = [NTLM_TYPE3, NTLM_TYPE2, MAPI_CONTEXT, SEQUENCE, SET_COOKIE_VALUE, API_KEY];

function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) {
    // Also a long piece of it: a secret cut in two is still a leak.
    assert.ok(!text.includes(secret) && !text.includes(secret.slice(4, 24)), `${where} contains the secret ${secret.slice(0, 12)}…`);
  }
}

describe('recording from the command line', () => {
  it('keeps secrets out of the journal, HAR, report and logs, but shows what was sent', { timeout: 60_000 }, async (t) => {
    const dir = tempDir(t, 'vp-record-cli-');
    const journal = join(dir, 'secrets.ndjson');
    const upstream = await startServer((req, res) => {
      void readBody(req).then(() => {
        res.writeHead(401, [
          ['WWW-Authenticate', `NTLM ${NTLM_TYPE2}`],
          ['WWW-Authenticate', 'Negotiate'],
          ['Set-Cookie', `MapiSequence=${SET_COOKIE_VALUE}; path=/mapi/emsmdb/; HttpOnly`],
          ['Content-Type', 'text/plain'],
        ].flat());
        res.end('unauthorised');
      });
    });
    t.after(() => upstream.close());
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--record', journal, '--log-level', 'trace', '--redact-header', 'X-Api-Key']);
    t.after(() => proxy.kill());
    const res = await proxiedRequest(proxy.port, `${upstream.url}/mapi/emsmdb/?MailboxId=a@b`, {
      method: 'POST',
      headers: [
        'Content-Type', 'application/mapi-http',
        'X-RequestType', 'Execute',
        'X-ClientApplication', 'Outlook/16.0.15928.20006',
        'Authorization', `NTLM ${NTLM_TYPE3}`,
        'Cookie', `MapiContext=${MAPI_CONTEXT}; MapiSequence=${SEQUENCE}`,
        'X-Api-Key', API_KEY,
      ],
      body: 'body',
    });
    // The client itself got everything as the server sent it: redaction is for records only.
    assert.ok(res.rawHeaders.includes(`NTLM ${NTLM_TYPE2}`));
    await proxy.waitForLine('the exchange line', (l) => l.msg === 'exchange');
    const exit = await proxy.signalAndWait('SIGTERM', 10_000);
    assert.equal(exit.code, 0);

    const journalText = readFileSync(journal, 'utf8');
    assertNoSecret(journalText, 'the journal');
    assertNoSecret(proxy.stderr, 'the log');
    // The shape stays: scheme, byte count, cookie names.
    assert.ok(journalText.includes(`NTLM <redacted ${NTLM_TYPE3.length} bytes>`), 'Authorization keeps its scheme and size');
    assert.ok(journalText.includes(`NTLM <redacted ${NTLM_TYPE2.length} bytes>`), 'the NTLM challenge keeps its scheme and size');
    assert.match(journalText, /MapiContext=<redacted \d+ bytes>; MapiSequence=<redacted \d+ bytes>/);
    assert.match(journalText, /MapiSequence=<redacted \d+ bytes>; path=\/mapi\/emsmdb\/; HttpOnly/);
    assert.ok(journalText.includes('"Negotiate"'), 'a bare Negotiate offer carries no secret and stays');

    const har = join(dir, 'out.har');
    const harRun = await runCli(['har', journal, '-o', har]);
    assert.equal(harRun.code, 0, harRun.stderr);
    assert.match(linesOf(harRun.stderr).join('\n'), /1 entries written/);
    assertNoSecret(readFileSync(har, 'utf8'), 'the HAR');
    for (const format of [[], ['--html'], ['--json']]) {
      const out = await runCli(['report', journal, ...format]);
      assert.equal(out.code, 0, out.stderr);
      assert.ok(out.stdout.length > 100, `the ${format[0] ?? 'markdown'} report has content`);
      assertNoSecret(out.stdout + out.stderr, `the ${format[0] ?? 'markdown'} report`);
    }
  });

  it('--record DIR names the file after the start time and logs it; --no-record keeps none', { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t, 'vp-record-cli-');
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--record', dir]);
    t.after(() => proxy.kill());
    const listening = proxy.lines.find((l) => l.msg === 'listening')!;
    assert.match(String(listening.journal), new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\dZ\\.ndjson$`));
    await proxy.signalAndWait('SIGTERM', 10_000);
    assert.equal(readdirSync(dir).length, 1);

    const none = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--no-record']);
    t.after(() => none.kill());
    assert.equal(none.lines.find((l) => l.msg === 'listening')!.journal, undefined);
  });

  it('--no-redact is logged as a warning', { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t, 'vp-record-cli-');
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--record', dir, '--no-redact']);
    t.after(() => proxy.kill());
    await proxy.waitForLine('the redaction warning', (l) => l.level === 40 && /redaction is off/.test(String(l.msg)));
  });

  it('a bad --capture-bytes is one line that says how to write a size', { timeout: 30_000 }, async () => {
    const result = await runCli(['start', '--listen', '127.0.0.1:0', '--capture-bytes', 'lots']);
    assert.notEqual(result.code, 0);
    const lines = linesOf(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /--capture-bytes lots is not a size.*1MiB/);
  });

  it('replay exits 0 when the answers match and 1 with the differences when not; serve answers from the journal', { timeout: 60_000 }, async (t) => {
    const dir = tempDir(t, 'vp-record-cli-');
    const journal = join(dir, 'fpse.ndjson');
    const original = await fpseServer(t, { version: '14.0.0.6029' });
    const proxy = await startProxy({ record: { path: journal, captureBytes: 1 << 20, rotateBytes: 1 << 28 } });
    t.after(() => proxy.close());
    const recorded = await runFpseClient({ server: original.url, via: proxy.url, version: '12.0.0.6415', logger });
    await proxy.close();

    const same = await runCli(['replay', journal, '--target', original.url, '--fast']);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /\d+ sent, 0 skipped, 0 differ/);
    const older = await fpseServer(t, { version: '6.0.2.5530' });
    const differs = await runCli(['replay', journal, '--target', older.url, '--fast']);
    assert.equal(differs.code, 1, differs.stdout + differs.stderr);
    assert.match(differs.stdout, /14\.0\.0\.6029/);
    assert.match(differs.stdout, /6\.0\.2\.5530/);
    assert.match(differs.stdout, /[1-9]\d* differ/);

    const served = await ProxyProcess.start(['serve', journal, '--listen', '127.0.0.1:0']);
    t.after(() => served.kill());
    const again = await runFpseClient({ server: served.url, version: '12.0.0.6415', logger });
    assert.deepEqual(
      again.steps.map((s) => [s.request, s.methodLine, s.serverVersion, s.status]),
      recorded.steps.map((s) => [s.request, s.methodLine, s.serverVersion, s.status]),
    );
  });
});
