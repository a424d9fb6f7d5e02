/**
 * The scenario library in rules/ (issue 4 item 8): every file loads clean, alone and as a folder;
 * the required scenarios exist with a title, the spec section they exercise and what a correct
 * peer should do; their rules say what their names promise (FPSE scenarios match FPSE, the floor
 * sits exactly at 4.0.2.2611, …). No sockets (STYLE.md habit 9).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inRange, parseRange, parseVersion, compareVersions, type Version } from '../../src/core/version.js';
import { responseCodeByName } from '../../src/protocols/mapihttp-codes.js';
import { MIN_CLIENT, MIN_SERVER } from '../../src/protocols/negotiation-fpse.js';
import { formatIssue, loadRuleFiles, type RuleDefinition } from '../../src/rules/load.js';
import { formatScenarioList, listScenarios, type Scenario } from '../../src/rules/scenarios.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const rulesDir = join(root, 'rules');

const REQUIRED = [
  'fpse-reject-old-client',
  'fpse-client-at-floor',
  'fpse-server-too-old',
  'fpse-downgrade-to-wss2',
  'fpse-downgrade-to-fp2002',
  'fpse-normalised-echo',
  'mapi-exchange-2013-sp1',
  'mapi-server-predates-mapihttp',
  'mapi-outlook-2010-client',
  'mapi-endpoint-disabled',
  'mapi-context-lost',
  'mapi-slow-notificationwait',
  'flaky-5-percent',
];

const scenarios = await listScenarios(rulesDir);
const { rules: allRules, issues: folderIssues } = await loadRuleFiles([rulesDir]);

function scenario(name: string): Scenario {
  const found = scenarios.find((s) => s.name === name);
  assert.ok(found, `no scenario ${name}`);
  return found;
}

function rulesOf(name: string): RuleDefinition[] {
  const file = scenario(name).file;
  return allRules.filter((r) => r.file === file);
}

function version(text: string): Version {
  const parsed = parseVersion(text);
  assert.ok(parsed.ok, `${text} does not parse`);
  return parsed.version;
}

function matches(range: unknown, v: string): boolean {
  const parsed = parseRange(String(range));
  assert.ok(parsed.ok, `${String(range)} does not parse`);
  return inRange(version(v), parsed.range);
}

/** The arguments of every action called `name` in the scenario's rules. */
function args(name: string, action: string): unknown[] {
  return rulesOf(name).flatMap((r) => r.actions.filter((a) => a.name === action).map((a) => a.arg));
}

/** The version an action argument sets (short or long form). */
function setVersion(arg: unknown): string {
  return typeof arg === 'string' ? arg : String((arg as { version: unknown }).version);
}

describe('scenario library: files', () => {
  it('the folder loads with no issues', () => {
    assert.deepEqual(folderIssues.map(formatIssue), []);
  });

  it('each file loads alone with no issues and at least one rule', async () => {
    const names = (await readdir(rulesDir)).filter((n) => /\.(ya?ml|json)$/i.test(n));
    assert.equal(names.length, scenarios.length);
    for (const name of names) {
      const result = await loadRuleFiles([join(rulesDir, name)]);
      assert.deepEqual(result.issues.map(formatIssue), [], name);
      assert.ok(result.rules.length > 0, `${name} has no rules`);
    }
  });

  it('has every required scenario', () => {
    const names = scenarios.map((s) => s.name);
    for (const name of REQUIRED) assert.ok(names.includes(name), `missing rules/${name}.yaml`);
  });

  it('lists scenarios sorted by name, with the ids the loader reads', () => {
    const names = scenarios.map((s) => s.name);
    assert.deepEqual(names, [...names].sort());
    for (const s of scenarios) assert.deepEqual(s.rules, allRules.filter((r) => r.file === s.file).map((r) => r.id), s.name);
  });

  it('gives each scenario a one-line title, the spec it exercises and what to expect', () => {
    for (const s of scenarios) {
      assert.ok(s.title.length > 10, `${s.name}: no title`);
      assert.doesNotMatch(s.title, /^(Spec|Expect):/i, `${s.name}: the file opens with a field, not a title`);
      assert.match(s.spec ?? '', /docs\/protocols\.md §\d/, `${s.name}: Spec does not cite docs/protocols.md`);
      assert.ok((s.expect ?? '').length > 20, `${s.name}: no Expect`);
    }
  });

  it('uses unique kebab-case ids with a description on every rule', () => {
    const ids = allRules.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, scenarios.reduce((n, s) => n + s.rules.length, 0));
    for (const rule of allRules) {
      assert.match(rule.id, /^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      assert.ok((rule.description ?? '').length > 0, `${rule.id}: no description`);
    }
  });

  it('finds the repo rules/ folder by default', async () => {
    assert.deepEqual(await listScenarios(), scenarios);
  });
});

describe('scenario library: rules say what the names promise', () => {
  it('matches the protocol its name names', () => {
    for (const s of scenarios) {
      for (const rule of rulesOf(s.name)) {
        const m = rule.match;
        if (s.name.startsWith('fpse-')) {
          assert.ok(m.protocol === 'fpse' || m.fpseMethod !== undefined, `${rule.id}: an FPSE scenario must match protocol fpse or fpseMethod`);
          assert.equal(m.requestType, undefined, `${rule.id}: requestType is MAPI/HTTP`);
        } else if (s.name.startsWith('mapi-')) {
          assert.ok(m.protocol === 'mapihttp' || m.requestType !== undefined, `${rule.id}: a MAPI scenario must match protocol mapihttp or requestType`);
          assert.equal(m.fpseMethod, undefined, `${rule.id}: fpseMethod is FPSE`);
        }
        // An FPSE version carries no product token; a MAPI/HTTP one keeps or names it.
        for (const action of rule.actions.filter((a) => a.name === 'clientVersion' || a.name === 'serverVersion')) {
          const v = version(setVersion(action.arg));
          if (s.name.startsWith('fpse-')) assert.equal(v.product, undefined, `${rule.id}: ${action.name} has a product prefix`);
        }
      }
    }
  });

  it('fpse-reject-old-client refuses the versioned calls, whatever the version', () => {
    const rules = rulesOf('fpse-reject-old-client');
    assert.deepEqual(rules.map((r) => r.match.fpseMethod).sort(), ['open service', 'server version']);
    for (const rule of rules) {
      assert.equal(rule.match.clientVersion, undefined, `${rule.id} should not depend on the version`);
      assert.deepEqual(rule.actions.map((a) => [a.name, a.arg]), [['reject', 'client-too-old']]);
    }
  });

  it('fpse-client-at-floor refuses 4.0.2.2610 and accepts 4.0.2.2611', () => {
    const [rule, ...more] = rulesOf('fpse-client-at-floor');
    assert.ok(rule && more.length === 0);
    assert.equal(matches(rule.match.clientVersion, '4.0.2.2610'), true);
    assert.equal(matches(rule.match.clientVersion, '4.0.2.2611'), false);
    assert.equal(matches(rule.match.clientVersion, '12.0.0.6415'), false);
    assert.equal(compareVersions(version('4.0.2.2611'), MIN_CLIENT), 0);
    assert.deepEqual(rule.actions.map((a) => [a.name, a.arg]), [['reject', 'client-too-old']]);
  });

  it('fpse-server-too-old names a server just below the client floor', () => {
    const [arg] = args('fpse-server-too-old', 'serverVersion');
    assert.equal(setVersion(arg), '3.0.2.1001');
    assert.equal(compareVersions(version(setVersion(arg)), MIN_SERVER), -1);
  });

  it('the FPSE downgrades set WSS 2.0 and FrontPage 2002 builds', () => {
    assert.deepEqual(args('fpse-downgrade-to-wss2', 'serverVersion').map(setVersion), ['6.0.2.5523']);
    assert.deepEqual(args('fpse-downgrade-to-fp2002', 'serverVersion').map(setVersion), ['5.0.2.6790']);
  });

  it('fpse-normalised-echo puts 6.0.0.0 on the method line only', () => {
    const echo = args('fpse-normalised-echo', 'serverVersion').filter((a) => (a as { only?: string }).only === 'method-line');
    assert.deepEqual(echo, [{ version: '6.0.0.0', only: 'method-line' }]);
  });

  it('the MAPI/HTTP server builds sit on either side of 15.0.847.32', () => {
    const first = version('15.0.847.32');
    const [sp1] = args('mapi-exchange-2013-sp1', 'serverVersion');
    const [rtm] = args('mapi-server-predates-mapihttp', 'serverVersion');
    assert.equal(sp1, '15.00.0847.032');
    assert.equal(compareVersions(version(setVersion(sp1)), first), 0);
    assert.equal(compareVersions(version(setVersion(rtm)), first), -1);
  });

  it('mapi-outlook-2010-client sends an Outlook 14.0 build', () => {
    const [arg] = args('mapi-outlook-2010-client', 'clientVersion');
    const v = version(setVersion(arg));
    assert.equal(v.product, 'Outlook');
    assert.deepEqual(v.parts.slice(0, 2), [14, 0]);
  });

  it('the MAPI/HTTP refusals carry X-ResponseCode 16 and, every 10th session request, 10', () => {
    const code = (arg: unknown): number | undefined => responseCodeByName(String(arg))?.value;
    assert.deepEqual(args('mapi-endpoint-disabled', 'reject').map(code), [16]);
    assert.deepEqual(args('mapi-context-lost', 'reject').map(code), [10]);
    const [lost] = rulesOf('mapi-context-lost');
    assert.equal(lost?.every, 10);
    // Connect creates the session context, so it can never be the request that loses it.
    const types = String((lost?.match.header as Record<string, unknown> | undefined)?.['X-RequestType'] ?? lost?.match.requestType);
    assert.match(types, /Execute/);
    assert.doesNotMatch(types, /Connect|Bind/);
  });

  it('mapi-slow-notificationwait slows only the long poll, on the response', () => {
    const [rule] = rulesOf('mapi-slow-notificationwait');
    assert.equal(rule?.match.requestType, 'NotificationWait');
    const delay = rule?.actions.find((a) => a.name === 'delay')?.arg as { phase?: string } | undefined;
    assert.equal(delay?.phase, 'response-head');
  });

  it('flaky-5-percent ends one exchange in twenty with a final fault', () => {
    const [rule, ...more] = rulesOf('flaky-5-percent');
    assert.ok(rule && more.length === 0);
    assert.equal(rule.chance, 0.05);
    assert.deepEqual(rule.actions.map((a) => a.name).filter((n) => n === 'reset' || n === 'close').length, 1);
  });
});

describe('scenario library: listing', () => {
  it('formats one aligned line per scenario, with its spec under the title', () => {
    const text = formatScenarioList(scenarios);
    const lines = text.split('\n');
    for (const s of scenarios) {
      const line = lines.find((l) => l.startsWith(`${s.name} `));
      assert.ok(line, `${s.name} is not listed`);
      assert.ok(line.endsWith(s.title), `${s.name}: title not on its line`);
    }
    const width = Math.max(...scenarios.map((s) => s.name.length));
    const specLines = lines.filter((l) => l.startsWith(' '));
    assert.equal(specLines.length, scenarios.length);
    for (const l of specLines) assert.match(l, new RegExp(`^ {${width + 2}}spec: \\S`));
    const titleColumns = new Set(lines.filter((l) => !l.startsWith(' ')).map((l) => l.search(/ {2}\S/) + 2));
    assert.deepEqual([...titleColumns], [width + 2]);
  });

  it('formats an empty list as nothing', () => {
    assert.equal(formatScenarioList([]), '');
  });

  it('reads wrapped fields, stops at a bare # and ignores other labels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scenarios-'));
    try {
      const rule = (id: string): string => `rules:\n  - id: ${id}\n    actions: [ { status: 503 } ]\n`;
      await writeFile(
        join(dir, 'b-wrapped.yaml'),
        [
          '# Something slow',
          '# Spec: MS-X 1.2',
          '#   (docs/protocols.md §9)',
          '# Expect: the client',
          '# waits.',
          '# Note: not a field',
          '#   nor this',
          '#',
          '# Expect-free commentary that is not read.',
          rule('wrapped'),
        ].join('\n'),
      );
      await writeFile(join(dir, 'a-bare.yml'), rule('bare'));
      await writeFile(join(dir, 'c.json'), '{ "rules": [ { "id": "json-one", "actions": [ { "status": 502 } ] } ] }');
      await writeFile(join(dir, 'notes.txt'), '# not a scenario');
      const list = await listScenarios(dir);
      assert.deepEqual(list, [
        { name: 'a-bare', file: join(dir, 'a-bare.yml'), title: '', rules: ['bare'] },
        { name: 'b-wrapped', file: join(dir, 'b-wrapped.yaml'), title: 'Something slow', spec: 'MS-X 1.2 (docs/protocols.md §9)', expect: 'the client waits.', rules: ['wrapped'] },
        { name: 'c', file: join(dir, 'c.json'), title: '', rules: ['json-one'] },
      ]);
      assert.equal(formatScenarioList(list), ['a-bare', 'b-wrapped  Something slow', '           spec: MS-X 1.2 (docs/protocols.md §9)', 'c'].join('\n'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
