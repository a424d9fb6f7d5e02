/**
 * Issue 5, acceptance "A real browser": headless Debian Chromium, driven by playwright-core,
 * loads a page from a local HTTPS server through the intercepting proxy; the page's fetch('/api')
 * goes the same way. Chromium trusts our CA through --ignore-certificate-errors-spki-list (which
 * it honours only with a --user-data-dir of its own, hence launchPersistentContext on a fresh
 * temporary profile). The test installs Chromium when it is missing (scripts/ensure-chromium.sh)
 * and is skipped, saying why, only where that cannot be done. Loopback only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { openCa } from '../src/tls/ca.js';
import { startProxy, type Exchange } from './helpers/proxy.js';
import { makeTestCa, startHttpsServer } from './helpers/tls.js';

// dist/test/browser.test.js → the repository root.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENSURE_SCRIPT = join(root, 'scripts', 'ensure-chromium.sh');
// apt-get update + install of Debian's chromium takes well under a minute on a good mirror.
const INSTALL_TIMEOUT_MS = 10 * 60 * 1000;

const API_BODY = { ok: true, from: 'api', answer: 42 };

const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>version-proxy browser test</title></head>
<body>
<h1 id="heading">Hello through the proxy</h1>
<pre id="result" data-state="pending"></pre>
<script>
  const out = document.getElementById('result');
  fetch('/api', { cache: 'no-store' })
    .then((response) => response.json().then((body) => ({ status: response.status, body })))
    .then((result) => { out.textContent = JSON.stringify(result); out.dataset.state = 'done'; })
    .catch((error) => { out.textContent = String(error); out.dataset.state = 'failed'; });
</script>
</body>
</html>
`;

/** The Chromium path from scripts/ensure-chromium.sh, or the reason it could not provide one. */
function ensureChromium(): Promise<{ path: string } | { reason: string }> {
  return new Promise((resolvePath) => {
    execFile('sh', [ENSURE_SCRIPT], { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const path = stdout.trim().split('\n').pop() ?? '';
      if (error === null && path !== '') {
        resolvePath({ path });
        return;
      }
      const lines = stderr.trim().split('\n').filter((line) => line !== '');
      const why = error?.killed === true ? `timed out after ${INSTALL_TIMEOUT_MS / 1000} s` : (lines.pop() ?? error?.message ?? 'printed no path');
      resolvePath({ reason: `no usable Chromium: ${why}` });
    });
  });
}

const handler: http.RequestListener = (req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(PAGE);
  } else if (req.method === 'GET' && req.url === '/api') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(API_BODY));
  } else {
    // /favicon.ico and anything else the browser tries on its own.
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
};

function describeExchanges(exchanges: Exchange[]): string {
  return exchanges.map((x) => `${x.kind} ${x.request.method} ${x.url} -> ${x.response?.statusCode ?? 'none'}${x.intercepted === true ? ' (intercepted)' : ''}`).join('; ');
}

/** Polls the proxy's finished records until `predicate` holds for them. */
async function waitForRecords(exchanges: Exchange[], predicate: (all: Exchange[]) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(exchanges)) {
    if (Date.now() > deadline) throw new Error(`records not complete after ${timeoutMs} ms: ${describeExchanges(exchanges)}`);
    await new Promise((wake) => setTimeout(wake, 25));
  }
}

test('headless Chromium loads a page and its fetch() from an HTTPS server through the intercepting proxy', async (t) => {
  const chromiumPath = await ensureChromium();
  if ('reason' in chromiumPath) {
    t.skip(chromiumPath.reason);
    return;
  }

  // Torn down in reverse: the browser, then the proxy, then the server, then the temporary files
  // (node:test runs t.after hooks in the order they were registered, so one hook does it all).
  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    const failures: unknown[] = [];
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  });

  const work = await mkdtemp(join(tmpdir(), 'version-proxy-browser-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const caDir = join(work, 'ca');
  const profileDir = join(work, 'profile');

  const upstreamCa = await makeTestCa('browser upstream');
  const upstreamCaFile = join(work, 'upstream-ca.pem');
  await writeFile(upstreamCaFile, upstreamCa.certPem);
  const server = await startHttpsServer(handler, await upstreamCa.issue(['localhost', '127.0.0.1']));
  cleanups.push(() => server.close());

  const proxy = await startProxy({
    interception: { caDir, intercept: ['*'], noIntercept: [] },
    upstreamCa: [upstreamCaFile],
  });
  cleanups.push(() => proxy.close());
  const ca = await openCa(caDir, proxy.logs.logger);

  const context: BrowserContext = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath.path,
    headless: true,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--proxy-server=${proxy.url}`,
      `--ignore-certificate-errors-spki-list=${ca.spki}`,
      // <-loopback>: without it Chromium never sends localhost through a proxy. The Google hosts:
      // Chromium's own background requests (sign-in ListAccounts, the on-device model manifest
      // component), which the flags above do not stop, go direct instead of through the proxy and
      // die at the resolver rule below, so nothing this test starts leaves loopback.
      '--proxy-bypass-list=<-loopback>;*.google.com;*.googleapis.com;*.gvt1.com',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
    ],
  });
  cleanups.push(() => context.close());

  const origin = `https://localhost:${server.port}`;
  const page = context.pages()[0] ?? (await context.newPage());
  const response = await page.goto(`${origin}/`, { waitUntil: 'load', timeout: 30_000 });
  assert.ok(response, 'page.goto gave no response');
  assert.equal(response.status(), 200);
  // The proxy presented its own leaf (issued by our CA), which Chromium accepted via the SPKI list.
  const security = await response.securityDetails();
  const caCommonName = /CN=([^\n,]+)/.exec(new X509Certificate(ca.certPem).subject)?.[1];
  assert.ok(caCommonName, 'the proxy CA has no CN');
  assert.equal(security?.issuer, caCommonName, 'the page was not served with a leaf of the proxy CA');

  await page.waitForSelector('#result:not([data-state="pending"])', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#result', 'data-state'), 'done', `fetch failed: ${await page.textContent('#result')}`);
  assert.equal(await page.textContent('#heading'), 'Hello through the proxy');
  assert.deepEqual(JSON.parse((await page.textContent('#result')) ?? 'null'), { status: 200, body: API_BODY });

  const find = (all: Exchange[], path: string): Exchange | undefined => all.find((x) => x.request.method === 'GET' && x.url === `${origin}${path}`);
  await waitForRecords(proxy.exchanges, (all) => find(all, '/') !== undefined && find(all, '/api') !== undefined, 10_000);
  for (const path of ['/', '/api']) {
    const record = find(proxy.exchanges, path);
    assert.ok(record, `no record of GET ${origin}${path}: ${describeExchanges(proxy.exchanges)}`);
    assert.equal(record.intercepted, true, `GET ${path} not recorded as intercepted`);
    assert.equal(record.response?.statusCode, 200, `GET ${path} recorded with status ${record.response?.statusCode}`);
    assert.equal(record.error, undefined, `GET ${path} recorded an error: ${JSON.stringify(record.error)}`);
  }
});

