/**
 * Rule files: every fixture under test/fixtures/rules/invalid/ yields exactly the issues written
 * in its trailing `# expect: line:col: message` comments; the valid fixtures load clean and use
 * every matcher and action; ids are unique across files. No sockets (STYLE.md habit 9).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue, loadRuleFiles, validateRuleText } from '../../src/rules/load.js';
import { ACTIONS, MATCHERS } from '../../src/rules/schema.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = join(root, 'test/fixtures/rules');
const invalid = join(fixtures, 'invalid');
const valid = join(fixtures, 'valid');

const invalidNames = (await readdir(invalid)).filter((name) => name.endsWith('.yaml')).sort();

function expected(name: string, text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('# expect: '))
    .map((line) => `${name}:${line.slice('# expect: '.length)}`);
}

describe('rule files: invalid fixtures report their expected issues', () => {
  it('has fixtures to check', () => assert.ok(invalidNames.length >= 15));

  for (const name of invalidNames) {
    it(name, async () => {
      const text = await readFile(join(invalid, name), 'utf8');
      const want = expected(name, text);
      assert.ok(want.length > 0, `${name} has no "# expect:" lines`);
      const got = validateRuleText(name, text).issues.map(formatIssue);
      assert.deepEqual(got, want);
    });
  }

  it('reports every issue of a file at once: three mistakes, three issues', async () => {
    const { issues, rules } = validateRuleText('three-errors.yaml', await readFile(join(invalid, 'three-errors.yaml'), 'utf8'));
    assert.equal(issues.length, 3);
    assert.equal(new Set(issues.map((i) => i.line)).size, 3);
    assert.deepEqual(rules, [], 'a rule with any issue is not returned');
  });

  it('words every message as "what is wrong; how to fix it"', async () => {
    for (const name of invalidNames) {
      const { issues } = validateRuleText(name, await readFile(join(invalid, name), 'utf8'));
      for (const issue of issues) assert.match(issue.message, /^[^;]+; .+/, `${name}: ${issue.message}`);
    }
  });

  it('loading the whole folder gives the same issues, with paths, and keeps no broken rule', async () => {
    const result = await loadRuleFiles([invalid]);
    assert.deepEqual(result.files, invalidNames.map((name) => join(invalid, name)));
    for (const name of invalidNames.filter((n) => n !== 'duplicate-id.yaml')) {
      const own = result.issues.filter((i) => i.file === join(invalid, name)).map((i) => formatIssue({ ...i, file: name }));
      assert.deepEqual(own, expected(name, await readFile(join(invalid, name), 'utf8')), name);
    }
    assert.ok(!result.rules.some((r) => r.id === 'bounds' || r.id === 'too-late'));
  });
});

describe('rule files: valid fixtures', () => {
  it('load without issues, JSON included', async () => {
    const result = await loadRuleFiles([valid]);
    assert.deepEqual(result.issues.map(formatIssue), []);
    assert.deepEqual(result.files, [join(valid, 'every-matcher-and-action.yaml'), join(valid, 'flaky.json')]);
    assert.equal(result.rules.length, 14);
    assert.equal(result.rules.at(-1)?.id, 'flaky-5-percent');
    assert.equal(result.rules.at(-1)?.chance, 0.05);
  });

  it('use every matcher and every action', async () => {
    const { rules } = await loadRuleFiles([valid]);
    const matchers = new Set(rules.flatMap((r) => Object.keys(r.match)));
    const actions = new Set(rules.flatMap((r) => r.actions.map((a) => a.name)));
    assert.deepEqual([...matchers].sort(), Object.keys(MATCHERS).sort());
    assert.deepEqual([...actions].sort(), Object.keys(ACTIONS).sort());
  });

  it('return typed definitions with positions and defaults', async () => {
    const file = join(valid, 'every-matcher-and-action.yaml');
    const { rules, issues } = validateRuleText(file, await readFile(file, 'utf8'));
    assert.deepEqual(issues, []);
    const first = rules[0]!;
    assert.deepEqual(first, {
      id: 'fpse-client-too-old',
      description: 'Refuse FPSE clients older than 4.0.2.2611, as MS-FPSE 1.7.1 requires',
      file,
      line: 3,
      match: { protocol: 'fpse', clientVersion: '< 4.0.2.2611', fpseMethod: 'open service' },
      actions: [{ name: 'reject', arg: 'client-too-old', line: 7, col: 9 }],
      priority: 0,
      enabled: true,
    });
    const mapi = rules.find((r) => r.id === 'mapi-looks-like-2013-sp1')!;
    assert.deepEqual([mapi.chance, mapi.times, mapi.skip, mapi.priority, mapi.enabled], [0.25, 10, 2, 5, true]);
    assert.deepEqual(mapi.actions.map((a) => [a.name, a.arg]), [['serverVersion', '15.00.0847.032'], ['clientVersion', 'Outlook/14.0.7268.5000'], ['delay', '1500ms']]);
    assert.equal(rules.find((r) => r.id === 'hang-it')?.enabled, false);
  });
});

describe('rule files: loading', () => {
  it('reports an id used in two files at the second, naming the first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rules-'));
    try {
      const rule = (id: string, status: number): string => `rules:\n  - id: ${id}\n    actions: [ { status: ${status} } ]\n`;
      await writeFile(join(dir, 'a.yaml'), rule('shared-id', 503));
      await writeFile(join(dir, 'b.yml'), `# second file\n${rule('shared-id', 502)}`);
      await writeFile(join(dir, 'notes.txt'), 'not a rule file');
      const result = await loadRuleFiles([dir]);
      assert.deepEqual(result.files, [join(dir, 'a.yaml'), join(dir, 'b.yml')]);
      assert.deepEqual(result.issues.map(formatIssue), [
        `${join(dir, 'b.yml')}:3:9: duplicate id "shared-id" (first defined at ${join(dir, 'a.yaml')}:2:9); give this rule a different id`,
      ]);
      assert.deepEqual(result.rules.map((r) => r.file), [join(dir, 'a.yaml')]);
      // The same file named twice is read once, so it does not collide with itself.
      const twice = await loadRuleFiles([join(dir, 'a.yaml'), join(dir, 'a.yaml')]);
      assert.deepEqual([twice.issues, twice.files.length], [[], 1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing path at line 1 column 1 and still loads the rest', async () => {
    const missing = join(fixtures, 'no-such-file.yaml');
    const result = await loadRuleFiles([missing, join(valid, 'flaky.json')]);
    assert.deepEqual(result.issues.map(formatIssue), [`${missing}:1:1: does not exist; check the path, or pass a rule file or a folder of them`]);
    assert.deepEqual(result.rules.map((r) => r.id), ['flaky-5-percent']);
  });

  it('formats issues as file:line:col: message', () => {
    assert.equal(formatIssue({ file: 'rules/lab.yaml', line: 14, col: 7, message: 'a; b' }), 'rules/lab.yaml:14:7: a; b');
  });

  it('an empty file is an issue, an explicit empty list is not', () => {
    assert.deepEqual(validateRuleText('e.yaml', '').issues.map(formatIssue), ['e.yaml:1:1: file has no rules; add a top-level "rules:" list']);
    assert.deepEqual(validateRuleText('e.yaml', 'rules: []\n'), { rules: [], issues: [] });
  });
});
