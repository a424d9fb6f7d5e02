/**
 * The command line as users and scripts meet it: `node dist/src/cli.js` (and `./proxy`) as a child
 * process. Bad input must end the process non-zero with ONE line on stderr that says what is
 * wrong and how to fix it (README.md "Error codes"); a running proxy logs pino JSON lines on stderr
 * when stderr is not a terminal: `listening` with its address, a warning when it is reachable
 * beyond loopback, and one info line per exchange.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from './helpers/client.js';
import { linesOf, ProxyProcess, ROOT, runCli, runCommand, type CliResult } from './helpers/process.js';
import { startServer, type TestServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

/** Exit non-zero, nothing on stdout, exactly one line on stderr; returns that line. */
function assertOneLineFailure(result: CliResult, what: string): string {
  assert.ok(result.code !== 0 && result.code !== null, `${what}: exit code ${String(result.code)} (signal ${String(result.signal)})`);
  const lines = linesOf(result.stderr);
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${result.stderr}`);
  assert.equal(result.stdout.trim(), '', `${what}: nothing on stdout`);
  // Not a stack trace or a JSON log line: a sentence for a person.
  assert.doesNotMatch(lines[0]!, /^\s*at |^\{|Error:/, `${what}: ${lines[0]!}`);
  return lines[0]!;
}

describe('proxy start: help and bad input', () => {
  it('start --help exits 0 and documents the contract flags', { timeout: 20_000 }, async () => {
    const result = await runCli(['start', '--help']);
    assert.equal(result.code, 0, result.stderr);
    // docs/running.md is a contract: every flag it names is offered.
    const contract = ['--listen', '--target', '--keep-host', '--upstream-timeout', '--rules', '--seed', '--record', '--no-record', '--capture-bytes', '--redact-header', '--no-redact', '--ca-dir', '--intercept', '--no-intercept', '--upstream-ca', '--insecure-upstream', '--tls', '--control', '--no-control', '--control-token-file'];
    for (const flag of contract) {
      assert.ok(result.stdout.includes(flag), `help mentions ${flag}:\n${result.stdout}`);
    }
  });

  it('--help lists the recording commands with the contract forms', { timeout: 20_000 }, async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0, result.stderr);
    for (const command of ['har <journals..>', 'report <journals..>', 'replay <journal>', 'serve <journals..>']) {
      assert.ok(result.stdout.includes(command), `help lists ${command}:\n${result.stdout}`);
    }
    const har = await runCli(['har', '--help']);
    for (const flag of ['--output', '-o', '--protocol', '--host', '--verdict', '--since']) assert.ok(har.stdout.includes(flag), `har --help mentions ${flag}`);
    const replay = await runCli(['replay', '--help']);
    for (const flag of ['--target', '--fast']) assert.ok(replay.stdout.includes(flag), `replay --help mentions ${flag}`);
    const serve = await runCli(['serve', '--help']);
    assert.ok(serve.stdout.includes('--listen'));
    const report = await runCli(['report', '--help']);
    for (const flag of ['--html', '--json']) assert.ok(report.stdout.includes(flag), `report --help mentions ${flag}`);
  });

  it('an unknown flag names the flag and points to --help', { timeout: 20_000 }, async () => {
    const line = assertOneLineFailure(await runCli(['start', '--bogus']), 'start --bogus');
    assert.match(line, /--bogus/);
    assert.match(line, /--help/);
  });

  for (const target of ['ftp://x', 'nonsense']) {
    it(`--target ${target} is refused in one line`, { timeout: 20_000 }, async () => {
      const line = assertOneLineFailure(await runCli(['start', '--listen', '127.0.0.1:0', '--target', target]), `--target ${target}`);
      assert.ok(line.includes(target), `the line quotes the value: ${line}`);
      assert.match(line, /--target/);
      // How to fix it: an example of a usable target.
      assert.match(line, /http:\/\//, `the line shows a usable form: ${line}`);
    });
  }

  it('a bad --listen is refused in one line', { timeout: 20_000 }, async () => {
    const line = assertOneLineFailure(await runCli(['start', '--listen', '1.2.3:abc']), '--listen 1.2.3:abc');
    assert.ok(line.includes('1.2.3:abc'), line);
    assert.match(line, /HOST:PORT|--listen \S+:\d+/, `the line shows the right form: ${line}`);
  });

  it('a port in use: one line naming the address and how to fix it', { timeout: 20_000 }, async () => {
    const occupier = net.createServer();
    await new Promise<void>((resolve, reject) => {
      occupier.once('error', reject);
      occupier.listen(0, '127.0.0.1', resolve);
    });
    try {
      const { port } = occupier.address() as net.AddressInfo;
      const line = assertOneLineFailure(await runCli(['start', '--listen', `127.0.0.1:${port}`]), 'port in use');
      assert.ok(line.includes(`127.0.0.1:${port}`), `the line names the address: ${line}`);
      assert.match(line, /in use/i);
      assert.match(line, /--listen/, `the line says how to pick another port: ${line}`);
    } finally {
      await new Promise<void>((resolve) => occupier.close(() => resolve()));
    }
  });

  it('./proxy start --help runs through the entry script and exits 0', { timeout: 150_000 }, async () => {
    // The build is current during a test run, so ensure.sh should say nothing and do nothing;
    // the generous timeout only covers a rebuild when the files were run without a stamp.
    const result = await runCommand(join(ROOT, 'proxy'), ['start', '--help'], { timeoutMs: 140_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes('--listen'), result.stdout);
  });
});

describe('proxy start: running', () => {
  let upstream: TestServer;
  const seen: Array<{ url: string; host: string | undefined }> = [];

  before(async () => {
    upstream = await startServer((req, res) => {
      seen.push({ url: req.url ?? '', host: req.headers.host });
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('hello from upstream');
    });
  });
  after(async () => {
    await upstream?.close();
  });

  it('--listen beyond loopback logs a warning that other machines can reach it', { timeout: 20_000 }, async () => {
    const proxy = await ProxyProcess.start(['start', '--listen', '0.0.0.0:0']);
    try {
      const warning = await proxy.waitForLine('a warning about listening beyond loopback', (line) => line.level === 40);
      assert.match(String(warning.msg), /loopback/);
      const listening = proxy.lines.find((line) => line.msg === 'listening')!;
      assert.equal(listening.address, '0.0.0.0');
    } finally {
      await proxy.kill();
    }
  });

  it('a single-value flag given twice keeps the last value; a repeated list flag keeps every value', { timeout: 20_000 }, async (t) => {
    const journal = join(tempDir(t), 'twice.ndjson');
    const proxy = await ProxyProcess.start(['start', '--log-level', 'warn', '--log-level', 'debug', '--listen', '127.0.0.1:1', '--listen', '127.0.0.1:0', '--record', journal, '--redact-header', 'X-A', '--redact-header', 'X-B']);
    try {
      // `listening` is an info line: it is there because debug, the last level given, won.
      assert.ok(proxy.lines.some((line) => line.msg === 'listening'));
      assert.notEqual(proxy.port, 1);
    } finally {
      await proxy.kill();
    }
    const run = JSON.parse(readFileSync(journal, 'utf8').split('\n')[0]!) as { redaction: { extraHeaders: string[] } };
    assert.deepEqual(run.redaction.extraHeaders, ['X-A', 'X-B']);
  });

  it('a value outside the choices is refused in one line', { timeout: 20_000 }, async () => {
    const line = assertOneLineFailure(await runCli(['start', '--log-level', 'loud']), '--log-level loud');
    assert.match(line, /log-level/);
    assert.match(line, /loud/);
  });

  it('on loopback there is no such warning', { timeout: 20_000 }, async () => {
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0']);
    try {
      // Log lines are written asynchronously; give a warning time to appear if there were one.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(proxy.lines.filter((line) => line.level === 40), []);
    } finally {
      await proxy.kill();
    }
  });

  it('reverse mode end to end: proxies a GET and logs one info line for it', { timeout: 20_000 }, async () => {
    const proxy = await ProxyProcess.start(['start', '--target', `http://127.0.0.1:${upstream.port}`, '--listen', '127.0.0.1:0']);
    try {
      const listening = proxy.lines.find((line) => line.msg === 'listening')!;
      assert.equal(listening.port, proxy.port);
      assert.equal(typeof listening.url, 'string');
      assert.equal(listening.mode, 'reverse');

      const before = seen.length;
      const res = await request(proxy.port, '/cli/hello?x=1', { headers: { Host: `127.0.0.1:${proxy.port}` } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body.toString(), 'hello from upstream');
      // What the upstream saw: the path as sent, and its own authority as Host (no --keep-host).
      assert.deepEqual(seen.slice(before), [{ url: '/cli/hello?x=1', host: `127.0.0.1:${upstream.port}` }]);

      const line = await proxy.waitForLine('the exchange line', (l) => l.msg === 'exchange');
      assert.equal(line.level, 30);
      assert.equal(line.method, 'GET');
      assert.equal(line.url, `http://127.0.0.1:${upstream.port}/cli/hello?x=1`);
      assert.equal(line.status, 200);
      assert.equal(typeof line.ms, 'number');
      assert.ok((line.ms as number) >= 0);
      assert.equal(line.up, 0, 'request body bytes');
      assert.equal(line.down, 'hello from upstream'.length, 'response body bytes');
      assert.equal(line.err, undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(proxy.lines.filter((l) => l.msg === 'exchange').length, 1, 'one line per exchange');
    } finally {
      await proxy.kill();
    }
  });
});
