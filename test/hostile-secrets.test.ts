/**
 * Hostile inputs, part "secrets" (issue 21 finding 3): what a client sends that must not reach
 * the disk or the log, and files the proxy must not hand out. Real sockets: a recording upstream,
 * the real proxy with a journal, raw clients. For each case: what the client got, what the
 * upstream received, what the journal, the HAR made from it and the log say, and that a
 * well-behaved client is still served afterwards.
 */
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { parseTarget, type ProxyConfig } from '../src/config.js';
import { ProgramError } from '../src/errors.js';
import { writeHar } from '../src/record/har-write.js';
import { header, proxiedRequest, rawRequest } from './helpers/client.js';
import { runCli } from './helpers/process.js';
import { startProxy, type TestProxy } from './helpers/proxy.js';
import { startRecordingServer, type RecordingServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

const MiB = 1024 * 1024;

async function upstream(t: TestContext): Promise<RecordingServer> {
  const server = await startRecordingServer();
  t.after(() => server.close());
  return server;
}

/** A recording proxy at debug level, the journal in a fresh folder. */
async function recordingProxy(t: TestContext, overrides: Partial<ProxyConfig> = {}): Promise<TestProxy> {
  const dir = tempDir(t, 'vp-secrets-');
  const proxy = await startProxy({ logLevel: 'debug', record: { path: join(dir, 'journal'), captureBytes: MiB, rotateBytes: 256 * MiB }, ...overrides });
  t.after(() => proxy.close());
  return proxy;
}

/** Everything the exchange left behind as text: the journal file, the HAR made from it, every log line. */
async function traces(proxy: TestProxy): Promise<{ journal: string; har: string; log: string }> {
  await proxy.app.journal!.flush();
  const file = proxy.app.journal!.file;
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  await writeHar([file], out);
  return { journal: readFileSync(file, 'utf8'), har: Buffer.concat(chunks).toString('utf8'), log: JSON.stringify(proxy.logs.lines) };
}

function assertAbsent(where: Record<string, string>, secrets: string[]): void {
  for (const [name, text] of Object.entries(where)) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `${secret} is in the ${name}`);
  }
}

/** A well-behaved client, after the hostile one: still served, upstream reached. */
async function stillServes(proxy: TestProxy, up: RecordingServer): Promise<void> {
  const before = up.requests.length;
  const ok = await proxiedRequest(proxy.port, `${up.url}/well-behaved`);
  assert.equal(ok.statusCode, 200);
  assert.equal(up.requests.length, before + 1);
}

describe('hostile input: secrets', () => {
  it('refuses a URL with userinfo with 400, and the password is nowhere: answer, journal, HAR, log', async (t) => {
    const up = await upstream(t);
    const proxy = await recordingProxy(t);
    const { port } = new URL(up.url);
    const got = await rawRequest(proxy.port, `GET http://alice:S3CRET-PW@127.0.0.1:${port}/admin HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    assert.equal(got.response?.statusCode, 400);
    const body = got.response.body.toString('utf8');
    assertAbsent({ answer: body }, ['S3CRET-PW', 'alice:']);
    assert.match(body, /user information/);
    assert.match(body, new RegExp(`…@127\\.0\\.0\\.1:${port}`), 'the answer still names the host');
    assert.equal(up.requests.length, 0, 'nothing reached the upstream');
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(x?.response?.statusCode, 400);
    await stillServes(proxy, up);

    const seen = await traces(proxy);
    assertAbsent({ answer: body, ...seen }, ['S3CRET-PW', 'alice:']);
    const line = seen.journal.split('\n').map((l) => (l === '' ? undefined : (JSON.parse(l) as { type: string; url?: string; error?: { message: string } }))).find((l) => l?.type === 'exchange');
    assert.equal(line?.url, `http://<redacted 15 bytes>@127.0.0.1:${port}/admin`, 'the record keeps the shape');
    assert.match(line?.error?.message ?? '', /user information/);
  });

  it('reverse mode: an absolute-form URL with userinfo goes to the target as its path, and the record keeps no password', async (t) => {
    const up = await upstream(t);
    const { port } = new URL(up.url);
    const proxy = await recordingProxy(t, { target: parseTarget(up.url) });
    // RFC 9112 §3.2.2: a server accepts absolute-form; reverse mode uses only its path.
    const got = await rawRequest(proxy.port, `GET http://bob:R3VERSE-PW@elsewhere.lab/r?q=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    assert.equal(got.response?.statusCode, 200);
    assert.equal(up.requests[0]?.url, '/r?q=1', 'the upstream got the path, never the userinfo');
    await proxy.waitForExchanges(1);
    await stillServes(proxy, up);
    assertAbsent(await traces(proxy), ['R3VERSE-PW', 'bob:']);
  });

  it('CONNECT with userinfo: refused with 400, and the record and log keep no password, not even in the error message', async (t) => {
    const up = await upstream(t);
    const proxy = await recordingProxy(t);
    const got = await rawRequest(proxy.port, 'CONNECT carol:C0NNECT-PW@127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n');
    assert.equal(got.response?.statusCode, 400);
    const [x] = await proxy.waitForExchanges(1);
    assert.equal(x?.kind, 'tunnel');
    await stillServes(proxy, up);
    const out = await traces(proxy);
    assertAbsent(out, ['C0NNECT-PW', 'carol:']);
    assert.ok(out.journal.includes('<redacted 16 bytes>@127.0.0.1:443'), 'the shape stays');
  });

  it('logs the first bytes of a malformed request at debug with Authorization and the URL redacted', async (t) => {
    const up = await upstream(t);
    const proxy = await recordingProxy(t);
    const got = await rawRequest(proxy.port, 'GET /x?access_token=TOKEN-1 HTTP/1.1\r\nAuthorization: Basic QUxJQ0U6UEFTUw==\r\nBad Header\r\n\r\n');
    assert.equal(got.response?.statusCode, 400);
    const [logged] = await proxy.logs.waitFor((l) => l.msg === 'malformed request');
    const bytes = String(logged!.bytes);
    // The log keeps 64 bytes: the credentials are cut there, and what is left of them is redacted.
    assert.match(bytes, /^GET \/x\?access_token=%3Credacted%207%20bytes%3E HTTP\/1\.1\r\nAuthorization: Basic <redacted \d+ bytes?>/);
    assert.equal(up.requests.length, 0);
    await proxy.waitForExchanges(1);
    await stillServes(proxy, up);
    assertAbsent({ ...(await traces(proxy)), 'debug line': bytes }, ['QUxJQ', 'TOKEN-1']);
  });

  it('redacts query tokens and API-key headers in journal, HAR and log, while the upstream gets them intact', async (t) => {
    const up = await upstream(t);
    const proxy = await recordingProxy(t, { redaction: { enabled: true, extraHeaders: ['X-Tenant-Secret'], extraParams: ['tenant_key'] } });
    const query = '?state=keep-me&code=C0DE-XYZ&access_token=AT-123&sig=SIG%2F456&X-Amz-Signature=AMZ789&tenant_key=TK-1';
    const headers = { 'X-Api-Key': 'APIKEY-1', 'X-Auth-Token': 'AUTHTOK-2', 'Proxy-Authorization': 'Basic UFJPWFk=', 'X-Tenant-Secret': 'TS-3' };
    const got = await proxiedRequest(proxy.port, `${up.url}/cb${query}`, { headers });
    assert.equal(got.statusCode, 200);

    // The upstream got every value as the client sent it (Proxy-Authorization is for the proxy: RFC 9110 §11.7.1).
    const seen = up.requests[0]!;
    assert.equal(seen.url, `/cb${query}`);
    assert.equal(header(seen.rawHeaders, 'X-Api-Key'), 'APIKEY-1');
    assert.equal(header(seen.rawHeaders, 'X-Auth-Token'), 'AUTHTOK-2');
    assert.equal(header(seen.rawHeaders, 'X-Tenant-Secret'), 'TS-3');

    await proxy.waitForExchanges(1);
    await stillServes(proxy, up);
    const out = await traces(proxy);
    assertAbsent(out, ['C0DE-XYZ', 'AT-123', 'SIG%2F456', 'AMZ789', 'TK-1', 'APIKEY-1', 'AUTHTOK-2', 'UFJPWFk=', 'TS-3']);
    // Names stay, with the size of what went; other parameters stay as sent.
    for (const text of [out.journal, out.har]) {
      assert.ok(text.includes('state=keep-me&code=%3Credacted%208%20bytes%3E&access_token=%3Credacted%206%20bytes%3E&sig=%3Credacted%209%20bytes%3E'), text.slice(0, 400));
      assert.ok(text.includes('"X-Api-Key","<redacted 8 bytes>"') || text.includes('"name":"X-Api-Key","value":"<redacted 8 bytes>"'));
    }
    const logged = proxy.logs.lines.find((l) => l.msg === 'exchange' && String(l.url).includes('/cb?'));
    assert.match(String(logged?.url), /access_token=%3Credacted%206%20bytes%3E&sig=/);
    // The HAR decodes the query for viewers: the marker reads as a marker.
    assert.ok(out.har.includes('"name":"access_token","value":"<redacted 6 bytes>"'), 'HAR queryString');
  });

  it('creates the journal 0600 in folders it makes 0700, rotated parts too; warns about an existing readable journal', { skip: process.platform === 'win32' }, async (t) => {
    const dir = tempDir(t, 'vp-modes-');
    const up = await upstream(t);
    const folder = join(dir, 'new', 'recordings');
    const proxy = await startProxy({ record: { path: folder, captureBytes: MiB, rotateBytes: 1024 } });
    t.after(() => proxy.close());
    for (let i = 0; i < 3; i++) assert.equal((await proxiedRequest(proxy.port, `${up.url}/r${i}`)).statusCode, 200);
    await proxy.waitForExchanges(3);
    await proxy.app.journal!.flush();
    assert.match(proxy.app.journal!.file, /\.part\d+\.ndjson$/, 'the journal rotated');
    const first = proxy.app.journal!.file.replace(/\.part\d+\.ndjson$/, '.ndjson');
    for (const file of [first, proxy.app.journal!.file]) assert.equal(statSync(file).mode & 0o777, 0o600, file);
    for (const made of [join(dir, 'new'), folder]) assert.equal(statSync(made).mode & 0o777, 0o700, made);
    await proxy.close();

    // A journal file the user made, readable by others: appended to as it is, with a warning.
    const mine = join(dir, 'mine.ndjson');
    writeFileSync(mine, '');
    chmodSync(mine, 0o644);
    const again = await startProxy({ record: { path: mine, captureBytes: MiB, rotateBytes: 256 * MiB } });
    t.after(() => again.close());
    const [warned] = await again.logs.waitFor((l) => l.msg?.startsWith('the journal is readable by other users') === true);
    assert.deepEqual([warned?.journal, warned?.mode], [mine, '644']);
    assert.equal(statSync(mine).mode & 0o777, 0o644, 'not changed behind the user');
  });

  describe('respond: { file: } outside the rule file folder', () => {
    /** `rules.yaml` in a fresh folder whose rule answers /passwd with `file: ../../…/etc/passwd`. */
    function passwdRule(t: TestContext): string {
      const dir = tempDir(t, 'vp-rules-');
      const rules = join(dir, 'rules.yaml');
      writeFileSync(rules, `rules:\n  - id: leak\n    match: { path: "/passwd" }\n    actions:\n      - respond: { status: 200, file: ${JSON.stringify(relative(dir, '/etc/passwd'))} }\n`);
      return rules;
    }

    it('is refused when the proxy starts, and by rules check at file:line:col', async (t) => {
      const rules = passwdRule(t);
      await assert.rejects(startProxy({ rules: [rules] }), (err: unknown) => {
        assert.ok(err instanceof ProgramError);
        assert.equal(err.code, 'ERR_BAD_RULES');
        assert.match(err.message, new RegExp(`${rules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:39: respond file ".*etc/passwd" is /etc/passwd, outside the rule file's folder`));
        return true;
      });
      const check = await runCli(['rules', 'check', rules]);
      assert.equal(check.code, 1);
      assert.match(check.stderr, /rules\.yaml:5:39: respond file .* outside the rule file's folder .*--rules-files-anywhere/);
    });

    it('is served with --rules-files-anywhere, and rules check accepts it with the flag', async (t) => {
      const up = await upstream(t);
      const rules = passwdRule(t);
      const proxy = await startProxy({ rules: [rules], rulesFilesAnywhere: true });
      t.after(() => proxy.close());
      const got = await proxiedRequest(proxy.port, `${up.url}/passwd`);
      assert.equal(got.statusCode, 200);
      assert.deepEqual(got.body, readFileSync('/etc/passwd'));
      assert.equal(up.requests.length, 0);
      await stillServes(proxy, up);
      const check = await runCli(['rules', 'check', '--rules-files-anywhere', rules]);
      assert.equal(check.code, 0, check.stderr);
    });
  });
});
