/**
 * The proxy for test code (issue 22, docs/control-api.md "Test suites"), with real sockets:
 * `startProxy()` in-process (traffic through it, a rule added through its API changing the very
 * next request, stop() closing every socket and removing the token folder), `connectControl()`
 * against a `./proxy start` child (every route, errors as ControlError), the client's routes
 * against the live OpenAPI document, and `withRules`: in force inside, gone after, and gone
 * within 2 s when the process holding it is killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CLIENT_ROUTES, connectControl, ControlError, type ControlClient, type Rule } from '../src/client/index.js';
import { startProxy, type RunningProxy } from '../src/index.js';
import { ProgramError } from '../src/errors.js';
import type { RunningServer } from '../src/simulators/fpse-server.js';
import { proxiedRequest, withTimeout, type CollectedResponse } from './helpers/client.js';
import { closedPort, ProxyProcess, waitFor } from './helpers/process.js';
import { FPSE_HEADERS, fpseServer, SHTML } from './helpers/protocol.js';
import { tempDir } from './helpers/temp.js';

/** `method=server version:VERSION` (MS-FPSE 2.2.2.2.4; docs/protocols.md §2.3). */
const SERVER_VERSION = (version: string): string => `method=server+version%3a${version.replace(/\./g, '%2e')}&service%5fname=%2f`;
/** The FPSE answer status of a refused client: V_RPC_CLIENT_TOO_OLD, 0x0004000C (MS-FPSE 1.7.1; docs/protocols.md §2.5). */
const CLIENT_TOO_OLD = 'status=262156';

const REJECT_OLD: Rule = { id: 'old-client', match: { protocol: 'fpse', fpseMethod: 'server version' }, actions: [{ reject: 'client-too-old' }] };

async function inProcess(t: TestContext, options: Parameters<typeof startProxy>[0] = {}): Promise<RunningProxy> {
  const proxy = await startProxy(options);
  t.after(() => proxy.stop());
  return proxy;
}

/** One FPSE `server version` call through the proxy at `port` to the simulator. */
function serverVersionCall(port: number, server: RunningServer, version = '12.0.0.6415'): Promise<CollectedResponse> {
  return proxiedRequest(port, `${server.url}${SHTML}`, { method: 'POST', headers: { Host: new URL(server.url).host, ...FPSE_HEADERS }, body: SERVER_VERSION(version), timeoutMs: 5000 });
}

/** TCP handles (servers and sockets) this process holds open. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function rejectsWith(promise: Promise<unknown>, status: number, code: string): Promise<ControlError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ControlError, `a ControlError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status, err.message);
    return err;
  }
  assert.fail(`expected ControlError ${status} ${code}, but the call succeeded`);
}

describe('startProxy: the proxy in-process', () => {
  it('carries traffic and answers for it through its own methods; stop() closes every socket and removes the token folder', async (t) => {
    const server = await fpseServer(t);
    const before = tcpHandles();
    const proxy = await startProxy();
    t.after(() => proxy.stop());
    assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(proxy.url, `http://127.0.0.1:${proxy.port}`);
    assert.match(proxy.control.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(Number(new URL(proxy.control.url).port), proxy.port);
    const folder = dirname(proxy.control.tokenFile);
    assert.equal(statSync(folder).mode & 0o777, 0o700, 'a folder only this user can enter');
    assert.equal(statSync(proxy.control.tokenFile).mode & 0o777, 0o600);

    // A client holding a kept-alive connection through the proxy, as a test's HTTP client would.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const res = await proxiedRequest(proxy.port, `${server.url}/_vti_inf.html`, { agent, timeoutMs: 5000 });
    assert.equal(res.statusCode, 200);
    assert.match(res.body.toString(), /FPVersion/);
    const [summary] = await proxy.listExchanges();
    assert.equal(summary?.url, `${server.url}/_vti_inf.html`);
    assert.equal((await proxy.status()).counts.finished, 1);
    const kept = Object.values(agent.freeSockets).flat()[0];
    assert.ok(kept !== undefined, 'the client kept its connection to the proxy');
    const keptClosed = new Promise<void>((resolve) => kept.once('close', () => resolve()));

    await proxy.stop();
    await proxy.stop(); // a second stop is the same stop
    await withTimeout(keptClosed, 3000, 'the client connection to the proxy to be closed by stop()');
    assert.equal(existsSync(folder), false, 'the token folder is removed');
    assert.equal(await connectRefused(proxy.port), true, 'the proxy port is closed');
    assert.equal(await connectRefused(Number(new URL(proxy.control.url).port)), true, 'the control port is closed');
    // Handles close on the next turns of the loop: polled, bounded.
    await waitFor('the TCP handles of before startProxy', () => tcpHandles() <= before, 2000);
  });

  it('takes the useful start options: target (reverse mode), seed, record; a bad one is a ProgramError and leaves no folder', async (t) => {
    const server = await fpseServer(t);
    const dir = tempDir(t);
    const proxy = await inProcess(t, { target: server.url, seed: 42, record: join(dir, 'run.ndjson') });
    assert.equal(proxy.seed, 42);
    assert.equal(proxy.journal, join(dir, 'run.ndjson'));
    const res = await proxiedRequest(proxy.port, '/_vti_inf.html', { timeoutMs: 5000 });
    assert.equal(res.statusCode, 200);
    const status = await proxy.status();
    assert.equal(status.mode, 'reverse');
    assert.equal(status.seed, 42);

    await assert.rejects(startProxy({ target: 'ftp://example.test' }), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_BAD_TARGET');
    await assert.rejects(startProxy({ controlRing: 0 }), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_BAD_OPTION');
  });

  it('a rule added through its API changes the very next request, and deleting it restores the next one', async (t) => {
    const server = await fpseServer(t);
    const proxy = await inProcess(t);
    const plain = await serverVersionCall(proxy.port, server);
    assert.doesNotMatch(plain.body.toString('latin1'), new RegExp(CLIENT_TOO_OLD));

    const added = await proxy.addRule(REJECT_OLD);
    assert.equal(added.id, 'old-client');
    const refused = await serverVersionCall(proxy.port, server);
    assert.match(refused.body.toString('latin1'), new RegExp(CLIENT_TOO_OLD), 'the very next request is refused');
    const hits = await proxy.ruleHits('old-client', { count: 1, wait: 2000 });
    assert.equal(hits.hits, 1);
    const [latest] = await proxy.listExchanges({ limit: 1 });
    assert.deepEqual(hits.exchanges, [latest!.id]);
    assert.deepEqual(latest!.rules, ['old-client']);

    await proxy.deleteRule('old-client');
    const again = await serverVersionCall(proxy.port, server);
    assert.doesNotMatch(again.body.toString('latin1'), new RegExp(CLIENT_TOO_OLD), 'the next request after the delete passes');
  });
});

describe('connectControl: a client for a running ./proxy start', () => {
  /** `./proxy start` on port 0 with its control server on port 0, and a client from its listening line. */
  async function child(t: TestContext): Promise<{ proxy: ProxyProcess; control: ControlClient; tokenFile: string; controlUrl: string }> {
    const tokenFile = join(tempDir(t), 'token');
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--control', '127.0.0.1:0', '--control-token-file', tokenFile, '--log-level', 'info']);
    t.after(() => proxy.kill());
    const listening = proxy.lines.find((l) => l.msg === 'listening')!;
    assert.equal(listening.tokenFile, tokenFile);
    const controlUrl = String(listening.control);
    const control = connectControl({ url: controlUrl, tokenFile });
    t.after(() => control.close());
    return { proxy, control, tokenFile, controlUrl };
  }

  it('reads status, exchanges, one whole exchange and conversations, typed', async (t) => {
    const server = await fpseServer(t, { version: '14.0.0.6029' });
    const { proxy, control } = await child(t);
    const status = await control.status();
    assert.equal(status.mode, 'forward');
    assert.equal(status.counts.finished, 0);
    const res = await serverVersionCall(proxy.port, server, '12.0.0.6415');
    assert.equal(res.statusCode, 200);
    // The ring is fed when the exchange finishes, a moment after the client has its answer.
    const summaries = await waitForValue(async () => {
      const list = await control.listExchanges({ filter: 'protocol:fpse' });
      return list.length > 0 ? list : undefined;
    });
    const summary = summaries[0]!;
    assert.equal(summary.protocol, 'fpse');
    assert.equal(summary.operation, 'server version');
    assert.deepEqual(summary.verdicts.map((v) => v.code), ['accepted']);
    const whole = await control.getExchange(summary.id);
    assert.equal(whole.id, summary.id);
    assert.equal(whole.url, summary.url);
    const [conversation] = await control.listConversations();
    assert.equal(conversation?.protocol, 'fpse');
    assert.equal(conversation?.negotiated, '12.0.0.6415');
    assert.equal(conversation?.server, '14.0.0.6029');
    assert.deepEqual(await control.listExchanges({ filter: 'protocol:mapihttp' }), []);
  });

  it('throws ControlError with the status, code, issues and message of the server; status 0 when it cannot reach it', async (t) => {
    const { control, controlUrl, tokenFile } = await child(t);
    const missing = await rejectsWith(control.getExchange('no-such-id'), 404, 'NOT_FOUND');
    assert.match(missing.message, /no exchange no-such-id/);
    assert.equal(missing.request, 'GET /api/exchanges/no-such-id');
    const bad = await rejectsWith(control.listExchanges({ filter: 'colour:blue' }), 400, 'BAD_FILTER');
    assert.ok((bad.issues ?? []).length >= 1, 'issues list each problem');
    const wrong = connectControl({ url: controlUrl, token: 'not-the-token' });
    t.after(() => wrong.close());
    await rejectsWith(wrong.status(), 401, 'UNAUTHORIZED');
    const nobody = connectControl({ url: `http://127.0.0.1:${await closedPort()}`, tokenFile });
    const unreachable = await rejectsWith(nobody.status(), 0, 'UNREACHABLE');
    assert.match(unreachable.message, /ECONNREFUSED/);
    assert.throws(() => connectControl({ url: controlUrl, tokenFile: join(dirname(tokenFile), 'absent') }), (err: unknown) => err instanceof ControlError && err.code === 'TOKEN_FILE');
  });

  it('calls only routes the server documents: every CLIENT_ROUTES entry is in GET /api/openapi.json, and every method has an entry', async (t) => {
    const { control } = await child(t);
    const document = (await control.openApi()) as { paths: Record<string, Record<string, unknown>> };
    const missing = Object.entries(CLIENT_ROUTES)
      .filter(([, [method, path]]) => document.paths[path]?.[method.toLowerCase()] === undefined)
      .map(([name, [method, path]]) => `${name}: ${method} ${path}`);
    assert.deepEqual(missing, [], 'client methods whose route the OpenAPI document does not have');
    const methods = Object.entries(control).filter(([, value]) => typeof value === 'function').map(([name]) => name);
    const unlisted = methods.filter((name) => !(name in CLIENT_ROUTES) && name !== 'withRules' && name !== 'close');
    assert.deepEqual(unlisted, [], 'client methods not in CLIENT_ROUTES');
  });

  it('manages runtime rules: add, list, disable, enable, replace, hits with wait, delete, reset; bad rules and taken ids are 400 and 409', async (t) => {
    const server = await fpseServer(t);
    const { proxy, control } = await child(t);
    const added = await control.addRule(REJECT_OLD);
    assert.equal(added.rule.source, 'runtime');
    const listed = (await control.listRules()).find((r) => r.id === 'old-client');
    assert.equal(listed?.enabled, true);
    assert.equal(listed?.hits, 0);
    await rejectsWith(control.addRule(REJECT_OLD), 409, 'CONFLICT');
    const badRule = await rejectsWith(control.addRule({ match: { protocol: 'fpse' }, actions: [{ reject: 'not-a-reason' }] }), 400, 'BAD_RULE');
    assert.ok(badRule.issues?.some((issue) => issue.startsWith('actions[0].reject')), JSON.stringify(badRule.issues));

    assert.equal((await control.disableRule('old-client')).enabled, false);
    assert.doesNotMatch((await serverVersionCall(proxy.port, server)).body.toString('latin1'), new RegExp(CLIENT_TOO_OLD), 'disabled: not applied');
    assert.equal((await control.enableRule('old-client')).enabled, true);

    // The long poll: asked for 2 hits, it answers once the second request has been refused.
    const waiting = control.ruleHits('old-client', { count: 2, wait: 10_000 });
    await serverVersionCall(proxy.port, server);
    await serverVersionCall(proxy.port, server);
    assert.equal((await waiting).hits, 2);
    const timedOut = await control.ruleHits('old-client', { count: 3, wait: 200 });
    assert.equal(timedOut.hits, 2, 'after wait ms the answer says how many there were');

    const replaced = await control.replaceRule('old-client', { ...REJECT_OLD, actions: [{ status: 503 }] });
    assert.deepEqual(replaced.definition.actions, [{ status: 503 }]);
    assert.equal((await serverVersionCall(proxy.port, server)).statusCode, 503);
    assert.deepEqual(await control.deleteRule('old-client'), { id: 'old-client', deleted: true });
    await rejectsWith(control.deleteRule('old-client'), 404, 'NOT_FOUND');

    await control.addRule({ match: { protocol: 'fpse' }, actions: [{ status: 503 }] });
    await control.createScope([{ match: { protocol: 'mapihttp' }, actions: [{ status: 503 }] }]);
    assert.deepEqual(await control.reset(), { rules: 2, scopes: 1 }, 'the runtime rule, and the scope with its rule');
    assert.deepEqual((await control.listRules()).filter((r) => r.source !== 'file'), []);
  });

  it('scopes: create with a ttl, renew, list, delete; withRules keeps its rules in force inside and removes them after, even when the function throws', async (t) => {
    const server = await fpseServer(t);
    const { proxy, control } = await child(t);
    const scope = await control.createScope([REJECT_OLD], { ttl: 5000 });
    assert.equal(scope.ttl, 5000);
    assert.deepEqual(scope.rules, ['old-client']);
    const renewed = await control.renewScope(scope.id, { ttl: 10_000 });
    assert.ok(renewed.expiresAt >= scope.expiresAt);
    assert.deepEqual((await control.listScopes()).map((s) => s.id), [scope.id]);
    await control.deleteScope(scope.id);
    assert.deepEqual(await control.listScopes(), []);

    const inside = await control.withRules([REJECT_OLD], async (s) => {
      assert.deepEqual((await control.listScopes()).map((x) => x.id), [s.id]);
      return (await serverVersionCall(proxy.port, server)).body.toString('latin1');
    });
    assert.match(inside, new RegExp(CLIENT_TOO_OLD));
    assert.deepEqual(await control.listScopes(), []);
    assert.doesNotMatch((await serverVersionCall(proxy.port, server)).body.toString('latin1'), new RegExp(CLIENT_TOO_OLD));

    await assert.rejects(
      control.withRules([REJECT_OLD], () => {
        throw new Error('the test failed');
      }),
      /the test failed/,
    );
    assert.deepEqual(await control.listScopes(), [], 'a failing function leaves no scope');
    assert.deepEqual((await control.listRules()).filter((r) => r.source === 'scope'), []);

    // A function that outlives the lease: renewed every ttl/3, the scope stays.
    const lasted = await control.withRules(
      [REJECT_OLD],
      async (s) => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return (await control.getScope(s.id)).id;
      },
      { ttl: 300 },
    );
    assert.match(lasted, /\S/);

    // Deleted from outside while the function runs: its signal aborts and withRules says so.
    await assert.rejects(
      control.withRules([REJECT_OLD], async (s) => {
        await control.deleteScope(s.id);
        await waitForValue(() => Promise.resolve(s.signal.aborted || undefined));
      }),
      (err: unknown) => err instanceof ControlError && err.code === 'SCOPE_ENDED',
    );
  });

  /**
   * A node child that runs withRules (60 s lease: only the held connection can remove its scope
   * within 2 s) with `body` as the function; resolves with the scope id it prints.
   */
  async function holder(t: TestContext, controlUrl: string, tokenFile: string, body: string): Promise<{ id: string; kill: () => Promise<void> }> {
    const clientModule = new URL('../src/client/index.js', import.meta.url).href;
    const script = `
      import { connectControl } from ${JSON.stringify(clientModule)};
      const control = connectControl({ url: ${JSON.stringify(controlUrl)}, tokenFile: ${JSON.stringify(tokenFile)} });
      await control.withRules([${JSON.stringify(REJECT_OLD)}], async (scope) => {
        console.log('inside ' + scope.id);
        ${body}
      }, { ttl: 60000 });`;
    const node = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => node.once('exit', () => resolve()));
    const kill = async (): Promise<void> => {
      node.kill('SIGKILL');
      await exited;
    };
    t.after(kill);
    let stdout = '';
    let stderr = '';
    node.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    node.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    await waitFor('the child inside withRules', () => /inside \S+/.test(stdout) || node.exitCode !== null, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}; its stderr: ${stderr}`);
    });
    const id = /inside (\S+)/.exec(stdout)?.[1];
    assert.ok(id !== undefined, `the child printed its scope: ${stdout} ${stderr}`);
    return { id, kill };
  }

  /** The issue's bound: 2 s from the kill, generous for a close the server sees in milliseconds. */
  async function goneWithin2s(control: ControlClient, id: string, killedAt: number): Promise<void> {
    for (;;) {
      const [scopes, rules] = await Promise.all([control.listScopes(), control.listRules()]);
      if (scopes.length === 0 && !rules.some((r) => r.source === 'scope')) return;
      assert.ok(Date.now() - killedAt < 2000, `scope ${id} still there 2 s after its holder was killed: ${JSON.stringify(scopes)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('a scope whose client process is killed (SIGKILL) inside withRules is gone within 2 s, rules and all', async (t) => {
    const { control, controlUrl, tokenFile } = await child(t);
    // The child hangs inside withRules (an interval keeps it alive).
    const { id, kill } = await holder(t, controlUrl, tokenFile, 'setInterval(() => {}, 1000); await new Promise(() => {});');
    // The hold was sent before the function ran; the server reports it as it reads it.
    await waitForValue(async () => ((await control.getScope(id)).held ? true : undefined));
    assert.equal((await control.listRules()).filter((r) => r.source === 'scope').length, 1);
    const killedAt = Date.now();
    await kill();
    await goneWithin2s(control, id, killedAt);
  });

  it('a holder killed the moment its function starts, before the server may have read the hold, leaves no scope either', async (t) => {
    const { control, controlUrl, tokenFile } = await child(t);
    const { id } = await holder(t, controlUrl, tokenFile, "process.kill(process.pid, 'SIGKILL');");
    await goneWithin2s(control, id, Date.now());
  });
});

/** Polls `get` until it yields a value (bounded: 5 s). */
async function waitForValue<T>(get: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no value within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
