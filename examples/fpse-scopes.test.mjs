// A node:test suite that drives version-proxy from test code (docs/control-api.md "Test suites").
// The proxy runs in-process (startProxy); the FPSE server and the Office client are the project's
// simulators (./proxy simulate). Each test scopes rules to itself with withRules: they are in force
// while the test runs and gone afterwards, even if the test fails or the process is killed.
//
//   npm run build && node --test examples/fpse-scopes.test.mjs
//
// 'version-proxy' and 'version-proxy/client' resolve to dist/ through package.json "exports";
// outside this repository, install the package and import the same names.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, before, beforeEach, test } from 'node:test';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';
import { startProxy } from 'version-proxy';
import { connectControl } from 'version-proxy/client';

const PROXY_CLI = fileURLToPath(new URL('../proxy', import.meta.url));

/** `./proxy simulate fpse`: a SharePoint 2010 (14.0.0.6029) FPSE server on a free port. */
function startFpseSimulator() {
  const child = spawn(PROXY_CLI, ['simulate', 'fpse', '--listen', '127.0.0.1:0', '--version', '14.0.0.6029'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`the FPSE simulator did not start within 30 s: ${buffered}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`the FPSE simulator exited (${code}): ${buffered}`)));
    child.stderr.setEncoding('utf8').on('data', (text) => {
      buffered += text;
      // Its log is JSON lines on a pipe; this one names its URL.
      const line = buffered.split('\n').find((l) => l.includes('"fpse simulator listening"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve({ url: JSON.parse(line).url, stop: () => child.kill() });
    });
  });
}

/** `./proxy simulate fpse-client --json` through the proxy: what the Office client saw. */
function runOfficeClient(server, proxyUrl, version) {
  return new Promise((resolve, reject) => {
    execFile(PROXY_CLI, ['simulate', 'fpse-client', '--server', server, '--via', proxyUrl, '--version', version, '--json'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`fpse-client failed: ${err.message} ${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

let proxy;
let control;
let sharepoint;

before(async () => {
  proxy = await startProxy(); // 127.0.0.1, a free port, control server and token of its own
  // The same methods over the network, as a suite talking to a `./proxy start` elsewhere would use them.
  control = connectControl({ url: proxy.control.url, tokenFile: proxy.control.tokenFile });
  sharepoint = await startFpseSimulator();
});

after(async () => {
  sharepoint?.stop();
  control?.close();
  await proxy?.stop();
});

// Each test starts from an empty ring and no conversations.
beforeEach(() => proxy.reset());

test('a server made to look like FrontPage 2002: Office 2007 negotiates 5.0.2.6790', async () => {
  const downgrade = { id: 'looks-like-fp2002', match: { protocol: 'fpse' }, actions: [{ serverVersion: '5.0.2.6790' }] };
  await proxy.withRules([downgrade], async () => {
    const seen = await runOfficeClient(sharepoint.url, proxy.url, '12.0.0.6415');
    assert.equal(seen.rejected, false);
    assert.equal(seen.serverVersion, '5.0.2.6790', 'the client saw the rewritten build');
    assert.equal(seen.negotiated, '5.0.2.6790', 'Min(12.0.0.6415, 5.0.2.6790), MS-FPSE 1.7.1');

    // Applied to all four exchanges: discovery (FPVersion), server version, open service, url to web url.
    const hits = await control.ruleHits('looks-like-fp2002', { count: 4, wait: 5000 });
    assert.equal(hits.hits, 4);

    const [conversation] = await control.listConversations();
    assert.equal(conversation.negotiated, '5.0.2.6790');
    // The client stated its own build, then used the negotiated version for every later call.
    assert.deepEqual(conversation.clientsSeen, ['12.0.0.6415', '5.0.2.6790']);
    const [serverVersion] = await control.listExchanges({ filter: 'protocol:fpse operation:"server version"' });
    assert.deepEqual(serverVersion.versions, { client: '12.0.0.6415', server: '5.0.2.6790', negotiated: '5.0.2.6790' });
    assert.deepEqual(serverVersion.verdicts.map((v) => v.code), ['accepted'], 'Min(client, server) on the method line');
  });
  // Out of the scope, the server is itself again.
  const seen = await runOfficeClient(sharepoint.url, proxy.url, '12.0.0.6415');
  assert.equal(seen.negotiated, '12.0.0.6415');
});

test('a server that refuses every client as too old: the client stops after server version', async () => {
  const refuse = { id: 'refuse-old-client', match: { protocol: 'fpse', fpseMethod: 'server version' }, actions: [{ reject: 'client-too-old' }] };
  await proxy.withRules([refuse], async () => {
    const seen = await runOfficeClient(sharepoint.url, proxy.url, '12.0.0.6415');
    assert.equal(seen.rejected, true);
    assert.equal(seen.steps.length, 2, 'discovery and server version, nothing after the refusal');

    const hits = await control.ruleHits('refuse-old-client', { count: 1, wait: 5000 });
    assert.equal(hits.hits, 1);
    const refused = await control.getExchange(hits.exchanges[0]);
    assert.equal(refused.response.statusCode, 200, 'FPSE refusals are 200 with an error packet');
    // 12.0.0.6415 is not too old (MS-FPSE 1.7.1), so the proxy flags the refusal itself.
    const [summary] = await control.listExchanges({ filter: 'rule:refuse-old-client' });
    const verdict = summary.verdicts.find((v) => v.code === 'rejected-client-too-old');
    assert.equal(verdict?.level, 'violation');
  });
});
