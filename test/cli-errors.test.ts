/**
 * Every command, every bad input a newcomer is likely to type: run through `./proxy` itself, each
 * must exit non-zero with ONE line on stderr that says what is wrong and how to fix it, and never a
 * stack frame. The table is the point: a new command or option gets its bad inputs added here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { proxiedRequest } from './helpers/client.js';
import { closedPort, linesOf, listen, ROOT, runCommand, serverPort } from './helpers/process.js';
import { startProxy } from './helpers/proxy.js';
import { startServer, type TestServer } from './helpers/servers.js';

const PROXY = join(ROOT, 'proxy');

interface Case {
  args: string[];
  /** What the one line must say (the option, the value, or the fix). */
  says: RegExp;
}

describe('./proxy: bad invocations of every command give one line and a non-zero exit', () => {
  let taken: net.Server;
  let takenPort: number;
  let deadPort: number;
  let journalDir: string;
  let upstream: TestServer;

  before(async () => {
    taken = await listen(net.createServer());
    takenPort = serverPort(taken);
    deadPort = await closedPort();
    journalDir = mkdtempSync(join(tmpdir(), 'vp-cli-errors-'));
  });
  after(async () => {
    rmSync(journalDir, { recursive: true, force: true });
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  });

  it('records a small journal for the commands that read one', { timeout: 20_000 }, async () => {
    upstream = await startServer((_req, res) => res.end('hello'));
    const proxy = await startProxy({ record: { path: journalDir, captureBytes: 1 << 16, rotateBytes: 1 << 28 } });
    try {
      const res = await proxiedRequest(proxy.port, `http://127.0.0.1:${upstream.port}/hello`);
      assert.equal(res.statusCode, 200);
    } finally {
      await proxy.close();
      await upstream.close();
    }
    assert.equal(readdirSync(journalDir).filter((f) => f.endsWith('.ndjson')).length, 1);
  });

  const table = (): Case[] => [
    // No command, unknown commands, a near miss.
    { args: [], says: /name a command/ },
    { args: ['bogus'], says: /unknown command bogus/ },
    { args: ['stat'], says: /unknown command stat; did you mean start\?/ },
    // start: every option that takes a value, given without one.
    ...['target', 'listen', 'rules', 'seed', 'record', 'ca-dir', 'upstream-timeout', 'grace', 'capture-bytes', 'upstream-ca'].map((name) => ({ args: ['start', `--${name}`], says: new RegExp(`--${name} needs a value`) })),
    { args: ['start', '--bogus'], says: /unknown option --bogus; run \.\/proxy start --help/ },
    { args: ['start', '--listen', 'banana'], says: /--listen "banana" is not an address/ },
    { args: ['start', '--listen', `127.0.0.1:${takenPort}`], says: new RegExp(`127\\.0\\.0\\.1:${takenPort} is already in use`) },
    { args: ['start', '--target', 'ftp://x'], says: /--target "ftp:\/\/x" is not an http/ },
    { args: ['start', '--upstream-timeout', '-1'], says: /--upstream-timeout must be/ },
    { args: ['start', '--log-level', 'loud'], says: /log-level.*loud/ },
    { args: ['start', '--capture-bytes', 'lots'], says: /--capture-bytes lots is not a size/ },
    { args: ['start', '--seed', 'abc'], says: /--seed/ },
    { args: ['start', '--rules', '/nonexistent.yaml', '--listen', '127.0.0.1:0'], says: /\/nonexistent\.yaml:1:1: does not exist/ },
    { args: ['start', '--upstream-ca', '/nonexistent'], says: /--upstream-ca \/nonexistent cannot be read/ },
    { args: ['start', '--record', '/etc/passwd/x.ndjson', '--listen', '127.0.0.1:0'], says: /cannot write the journal/ },
    { args: ['start', '--tls', '--listen', '127.0.0.1:0'], says: /--tls serves reverse mode only/ },
    { args: ['start', '--tls', '--target', `http://127.0.0.1:${deadPort}`, '--ca-dir', '/etc/passwd/ca', '--listen', '127.0.0.1:0', '--no-record'], says: /^proxy: cannot use the CA directory/ },
    // simulate
    { args: ['simulate'], says: /name what to simulate/ },
    { args: ['simulate', 'bogus'], says: /unknown command bogus/ },
    { args: ['simulate', 'fpse', '--version', 'banana'], says: /--version "banana" is not a version/ },
    { args: ['simulate', 'fpse', '--min-client', '4.0'], says: /--min-client "4\.0" is not a version/ },
    { args: ['simulate', 'fpse', '--echo', 'sometimes'], says: /--echo "sometimes" is neither min nor fixed/ },
    { args: ['simulate', 'fpse', '--listen', `127.0.0.1:${takenPort}`], says: /already in use/ },
    { args: ['simulate', 'fpse', '--listen'], says: /--listen needs a value/ },
    { args: ['simulate', 'mapi', '--server', 'Exchange/banana'], says: /--server "Exchange\/banana" does not end in a version/ },
    { args: ['simulate', 'mapi', '--pending-period', '-5'], says: /--pending-period must be/ },
    { args: ['simulate', 'mapi', '--listen', `127.0.0.1:${takenPort}`], says: /already in use/ },
    { args: ['simulate', 'fpse-client'], says: /server/ },
    { args: ['simulate', 'fpse-client', '--server', 'nope'], says: /--server "nope" is not a URL/ },
    { args: ['simulate', 'fpse-client', '--server', `http://127.0.0.1:${deadPort}`], says: /nothing answers at 127\.0\.0\.1:\d+ \(connection refused\)/ },
    { args: ['simulate', 'fpse-client', '--server', 'http://127.0.0.1:1', '--via', `http://127.0.0.1:${deadPort}`], says: /connection refused/ },
    { args: ['simulate', 'fpse-client', '--server', `http://127.0.0.1:${deadPort}`, '--version', 'banana'], says: /--version "banana" is not a version/ },
    { args: ['simulate', 'mapi-client', '--server', `http://127.0.0.1:${deadPort}`], says: /connection refused/ },
    { args: ['simulate', 'mapi-client', '--server', `http://127.0.0.1:${deadPort}`, '--client', 'Outlook'], says: /--client "Outlook" does not end in a version/ },
    // rules
    { args: ['rules'], says: /name a rules command/ },
    { args: ['rules', 'check'], says: /needs more arguments/ },
    { args: ['rules', 'bogus'], says: /unknown command bogus/ },
    // ca
    { args: ['ca', '--der', '--spki'], says: /der and spki are mutually exclusive/ },
    { args: ['ca', '--ca-dir', '/etc/passwd/ca'], says: /cannot use the CA directory/ },
    // har, report, replay, serve
    { args: ['har'], says: /needs more arguments/ },
    { args: ['har', journalDir], says: /output/ },
    { args: ['har', journalDir, '--output'], says: /--output needs a value/ },
    { args: ['har', '/nonexistent', '-o', '-'], says: /\/nonexistent cannot be read/ },
    { args: ['har', journalDir, '-o', '-', '--since', 'yesterday'], says: /--since "yesterday"/ },
    { args: ['har', journalDir, '-o', '/etc/passwd/x.har'], says: /cannot write \/etc\/passwd\/x\.har/ },
    { args: ['report'], says: /needs more arguments/ },
    { args: ['report', journalDir, '--html', '--json'], says: /html and json are mutually exclusive/ },
    { args: ['report', '/nonexistent'], says: /\/nonexistent cannot be read/ },
    { args: ['har', journalDir, '-o', '-', '--filter', 'verb:POST'], says: /--filter "verb:POST": column 1, 'verb:POST': unknown key 'verb'; keys are protocol, / },
    { args: ['report', journalDir, '--filter', 'status:5oo'], says: /column 1, 'status:5oo': .*a class like 5xx/ },
    { args: ['report', journalDir, '--filter'], says: /--filter needs a value/ },
    { args: ['replay', journalDir], says: /target/ },
    { args: ['replay', journalDir, '--target', 'banana'], says: /--target "banana"/ },
    { args: ['replay', journalDir, '--target', `http://127.0.0.1:${deadPort}`], says: /cannot reach the target http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/ },
    { args: ['replay', '/nonexistent', '--target', 'http://127.0.0.1:1'], says: /\/nonexistent cannot be read/ },
    { args: ['serve'], says: /needs more arguments/ },
    { args: ['serve', journalDir, '--listen', `127.0.0.1:${takenPort}`], says: /is taken by another program|already in use/ },
    { args: ['serve', '/nonexistent', '--listen', '127.0.0.1:0'], says: /\/nonexistent cannot be read/ },
    // tail (test/tail-cli.test.ts: a running proxy's refusals)
    { args: ['tail', '--control', `http://127.0.0.1:${deadPort}`, '--token-file', '/etc/hostname'], says: /nothing answers at http:\/\/127\.0\.0\.1:\d+ \(connection refused\); is the proxy running with its control server\?/ },
    { args: ['tail', '--control', `http://127.0.0.1:${deadPort}`, '--token-file', '/nonexistent'], says: /cannot read the control token file \/nonexistent \(ENOENT\)/ },
    { args: ['tail', '--filter', 'verb:POST'], says: /--filter "verb:POST": column 1, 'verb:POST': unknown key 'verb'/ },
    { args: ['tail', '--filter'], says: /--filter needs a value/ },
    { args: ['tail', '--control', 'ftp://x'], says: /--control "ftp:\/\/x" is not an http:\/\/ URL/ },
    // demo
    { args: ['demo', '--bogus'], says: /unknown option --bogus; run \.\/proxy demo --help/ },
  ];

  it('each one: non-zero exit, one line, no stack frame, says what is wrong', { timeout: 180_000 }, async () => {
    const cases = table();
    const failures: string[] = [];
    // Four at a time: each is a node process start (~0.3 s).
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ({ args, says }) => {
          const what = `./proxy ${args.join(' ')}`;
          const result = await runCommand(PROXY, args, { timeoutMs: 20_000 });
          const lines = linesOf(result.stderr);
          const problems: string[] = [];
          if (result.code === 0 || result.code === null) problems.push(`exit ${String(result.code)} (signal ${String(result.signal)})`);
          if (lines.length !== 1) problems.push(`${lines.length} lines on stderr`);
          if (/^\s+at |\bat .*:\d+:\d+\)?$|Error:/m.test(result.stderr)) problems.push('a stack frame or a raw Error');
          if (result.stdout.trim() !== '') problems.push('output on stdout');
          if (lines.length === 1 && !says.test(lines[0]!)) problems.push(`does not match ${String(says)}`);
          if (problems.length > 0) failures.push(`${what}: ${problems.join(', ')}\n    stderr: ${result.stderr.trim().split('\n').join('\n            ')}`);
        }),
      );
    }
    assert.deepEqual(failures, [], `\n${failures.join('\n')}`);
  });

  it('a reader that closes the pipe early (har -o - | head) ends the command quietly', { timeout: 30_000 }, async () => {
    const child = spawn(PROXY, ['har', journalDir, '-o', '-'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    // Close our end before the HAR is written, as `head` does once it has its lines.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|^\s+at /m);
  });
});
