/** `./proxy rules check` (issue 4, item 2): every issue as file:line:col on stderr and exit 1; else the rules and exit 0. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './helpers/process.js';

describe('./proxy rules check', () => {
  it('lists the rules of valid files and exits 0', async () => {
    const result = await runCli(['rules', 'check', 'test/fixtures/rules/valid']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /every-matcher-and-action\.yaml:3: fpse-client-too-old — Refuse FPSE clients older than 4\.0\.2\.2611/);
    assert.match(result.stdout, /\b14 rules in 2 files, 0 issues/);
  });

  it('reports every issue of a file at once, with line and column, and exits 1', async () => {
    const result = await runCli(['rules', 'check', 'test/fixtures/rules/invalid/three-errors.yaml']);
    assert.equal(result.code, 1);
    const issues = result.stderr.split('\n').filter((l) => l.startsWith('test/fixtures/rules/invalid/three-errors.yaml:'));
    assert.equal(issues.length, 3, result.stderr);
    assert.match(issues[0]!, /:3:9: id "ThreeErrors" is not kebab-case; write "three-errors"$/);
    assert.match(result.stderr, /0 rules in 1 files, 3 issues/);
  });

  it('refuses regexes the linear-time engine cannot run, saying where, why and how to fix them (issue 21)', async () => {
    const file = 'test/fixtures/rules/invalid/regex-not-linear.yaml';
    const result = await runCli(['rules', 'check', file]);
    assert.equal(result.code, 1);
    const issues = result.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
    assert.equal(issues.length, 6, result.stderr);
    assert.match(issues[0]!, /:4:20: path regex .* uses a backreference "\\1", which the linear-time regex engine \(RE2 semantics, so that no pattern can stall the proxy\) does not support; repeat the group's pattern/);
    assert.match(issues[1]!, /:8:29: header User-Agent regex .* uses a negative lookahead/);
    assert.doesNotMatch(result.stderr, /\(a\+\)\+/, 'a nested quantifier is not refused: it runs in linear time');
  });

  it('says so when a path does not exist', async () => {
    const result = await runCli(['rules', 'check', 'rules/no-such-file.yaml']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /rules\/no-such-file\.yaml:1:1: /);
  });
});
