/**
 * Hot reload of rule files (docs/rules.md): real files in a temp folder, edited the ways
 * editors and people do (write in place, write a temp file and rename it over, add a file, delete
 * one); a valid save is live within a bounded wait, a bad one keeps the old set and says why.
 * Waits are generous (5 s) and no test asserts how fast a reload is, only that it happens.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ProgramError } from '../src/errors.js';
import type { LoadResult, RuleDefinition, RuleIssue } from '../src/rules/load.js';
import { RuleStore } from '../src/rules/store.js';
import { createLogSink, LEVELS, type LogSink } from './helpers/log-sink.js';

const WAIT_MS = 5000;
/** Faster than the default, so a missed fs.watch event costs the tests little. */
const POLL_MS = 50;

/** A rule file with one valid rule per id. */
function ruleFile(...ids: string[]): string {
  return `rules:\n${ids.map((id) => `  - id: ${id}\n    actions:\n      - delay: 10ms\n`).join('')}`;
}

/** One issue at 3:5 (a misspelt key), and one for the rule that therefore has no actions. */
const BAD_FILE = 'rules:\n  - id: broken\n    actoins:\n      - delay: 10ms\n';

let root: string;
let count = 0;

/** A fresh folder per test, so one test's watchers never see another's files. */
async function folder(files: Record<string, string>): Promise<string> {
  const dir = join(root, `case-${++count}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

interface Opened {
  store: RuleStore<string[]>;
  sink: LogSink;
  /** Every `previous` compile was given, in order. */
  previous: Array<string[] | undefined>;
}

async function open(paths: string[]): Promise<Opened> {
  const sink = createLogSink('debug');
  const previous: Array<string[] | undefined> = [];
  const compile = (defs: RuleDefinition[], prev: string[] | undefined): string[] => {
    previous.push(prev);
    return defs.map((d) => d.id);
  };
  const store = await RuleStore.open({ paths, compile, logger: sink.logger, pollMs: POLL_MS });
  return { store, sink, previous };
}

/**
 * The next `name` event, or a rejection after WAIT_MS. The timer is a normal (ref'd) one on
 * purpose: the store's own watchers and timers are unref'd, so without it the test process would
 * see nothing left to wait for and end the test early.
 */
function next<A extends unknown[]>(store: RuleStore<string[]>, name: 'reloaded' | 'rejected'): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      store.off(name, listener);
      reject(new Error(`no '${name}' event within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as A);
    };
    store.once(name, listener);
  });
}
const reloaded = (store: RuleStore<string[]>): Promise<[string[], LoadResult]> => next(store, 'reloaded');
const rejected = (store: RuleStore<string[]>): Promise<[RuleIssue[]]> => next(store, 'rejected');

const warns = (sink: LogSink): string[] => sink.filter((l) => l.level === LEVELS.warn && l.msg === 'rule file rejected').map((l) => String(l.issue));

describe('RuleStore', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'rules-store-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('loads every rule file of a folder at open', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('a1', 'a2'), 'b.json': JSON.stringify({ rules: [{ id: 'b1', actions: [{ reset: true }] }] }), 'notes.txt': 'not rules' });
    const { store, previous } = await open([dir]);
    try {
      assert.deepEqual(store.current, ['a1', 'a2', 'b1']);
      assert.deepEqual(store.files, [join(dir, 'a.yaml'), join(dir, 'b.json')]);
      assert.deepEqual(previous, [undefined]);
    } finally {
      store.close();
    }
  });

  it('refuses to open with issues: ERR_BAD_RULES naming each at file:line:col', async () => {
    const dir = await folder({ 'bad.yaml': BAD_FILE, 'good.yaml': ruleFile('fine') });
    await assert.rejects(open([dir]), (error: unknown) => {
      assert.ok(error instanceof ProgramError);
      assert.equal(error.code, 'ERR_BAD_RULES');
      const bad = join(dir, 'bad.yaml');
      assert.match(error.message, new RegExp(`^${escape(bad)}:\\d+:\\d+: .+`, 'm'));
      assert.ok(error.message.includes(`${bad}:3:5: unknown key "actoins"`), error.message);
      assert.match(error.message, /2 issues in the rule files$/);
      assert.ok(error.hint !== undefined && error.hint.length > 0);
      return true;
    });
    await assert.rejects(open([join(dir, 'missing.yaml')]), { code: 'ERR_BAD_RULES', message: /missing\.yaml:1:1: does not exist/ });
  });

  it('swaps in a valid edit, passing the previous set to compile', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('one') });
    const { store, sink, previous } = await open([dir]);
    try {
      const before = store.current;
      const event = reloaded(store);
      await writeFile(join(dir, 'a.yaml'), ruleFile('one', 'two'));
      const [set, result] = await event;
      assert.deepEqual(set, ['one', 'two']);
      assert.equal(store.current, set);
      assert.deepEqual(before, ['one'], 'the old set object is left as it was, for exchanges in flight');
      assert.deepEqual(result.issues, []);
      assert.deepEqual(previous.at(-1), ['one']);
      const [line] = await sink.waitFor((l) => l.msg === 'rules reloaded');
      assert.equal(line!.level, LEVELS.info);
      assert.equal(line!.rules, 2);
      assert.deepEqual(line!.files, [join(dir, 'a.yaml')]);
    } finally {
      store.close();
    }
  });

  it('keeps the old set on an invalid edit, warns once per issue, and emits rejected', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('keep-me') });
    const file = join(dir, 'a.yaml');
    const { store, sink } = await open([dir]);
    try {
      const event = rejected(store);
      await writeFile(file, BAD_FILE);
      const [issues] = await event;
      assert.ok(issues.some((i) => i.file === file && i.line === 3 && i.col === 5), JSON.stringify(issues));
      assert.deepEqual(store.current, ['keep-me']);
      assert.deepEqual(store.files, [file]);
      assert.equal(warns(sink).length, issues.length);
      assert.ok(warns(sink).some((w) => w.startsWith(`${file}:3:5: unknown key "actoins"`)), warns(sink).join('\n'));

      // Polls keep running; the same save is not reported again.
      await sleep(POLL_MS * 8);
      assert.equal(warns(sink).length, issues.length);

      // Fixing it is picked up as usual.
      const fixed = reloaded(store);
      await writeFile(file, ruleFile('fixed'));
      assert.deepEqual((await fixed)[0], ['fixed']);
    } finally {
      store.close();
    }
  });

  it('sees a save by write-temp-then-rename', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('before') });
    const { store } = await open([dir]);
    try {
      const event = reloaded(store);
      const temp = join(dir, '.a.yaml.tmp-1234');
      await writeFile(temp, ruleFile('after'));
      await rename(temp, join(dir, 'a.yaml'));
      assert.deepEqual((await event)[0], ['after']);
      assert.deepEqual(store.files, [join(dir, 'a.yaml')]);
    } finally {
      store.close();
    }
  });

  it('picks up a new file in a watched folder', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('a') });
    const { store } = await open([dir]);
    try {
      const event = reloaded(store);
      await writeFile(join(dir, 'b.yml'), ruleFile('b'));
      assert.deepEqual((await event)[0], ['a', 'b']);
      assert.deepEqual(store.files, [join(dir, 'a.yaml'), join(dir, 'b.yml')]);
    } finally {
      store.close();
    }
  });

  it('does not reload for files that are not rules (editor swap and backup files)', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('a') });
    const { store, sink } = await open([dir]);
    try {
      let events = 0;
      store.on('reloaded', () => events++);
      store.on('rejected', () => events++);
      await writeFile(join(dir, '.a.yaml.swp'), 'swap');
      await writeFile(join(dir, 'a.yaml~'), 'backup');
      await writeFile(join(dir, '4913'), '');
      await sleep(POLL_MS * 4 + 300); // several polls and a debounced watch event
      assert.equal(events, 0);
      assert.deepEqual(sink.filter((l) => l.msg === 'rules reloaded'), []);
    } finally {
      store.close();
    }
  });

  it('treats a deleted file as a change: the issue is reported and the old set kept', async () => {
    const dir = await folder({ 'only.yaml': ruleFile('only') });
    const file = join(dir, 'only.yaml');
    const { store } = await open([file]);
    try {
      const event = rejected(store);
      await unlink(file);
      const [issues] = await event;
      assert.deepEqual(issues.map((i) => `${i.file}:${i.line}:${i.col}`), [`${file}:1:1`]);
      assert.match(issues[0]!.message, /does not exist/);
      assert.deepEqual(store.current, ['only']);

      const back = reloaded(store);
      await writeFile(file, ruleFile('only', 'again'));
      assert.deepEqual((await back)[0], ['only', 'again']);
    } finally {
      store.close();
    }
  });

  it('reload() loads now and answers ok with a count, or the issues', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('x', 'y') });
    const { store, sink } = await open([dir]);
    try {
      assert.deepEqual(await store.reload('SIGHUP'), { ok: true, count: 2 });
      assert.ok(sink.filter((l) => l.msg === 'rules reloaded').some((l) => l.reason === 'SIGHUP'));

      await writeFile(join(dir, 'a.yaml'), BAD_FILE);
      const result = await store.reload('SIGHUP');
      assert.equal(result.ok, false);
      assert.ok(!result.ok && result.issues.some((i) => i.line === 3 && i.col === 5));
      assert.deepEqual(store.current, ['x', 'y']);
    } finally {
      store.close();
    }
  });

  it('runs one load at a time: concurrent reloads each get an answer, in order', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('p') });
    const { store } = await open([dir]);
    try {
      const results = await Promise.all([store.reload(), store.reload(), store.reload()]);
      assert.deepEqual(results, [1, 2, 3].map(() => ({ ok: true, count: 1 })));
    } finally {
      store.close();
    }
  });

  it('close() stops watching: later edits change nothing; it can be called twice', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('frozen') });
    const { store, sink } = await open([dir]);
    store.close();
    store.close();
    let events = 0;
    store.on('reloaded', () => events++);
    store.on('rejected', () => events++);
    await writeFile(join(dir, 'a.yaml'), ruleFile('frozen', 'thawed'));
    await writeFile(join(dir, 'b.yaml'), BAD_FILE);
    await sleep(POLL_MS * 10);
    assert.equal(events, 0);
    assert.deepEqual(store.current, ['frozen']);
    assert.deepEqual(sink.filter((l) => l.msg === 'rules reloaded' || l.msg === 'rule file rejected'), []);
  });

  it('does not keep the process alive by itself', async () => {
    const dir = await folder({ 'a.yaml': ruleFile('a') });
    const storeUrl = pathToFileURL(resolve(dirname(fileURLToPath(import.meta.url)), '../src/rules/store.js')).href;
    // A process that opens a store and never closes it must still exit on its own.
    const script = `
      import { RuleStore } from ${JSON.stringify(storeUrl)};
      import { pino } from 'pino';
      await RuleStore.open({ paths: [${JSON.stringify(dir)}], compile: (d) => d, logger: pino({ level: 'silent' }) });
    `;
    const started = Date.now();
    await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, cwd: resolve(dirname(fileURLToPath(import.meta.url)), '../..') });
    assert.ok(Date.now() - started < 10_000);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
