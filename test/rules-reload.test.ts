/**
 * Rules in the real child process (issue 4, items 2, 5, 6 and their acceptance: "Hot reload and
 * invalid-save behaviour tested; --seed 42 gives the same decisions in two runs"): `node
 * dist/src/cli.js start --rules FILE` with its pino lines read from stderr, a plain upstream on
 * loopback, and requests through the proxy in forward mode.
 *
 * - a saved rule file takes effect within a bounded wait (the behaviour is polled, 5 s at most);
 * - an invalid save keeps the previous rules live and logs each issue as file:line:col;
 * - SIGHUP reloads; a bad file at start exits 2 naming file:line:col;
 * - --seed 42 in two processes rolls the same chance decisions, and the seed is logged at start;
 * - `rules list` names every shipped scenario, `rules check rules/` explains every rule.
 *
 * Every process, server and temp folder is closed or removed by the test that made it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createChance } from '../src/rules/random.js';
import { delay, linesOf, ProxyProcess, ROOT, runCli, tryRequest, type LogLine } from './helpers/process.js';
import { startRecordingServer, type RecordingServer } from './helpers/servers.js';

/** How long a saved change may take to show before the test fails (the issue asks for 1 s). */
const RELOAD_WAIT_MS = 5000;
const WARN = 40;

/** A rule file whose one rule answers every exchange itself with `body`. */
function answerFile(body: string): string {
  return [
    'rules:',
    '  - id: answer-with-version',
    '    description: Answer every exchange itself, naming the version of this file',
    '    actions:',
    `      - respond: { status: 200, body: "${body}" }`,
    '',
  ].join('\n');
}

/** A misspelt key on line 3, column 5 (`actoins`), so the rule also lacks its actions. */
const BAD_FILE = ['rules:', '  - id: answer-with-version', '    actoins:', '      - respond: { status: 200, body: "bad" }', ''].join('\n');

/** A fresh temp folder, removed when the test ends. */
async function tempFolder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rules-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function upstream(t: TestContext): Promise<RecordingServer> {
  const server = await startRecordingServer();
  t.after(() => server.close());
  return server;
}

/** `./proxy start --listen 127.0.0.1:0 ARGS…` as a child process, ended when the test ends. */
async function proxyProcess(t: TestContext, args: string[]): Promise<ProxyProcess> {
  const proc = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', ...args]);
  t.after(() => proc.kill());
  return proc;
}

/** The body the client gets for one request through the proxy, or `error: …`. */
async function answer(proc: ProxyProcess, server: RecordingServer): Promise<string> {
  const outcome = await tryRequest(proc.port, `${server.url}/probe`, { timeoutMs: 3000 });
  if (outcome.error !== undefined) return `error: ${outcome.error.message}`;
  return `${outcome.statusCode} ${outcome.body.toString()}`;
}

/** Polls requests until the answer is `want`; rejects with the last answer after `timeoutMs`. */
async function waitForAnswer(proc: ProxyProcess, server: RecordingServer, want: string, timeoutMs = RELOAD_WAIT_MS): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    last = await answer(proc, server);
    if (last === want) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`the proxy still answers "${last}", not "${want}", ${timeoutMs} ms after the save; stderr: ${proc.stderr.slice(-3000)}`);
    await delay(50);
  }
}

const isListening = (line: LogLine): boolean => line.msg === 'listening';

describe('rule files in the running proxy (child process)', () => {
  it('a saved rule file takes effect within a bounded wait, and the listening line names a seed without --seed', async (t) => {
    const dir = await tempFolder(t);
    const file = join(dir, 'answer.yaml');
    await writeFile(file, answerFile('v1'));
    const server = await upstream(t);
    const proc = await proxyProcess(t, ['--rules', file]);

    const listening = proc.lines.find(isListening)!;
    assert.equal(typeof listening.seed, 'number', JSON.stringify(listening));
    assert.ok(Number.isInteger(listening.seed) && (listening.seed as number) >= 0 && (listening.seed as number) <= 0xffffffff, JSON.stringify(listening));
    assert.equal(listening.rules, 1);

    assert.equal(await answer(proc, server), '200 v1');
    await writeFile(file, answerFile('v2'));
    t.diagnostic(`in-place save live after ${await waitForAnswer(proc, server, '200 v2')} ms`);
    const reloaded = await proc.waitForLine('the "rules reloaded" line', (l) => l.msg === 'rules reloaded');
    assert.equal(reloaded.reason, 'changed');
    assert.equal(reloaded.rules, 1);

    // An editor's save: a temp file renamed over the rule file (a new inode).
    const temp = join(dir, '.answer.yaml.swp');
    await writeFile(temp, answerFile('v3'));
    await rename(temp, file);
    t.diagnostic(`rename-over save live after ${await waitForAnswer(proc, server, '200 v3')} ms`);
    assert.equal(server.requests.length, 0, 'the rule answered every request itself');
  });

  it('an invalid save keeps the previous rules live and logs the issue as file:line:col; a fix is then picked up', async (t) => {
    const dir = await tempFolder(t);
    const file = join(dir, 'answer.yaml');
    await writeFile(file, answerFile('v1'));
    const server = await upstream(t);
    const proc = await proxyProcess(t, ['--rules', file]);
    assert.equal(await answer(proc, server), '200 v1');

    await writeFile(file, BAD_FILE);
    const rejected = await proc.waitForLine('a "rule file rejected" warning', (l) => l.msg === 'rule file rejected', RELOAD_WAIT_MS);
    assert.equal(rejected.level, WARN);
    const issues = proc.lines.filter((l) => l.msg === 'rule file rejected').map((l) => String(l.issue));
    assert.ok(
      issues.some((issue) => issue.startsWith(`${file}:3:5: `) && /actoins/.test(issue)),
      `an issue at ${file}:3:5 naming the misspelt key; issues: ${issues.join(' | ')}`,
    );
    t.diagnostic(`issues logged: ${issues.join(' | ')}`);
    for (const issue of issues) assert.match(issue, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: \\S`));

    // The previous set is still the live one.
    for (let i = 0; i < 3; i++) assert.equal(await answer(proc, server), '200 v1');
    assert.equal(proc.lines.filter((l) => l.msg === 'rules reloaded').length, 0);

    await writeFile(file, answerFile('v3'));
    await waitForAnswer(proc, server, '200 v3');
  });

  it('SIGHUP reloads the rules, and the log says so', async (t) => {
    const dir = await tempFolder(t);
    const file = join(dir, 'answer.yaml');
    await writeFile(file, answerFile('v1'));
    const server = await upstream(t);
    const proc = await proxyProcess(t, ['--rules', file]);
    assert.equal(await answer(proc, server), '200 v1');

    await writeFile(file, answerFile('v2'));
    proc.child.kill('SIGHUP');
    const line = await proc.waitForLine('"rules reloaded" with reason SIGHUP', (l) => l.msg === 'rules reloaded' && l.reason === 'SIGHUP');
    assert.equal(line.rules, 1);
    assert.equal(await answer(proc, server), '200 v2');
    assert.ok(proc.running, 'SIGHUP does not stop the proxy');
  });

  it('a bad rule file at start: exit code 2 and stderr names file:line:col', async (t) => {
    const dir = await tempFolder(t);
    const file = join(dir, 'bad.yaml');
    await writeFile(file, BAD_FILE);
    const result = await runCli(['start', '--listen', '127.0.0.1:0', '--rules', file], { timeoutMs: 15_000 });
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(`${file}:3:5: `), result.stderr);
    assert.doesNotMatch(result.stderr, /"msg":"listening"/);
  });

  it('--seed 42 in two processes gives the same chance decisions over 40 requests, and the seed is logged', async (t) => {
    const dir = await tempFolder(t);
    const file = join(dir, 'coin.yaml');
    await writeFile(
      file,
      ['rules:', '  - id: coin-flip', '    description: Answer 503 itself on half of the exchanges', '    chance: 0.5', '    actions:', '      - respond: { status: 503, body: "flip" }', ''].join('\n'),
    );
    const server = await upstream(t);
    const procs = await Promise.all([proxyProcess(t, ['--rules', file, '--seed', '42']), proxyProcess(t, ['--rules', file, '--seed', '42'])]);

    const runs: string[][] = [];
    for (const proc of procs) {
      assert.equal(proc.lines.find(isListening)!.seed, 42);
      const seen: string[] = [];
      for (let i = 0; i < 40; i++) seen.push(await answer(proc, server));
      runs.push(seen);
    }
    const flips = (run: string[]): number[] => run.flatMap((a, i) => (a === '503 flip' ? [i] : []));
    for (const run of runs) {
      assert.ok(run.every((a) => a === '503 flip' || a === '200 ok'), run.join(', '));
      assert.ok(flips(run).length > 0 && flips(run).length < 40, `both outcomes occur: ${run.join(', ')}`);
    }
    assert.deepEqual(flips(runs[0]!), flips(runs[1]!));
    // The same decisions as the rule's own seeded stream: one roll per exchange.
    const roll = createChance(42, 'coin-flip');
    const expected = Array.from({ length: 40 }, () => roll()).flatMap((r, i) => (r < 0.5 ? [i] : []));
    assert.deepEqual(flips(runs[0]!), expected);
  });

  it('rules list prints every shipped scenario', async () => {
    const names = (await readdir(join(ROOT, 'rules'))).filter((n) => n.endsWith('.yaml')).map((n) => n.slice(0, -'.yaml'.length));
    assert.equal(names.length, 13, names.join(', '));
    const result = await runCli(['rules', 'list']);
    assert.equal(result.code, 0, result.stderr);
    const lines = linesOf(result.stdout);
    for (const name of names) assert.ok(lines.some((l) => l.startsWith(`${name} `) || l === name), `${name} listed:\n${result.stdout}`);
  });

  it('rules check rules/ exits 0 and prints each rule with its explain() on the indented line after it', async () => {
    const files = (await readdir(join(ROOT, 'rules'))).filter((n) => n.endsWith('.yaml'));
    let ruleCount = 0;
    for (const name of files) ruleCount += ((await readFile(join(ROOT, 'rules', name), 'utf8')).match(/^ {2}- id: /gm) ?? []).length;

    const result = await runCli(['rules', 'check', 'rules/']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    const heads = lines.flatMap((line, i) => (/^rules\/+[\w-]+\.yaml:\d+: [a-z0-9-]+/.test(line) ? [i] : []));
    assert.equal(heads.length, ruleCount, result.stdout);
    for (const i of heads) assert.match(lines[i + 1] ?? '', /^ {4}\S.*: \S/, `explain() after ${lines[i]}`);
    for (const name of files) assert.ok(heads.some((i) => lines[i]!.includes(`${name}:`)), `${name} checked`);
    assert.match(result.stdout, new RegExp(`\\b${ruleCount} rules in ${files.length} files, 0 issues`));
    assert.equal(result.stderr, '');
    // One explain() in full, as the record and the logs word it.
    const floor = heads.find((i) => lines[i]!.includes('fpse-client-at-floor.yaml:'))!;
    assert.equal(lines[floor + 1], '    when protocol is FPSE and client version is < 4.0.2.2611: reject with client-too-old');
  });
});
