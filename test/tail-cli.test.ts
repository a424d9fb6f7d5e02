/**
 * `./proxy tail` end to end (docs/control-api.md "Live feed"): the command spawned against a
 * real proxy and its control server, a line per finished exchange as requests pass, the
 * server-side filter, `--json`, exit 0 on Ctrl-C, resuming after the proxy restarts, and one
 * line with the fix for each way it cannot start.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { proxiedRequest } from './helpers/client.js';
import { controlledProxy, type ControlledProxy } from './helpers/control.js';
import { closedPort, CLI, linesOf, ROOT, runCli, waitFor, withTimeout } from './helpers/process.js';
import { closeLater } from './helpers/protocol.js';
import { startServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

interface Tail {
  child: ChildProcess;
  stdout: () => string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  delete env.FORCE_COLOR;
  return env;
}

/** `./proxy tail ARGS` running in the background, killed when the test ends. */
function startTail(t: TestContext, args: string[]): Tail {
  const child = spawn(process.execPath, [CLI, 'tail', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stdout: () => linesOf(out), stderr: () => err, exited };
}

async function upstream(t: TestContext): Promise<string> {
  const server = closeLater(
    t,
    await startServer((req, res) => {
      res.statusCode = req.url?.startsWith('/fail') === true ? 503 : 200;
      res.end('ok');
    }),
  );
  return server.url;
}

function controlOf(c: ControlledProxy): string {
  return `http://127.0.0.1:${c.controlPort}`;
}

/** Waits until tail has printed `n` lines. */
function untilLines(tail: Tail, n: number): Promise<string[]> {
  return waitFor(`${n} lines from ./proxy tail (stdout ${JSON.stringify(tail.stdout())}, stderr ${tail.stderr()})`, () => (tail.stdout().length >= n ? tail.stdout() : undefined), 10_000);
}

describe('./proxy tail', () => {
  it('prints one line per finished exchange as the log does, only what --filter holds for, and exits 0 on Ctrl-C', { timeout: 60_000 }, async (t) => {
    const c = await controlledProxy(t);
    const origin = await upstream(t);
    const all = startTail(t, ['--control', controlOf(c), '--token-file', c.tokenFile]);
    const failing = startTail(t, ['--control', controlOf(c), '--token-file', c.tokenFile, '--filter', 'status:5xx']);
    // Requests before they have subscribed would not reach them.
    await subscribed(c, 2);
    for (const path of ['/one', '/fail/two', '/three']) await proxiedRequest(c.proxy.port, `${origin}${path}`);
    const lines = await untilLines(all, 3);
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} GET http:\/\/127\.0\.0\.1:\d+\/one 200 [\d.]+ms ↑0B ↓2B$/);
    assert.match(lines[1]!, /GET http:\/\/127\.0\.0\.1:\d+\/fail\/two 503 /);
    assert.match(lines[2]!, /\/three 200 /);
    const only = await untilLines(failing, 1);
    assert.equal(only.length, 1);
    assert.match(only[0]!, /\/fail\/two 503 /);
    // No colour on a pipe.
    assert.ok(!lines.join('\n').includes('\u001b['), 'no colour escapes');
    for (const tail of [all, failing]) {
      tail.child.kill('SIGINT');
      const status = await withTimeout(tail.exited, 5000, 'tail to exit on SIGINT');
      assert.deepEqual(status, { code: 0, signal: null }, tail.stderr());
    }
  });

  it('--json prints the feed messages, started ones included', { timeout: 60_000 }, async (t) => {
    const c = await controlledProxy(t);
    const origin = await upstream(t);
    const tail = startTail(t, ['--control', controlOf(c), '--token-file', c.tokenFile, '--json']);
    await subscribed(c, 1);
    await proxiedRequest(c.proxy.port, `${origin}/json`);
    const lines = await untilLines(tail, 2);
    const messages = lines.map((l) => JSON.parse(l) as { seq: number; type: string; exchange: { url: string; status?: number } });
    assert.deepEqual(
      messages.map((m) => `${m.seq} ${m.type} ${new URL(m.exchange.url).pathname} ${m.exchange.status ?? '-'}`),
      ['1 started /json -', '2 finished /json 200'],
    );
  });

  it('waits for a proxy that stops, and follows the next run (its new token file included)', { timeout: 60_000 }, async (t) => {
    const origin = await upstream(t);
    const first = await controlledProxy(t);
    const tail = startTail(t, ['--control', controlOf(first), '--token-file', first.tokenFile]);
    await subscribed(first, 1);
    await proxiedRequest(first.proxy.port, `${origin}/first-run`);
    await untilLines(tail, 1);
    const port = first.controlPort;
    await first.proxy.close();
    await waitFor('tail to say the feed closed', () => /the feed closed \(1001: the proxy is stopping\)/.test(tail.stderr()), 5000);
    // The next run on the same control port and token file, with a new token.
    const second = await controlledProxy(t, { control: { listen: { host: '127.0.0.1', port }, tokenFile: first.tokenFile, ring: 100 } });
    await subscribed(second, 1, 15_000);
    await proxiedRequest(second.proxy.port, `${origin}/second-run`);
    const lines = await untilLines(tail, 2);
    assert.match(lines[1]!, /\/second-run 200 /);
    assert.match(tail.stderr(), /the proxy restarted; following its new run/);
    assert.equal(tail.child.exitCode, null, 'still running');
  });

  it('cannot start: one line with the fix and exit 2, for no proxy, a token from another run, no token file, a bad filter', { timeout: 60_000 }, async (t) => {
    const c = await controlledProxy(t);
    const dir = tempDir(t, 'vp-tail-');
    const stale = join(dir, 'stale-token');
    writeFileSync(stale, 'not-this-runs-token\n');
    const dead = await closedPort();
    const cases: Array<{ args: string[]; says: RegExp }> = [
      { args: ['--control', `http://127.0.0.1:${dead}`, '--token-file', stale], says: new RegExp(`nothing answers at http://127\\.0\\.0\\.1:${dead} \\(connection refused\\); is the proxy running with its control server\\?`) },
      { args: ['--control', controlOf(c), '--token-file', stale], says: /refused the token in .*stale-token \(401\): the file is from another run or another proxy; name that proxy's --control-token-file with --token-file/ },
      { args: ['--control', controlOf(c), '--token-file', join(dir, 'none')], says: /cannot read the control token file .*none \(ENOENT\); is the proxy running\?/ },
      { args: ['--control', controlOf(c), '--ca-dir', dir], says: /cannot read the control token file .*control-token \(ENOENT\)/ },
      { args: ['--control', controlOf(c), '--token-file', c.tokenFile, '--filter', 'verb:POST'], says: /--filter "verb:POST": column 1, 'verb:POST': unknown key 'verb'; keys are protocol/ },
      { args: ['--control', 'ftp://x', '--token-file', c.tokenFile], says: /--control "ftp:\/\/x" is not an http:\/\/ URL/ },
      { args: ['--control', `http://127.0.0.1:${c.proxy.port}`, '--token-file', c.tokenFile], says: /http:\/\/127\.0\.0\.1:\d+ does not answer as a version-proxy control server \(HTTP 400 Bad Request\); check --control: it is the control URL/ },
    ];
    for (const { args, says } of cases) {
      const result = await runCli(['tail', ...args], { timeoutMs: 15_000 });
      const lines = linesOf(result.stderr);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, says);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

/** Waits until the proxy's feed has `n` subscribers (the debug log is off: asks the plane). */
async function subscribed(c: ControlledProxy, n: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(`${n} feed subscribers`, () => (c.proxy.app.control!.subscribers() >= n ? true : undefined), timeoutMs);
}
