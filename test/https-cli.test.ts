/**
 * HTTPS interception from the command line (issue 5, items 1 and 4): `./proxy ca` and the
 * `start` flags --ca-dir, --upstream-ca, --insecure-upstream and --no-intercept, each run as a
 * child process (`node dist/src/cli.js`, what ./proxy execs) and looked at from outside: stdout,
 * stderr, exit code, file modes, and curl through the running proxy to a local HTTPS upstream.
 * Every CA directory is a fresh temporary folder; the real ~/.version-proxy is never touched.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { curl, findCurl } from './helpers/curl.js';
import { CLI, linesOf, ProxyProcess, ROOT, runCli } from './helpers/process.js';
import { makeSelfSigned, makeTestCa, startHttpsServer, type CertAndKey, type HttpsTestServer, type TestCa } from './helpers/tls.js';

const root = await mkdtemp(path.join(os.tmpdir(), 'vp-https-cli-'));
after(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
/** A CA directory that does not exist yet. */
const freshCaDir = (): string => path.join(root, `ca-${++dirs}`);

let upstreamCa: TestCa;
let upstreamCaFile: string;
let goodLeaf: CertAndKey;

before(async () => {
  upstreamCa = await makeTestCa('cli upstream');
  upstreamCaFile = path.join(root, 'upstream-ca.pem');
  await writeFile(upstreamCaFile, upstreamCa.certPem);
  goodLeaf = await upstreamCa.issue(['localhost', '127.0.0.1']);
});

/** `node dist/src/cli.js ARGS…` with stdout kept as bytes (DER is binary). */
function runCliBytes(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  delete env.FORCE_COLOR;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** An HTTPS upstream on 127.0.0.1 answering `hello <url>`, closed when the test ends. */
async function httpsUpstream(t: TestContext, cert: CertAndKey): Promise<HttpsTestServer & { hits: string[] }> {
  const hits: string[] = [];
  const server = await startHttpsServer((req, res) => {
    hits.push(req.url ?? '');
    req.resume();
    res.end(`hello ${req.url ?? ''}`);
  }, cert);
  t.after(() => server.close());
  return Object.assign(server, { hits });
}

/** `./proxy start --listen 127.0.0.1:0 ARGS…`, killed when the test ends. */
async function startCliProxy(t: TestContext, args: string[]): Promise<ProxyProcess> {
  const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--grace', '0', ...args]);
  t.after(() => proxy.kill());
  return proxy;
}

async function needCurl(t: TestContext): Promise<string | undefined> {
  const found = await findCurl();
  if (found.ok) return found.path;
  t.skip(found.reason);
  return undefined;
}

const spkiOf = (cert: X509Certificate): string => createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');

describe('./proxy ca', () => {
  it('prints the CA certificate (PEM) on stdout and install hints on stderr, exit 0; the key files are 0600; a second run prints the same CA', async () => {
    const caDir = freshCaDir();
    const r = await runCli(['ca', '--ca-dir', caDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
    const cert = new X509Certificate(r.stdout);
    assert.equal(cert.ca, true);
    assert.match(cert.subject, /version-proxy CA/);
    assert.equal(r.stdout, await readFile(path.join(caDir, 'ca.pem'), 'utf8'), 'stdout is the ca.pem file');

    for (const hint of ['curl', '--cacert', 'NODE_EXTRA_CA_CERTS', 'Chromium', '--ignore-certificate-errors-spki-list', 'certutil', '-addstore Root']) {
      assert.ok(r.stderr.includes(hint), `the install hints mention ${hint}; stderr: ${r.stderr}`);
    }
    assert.ok(r.stderr.includes(path.join(caDir, 'ca.pem')), 'the hints name the file to trust');
    assert.ok(!r.stdout.includes('PRIVATE KEY') && !r.stderr.includes('PRIVATE KEY'));

    if (process.platform !== 'win32') {
      assert.equal((await stat(path.join(caDir, 'ca-key.pem'))).mode & 0o777, 0o600);
      assert.equal((await stat(path.join(caDir, 'leaf-key.pem'))).mode & 0o777, 0o600);
      assert.equal((await stat(caDir)).mode & 0o077, 0, 'the CA directory is private');
    }

    const again = await runCli(['ca', '--ca-dir', caDir]);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, r.stdout, 'the CA is reused, not made again');
  });

  it('--der prints DER that parses as the same certificate; --spki prints the base64 SHA-256 of its SPKI', async () => {
    const caDir = freshCaDir();
    const pem = await runCli(['ca', '--ca-dir', caDir]);
    assert.equal(pem.code, 0, pem.stderr);
    const fromPem = new X509Certificate(pem.stdout);

    const der = await runCliBytes(['ca', '--ca-dir', caDir, '--der']);
    assert.equal(der.code, 0, der.stderr);
    assert.equal(der.stdout[0], 0x30, 'DER starts with a SEQUENCE');
    const fromDer = new X509Certificate(der.stdout);
    assert.ok(fromDer.raw.equals(fromPem.raw), 'the DER is the same certificate');
    assert.ok(der.stdout.equals(fromPem.raw), 'nothing but the DER on stdout');

    const spki = await runCli(['ca', '--ca-dir', caDir, '--spki']);
    assert.equal(spki.code, 0, spki.stderr);
    assert.equal(spki.stdout, `${spkiOf(fromPem)}\n`);
    assert.match(spki.stdout.trim(), /^[A-Za-z0-9+/]{43}=$/, 'a base64 SHA-256');
    assert.ok(pem.stderr.includes(spki.stdout.trim()), 'the PEM hints show the same SPKI hash');
  });

  it('--der and --spki together are refused with exit 2', async () => {
    const r = await runCli(['ca', '--ca-dir', freshCaDir(), '--der', '--spki']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /der/);
  });
});

describe('./proxy start with HTTPS', () => {
  it('--ca-dir and --upstream-ca: curl --cacert <ca> through the proxy reaches an HTTPS upstream of the test CA, end to end', { timeout: 30_000 }, async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const caDir = freshCaDir();
    // The user's first step: ./proxy ca, to get the certificate to trust.
    const ca = await runCli(['ca', '--ca-dir', caDir]);
    assert.equal(ca.code, 0, ca.stderr);
    const caFile = path.join(caDir, 'ca.pem');

    const proxy = await startCliProxy(t, ['--ca-dir', caDir, '--upstream-ca', upstreamCaFile]);
    const r = await curl(curlPath, ['--cacert', caFile, '-x', proxy.url, `https://localhost:${upstream.port}/e2e`]);
    assert.equal(r.code, 0, `curl: ${r.stderr}; proxy stderr: ${proxy.stderr}`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello /e2e');
    assert.deepEqual(upstream.hits, ['/e2e']);
    const line = await proxy.waitForLine('the exchange log line', (l) => l.msg === 'exchange' && l.method === 'GET');
    assert.equal(line.url, `https://localhost:${upstream.port}/e2e`);
    assert.equal(line.status, 200);
    assert.ok(!proxy.stderr.includes('PRIVATE KEY'));
  });

  it('--upstream-ca /nonexistent: exit 2 with a one-line error naming the file', async () => {
    const r = await runCli(['start', '--listen', '127.0.0.1:0', '--ca-dir', freshCaDir(), '--upstream-ca', '/nonexistent/upstream-ca.pem']);
    assert.equal(r.code, 2, `exit ${String(r.code)}; stderr: ${r.stderr}`);
    const lines = linesOf(r.stderr);
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, /^proxy: --upstream-ca \/nonexistent\/upstream-ca\.pem cannot be read/);
    assert.match(lines[0]!, /PEM/);
  });

  it('--upstream-ca with a file that holds no certificate: exit 2, one line', async () => {
    const notPem = path.join(root, 'not-a-cert.txt');
    await writeFile(notPem, 'hello\n');
    const r = await runCli(['start', '--listen', '127.0.0.1:0', '--ca-dir', freshCaDir(), '--upstream-ca', notPem]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(linesOf(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /holds no PEM certificate/);
  });

  it('an untrusted upstream is refused (502, unknown issuer) by default, and works with --insecure-upstream given alone', { timeout: 30_000 }, async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, await makeSelfSigned(['localhost']));
    const caDir = freshCaDir();
    assert.equal((await runCli(['ca', '--ca-dir', caDir])).code, 0);
    const caFile = path.join(caDir, 'ca.pem');

    const strict = await startCliProxy(t, ['--ca-dir', caDir]);
    const refused = await curl(curlPath, ['--cacert', caFile, '-x', strict.url, `https://localhost:${upstream.port}/lab`]);
    assert.equal(refused.status, 502, `${refused.stderr} ${refused.body}`);
    assert.match(refused.body, /unknown issuer/);
    await strict.kill();

    // Last on the line, with no globs: every host.
    const lax = await startCliProxy(t, ['--ca-dir', caDir, '--insecure-upstream']);
    const ok = await curl(curlPath, ['--cacert', caFile, '-x', lax.url, `https://localhost:${upstream.port}/lab`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.status, 200, `${ok.body}; proxy stderr: ${lax.stderr}`);
    assert.equal(ok.body, 'hello /lab');
  });

  it('--insecure-upstream alone followed by another flag still means every host', { timeout: 30_000 }, async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, await makeSelfSigned(['localhost']));
    const caDir = freshCaDir();
    assert.equal((await runCli(['ca', '--ca-dir', caDir])).code, 0);
    const proxy = await startCliProxy(t, ['--insecure-upstream', '--ca-dir', caDir]);
    const ok = await curl(curlPath, ['--cacert', path.join(caDir, 'ca.pem'), '-x', proxy.url, `https://localhost:${upstream.port}/lab2`]);
    assert.equal(ok.status, 200, `${ok.body} ${ok.stderr}`);
    assert.equal(ok.body, 'hello /lab2');
  });

  it('--no-intercept localhost: the host is tunnelled untouched (curl trusting only the upstream CA gets through) and the CA is never created', { timeout: 30_000 }, async (t) => {
    const curlPath = await needCurl(t);
    if (curlPath === undefined) return;
    const upstream = await httpsUpstream(t, goodLeaf);
    const caDir = freshCaDir();
    const proxy = await startCliProxy(t, ['--ca-dir', caDir, '--no-intercept', 'localhost']);
    const r = await curl(curlPath, ['--cacert', upstreamCaFile, '-x', proxy.url, `https://localhost:${upstream.port}/pass`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body, 'hello /pass');
    const line = await proxy.waitForLine('the tunnel log line', (l) => l.msg === 'exchange' && l.method === 'CONNECT');
    assert.equal(line.url, `localhost:${upstream.port}`);
    await assert.rejects(stat(path.join(caDir, 'ca.pem')), { code: 'ENOENT' }, 'a proxy that only tunnels does not create the CA');
  });
});
