/**
 * `respond: { file: }` is confined to the rule file's folder (issue 21 finding 3): a path that
 * climbs out of it, an absolute path elsewhere, or a symlink in the folder that points out of it
 * is an issue at the `file:` value's file:line:col, and so is a missing file; with
 * `--rules-files-anywhere` (respondFiles.anywhere) any readable file is accepted. No sockets.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { formatIssue, loadRuleFiles, validateRuleText } from '../../src/rules/load.js';
import { respondFileProblem } from '../../src/rules/respond-file.js';
import { tempDir } from '../helpers/temp.js';

/** A rule folder holding `rules.yaml` with one respond rule reading `file`; the `file:` value sits at line 5, column 39. */
function ruleFolder(t: TestContext, file: string): { dir: string; rules: string } {
  const dir = tempDir(t, 'vp-respond-file-');
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, `rules:\n  - id: serve-a-file\n    match: { path: "/x" }\n    actions:\n      - respond: { status: 200, file: ${JSON.stringify(file)} }\n`);
  return { dir, rules };
}

describe('respond file confinement', () => {
  it('accepts a file in the rule file folder or below it', async (t) => {
    const { dir, rules } = ruleFolder(t, 'responses/answer.html');
    mkdirSync(join(dir, 'responses'));
    writeFileSync(join(dir, 'responses/answer.html'), '<p>hi</p>');
    const result = await loadRuleFiles([rules]);
    assert.deepEqual(result.issues.map(formatIssue), []);
    assert.equal(result.rules.length, 1);
  });

  it('refuses ../../etc/passwd at the file: value, and names the fix', async (t) => {
    const { dir, rules } = ruleFolder(t, '');
    const climb = relative(dir, '/etc/passwd');
    assert.ok(climb.startsWith('..'), climb);
    writeFileSync(rules, `rules:\n  - id: serve-a-file\n    match: { path: "/x" }\n    actions:\n      - respond: { status: 200, file: ${JSON.stringify(climb)} }\n`);
    const result = await loadRuleFiles([rules]);
    assert.deepEqual(result.rules, [], 'the rule is left out');
    assert.equal(result.issues.length, 1);
    const text = formatIssue(result.issues[0]!);
    assert.match(text, new RegExp(`^${rules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:39: respond file ".*" is /etc/passwd, outside the rule file's folder .*--rules-files-anywhere`));
  });

  it('refuses an absolute path elsewhere and a symlink in the folder that points out of it', async (t) => {
    const outside = tempDir(t, 'vp-outside-');
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    const abs = ruleFolder(t, join(outside, 'secret.txt'));
    assert.match(formatIssue((await loadRuleFiles([abs.rules])).issues[0]!), /outside the rule file's folder/);
    const linked = ruleFolder(t, 'innocent.html');
    symlinkSync(join(outside, 'secret.txt'), join(linked.dir, 'innocent.html'));
    assert.match(formatIssue((await loadRuleFiles([linked.rules])).issues[0]!), /respond file "innocent.html" is .*secret\.txt, outside/);
  });

  it('reports a missing file, with or without the flag', async (t) => {
    const { rules } = ruleFolder(t, 'responses/missing.html');
    for (const anywhere of [false, true]) {
      const result = await loadRuleFiles([rules], { respondFiles: { anywhere } });
      assert.deepEqual(result.issues.map((i) => [i.line, i.col]), [[5, 39]]);
      assert.match(result.issues[0]!.message, /respond file "responses\/missing.html" does not exist \(looked for .*responses\/missing.html\); the path is relative to the rule file's folder/);
    }
  });

  it('accepts a file outside with --rules-files-anywhere', async (t) => {
    const { dir, rules } = ruleFolder(t, '');
    writeFileSync(rules, `rules:\n  - id: serve-a-file\n    actions:\n      - respond: { file: ${JSON.stringify(relative(dir, '/etc/passwd'))} }\n`);
    const result = await loadRuleFiles([rules], { respondFiles: { anywhere: true } });
    assert.deepEqual(result.issues, []);
    assert.equal(result.rules.length, 1);
  });

  it('applies to rule text checked without a file read (validateRuleText) when asked', (t) => {
    const { dir, rules } = ruleFolder(t, '');
    const text = `rules:\n  - id: leak\n    actions:\n      - respond: { file: ${JSON.stringify(relative(dir, '/etc/passwd'))} }\n`;
    assert.match(validateRuleText(rules, text, {}).issues.map(formatIssue).join('\n'), /:4:26: respond file .* outside the rule file's folder/);
    assert.deepEqual(validateRuleText(rules, text, { respondFiles: { anywhere: true } }).issues, []);
  });

  it('says why in one function the CLI and the store share', (t) => {
    const dir = tempDir(t, 'vp-respond-file-');
    writeFileSync(join(dir, 'ok.txt'), 'ok');
    mkdirSync(join(dir, 'sub'));
    const rules = join(dir, 'rules.yaml');
    assert.equal(respondFileProblem(rules, 'ok.txt'), undefined);
    assert.match(respondFileProblem(rules, 'sub') ?? '', /is not a file/);
    assert.match(respondFileProblem(rules, '..') ?? '', /is not a file/);
    assert.match(respondFileProblem(rules, '../../../../../../etc/hostname') ?? '', /outside|does not exist/);
  });
});
