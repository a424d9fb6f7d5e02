/**
 * The journal reader: lines in file order, parts of a run in part order, a torn last line
 * (what kill -9 leaves) skipped and reported, other bad lines reported with their line number,
 * lines from a newer format reported, unknown line types skipped quietly.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ProgramError } from '../../src/errors.js';
import { byJournalPart, journalFiles, readJournal, type JournalProblem } from '../../src/record/journal-read.js';
import { tempDir } from '../helpers/temp.js';

const run = (part: number): string => JSON.stringify({ v: 1, type: 'run', time: 1, tool: 't', mode: 'forward', captureBytes: 1, redaction: { enabled: true, extraHeaders: [] }, part });
const exchange = (id: string): string => JSON.stringify({ v: 1, type: 'exchange', id, kind: 'http' });

async function read(paths: string[]): Promise<{ ids: string[]; problems: JournalProblem[]; progress: number }> {
  const ids: string[] = [];
  const problems: JournalProblem[] = [];
  let progress = 0;
  for await (const { entry } of readJournal(paths, { onProblem: (p) => problems.push(p), onProgress: (n) => (progress = n) })) {
    ids.push(entry.type === 'exchange' ? entry.id : entry.type);
  }
  return { ids, problems, progress };
}

describe('journal reader', () => {
  it('skips a torn last line and says it was cut short', async (t) => {
    const file = join(tempDir(t, 'vp-read-'), 'j.ndjson');
    const text = `${run(1)}\n${exchange('a')}\n${exchange('b')}\n${exchange('c').slice(0, 20)}`;
    writeFileSync(file, text);
    const { ids, problems, progress } = await read([file]);
    assert.deepEqual(ids, ['run', 'a', 'b']);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.line, 4);
    assert.match(problems[0]!.message, /last line \(20 bytes\) is cut short/);
    assert.equal(progress, Buffer.byteLength(text));
  });

  it('reports a bad line in the middle with its number and reads on', async (t) => {
    const file = join(tempDir(t, 'vp-read-'), 'j.ndjson');
    writeFileSync(file, `${exchange('a')}\n{not json\n"a string"\n${exchange('b')}\n\n`);
    const { ids, problems } = await read([file]);
    assert.deepEqual(ids, ['a', 'b']);
    assert.deepEqual(problems.map((p) => [p.line, p.message.split(';')[0]]), [
      [2, 'not a JSON line'],
      [3, 'not a journal line (no "v" field)'],
    ]);
  });

  it('reports lines of a newer format and skips unknown line types quietly', async (t) => {
    const file = join(tempDir(t, 'vp-read-'), 'j.ndjson');
    writeFileSync(file, `${JSON.stringify({ v: 2, type: 'exchange', id: 'x' })}\n${JSON.stringify({ v: 1, type: 'future-thing' })}\n${exchange('a')}\n`);
    const { ids, problems } = await read([file]);
    assert.deepEqual(ids, ['a']);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /format 2, newer/);
  });

  it('handles lines longer than a read chunk', async (t) => {
    const file = join(tempDir(t, 'vp-read-'), 'j.ndjson');
    const big = JSON.stringify({ v: 1, type: 'exchange', id: 'big', pad: 'x'.repeat(700_000) });
    writeFileSync(file, `${big}\n${exchange('after')}\n`);
    assert.deepEqual((await read([file])).ids, ['big', 'after']);
  });

  it('expands a folder to its journals, parts of a run in order', async (t) => {
    const dir = tempDir(t, 'vp-read-');
    writeFileSync(join(dir, 'r.part10.ndjson'), `${exchange('p10')}\n`);
    writeFileSync(join(dir, 'r.part2.ndjson'), `${exchange('p2')}\n`);
    writeFileSync(join(dir, 'r.ndjson'), `${exchange('p1')}\n`);
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    assert.deepEqual((await read([dir])).ids, ['p1', 'p2', 'p10']);
    assert.deepEqual(['b.ndjson', 'a.part3.ndjson', 'a.ndjson'].sort(byJournalPart), ['a.ndjson', 'a.part3.ndjson', 'b.ndjson']);
  });

  it('names a missing path or an empty folder as ERR_JOURNAL with a hint', (t) => {
    const dir = tempDir(t, 'vp-read-');
    for (const path of [join(dir, 'nope.ndjson'), dir]) {
      assert.throws(() => journalFiles([path]), (err: unknown) => err instanceof ProgramError && err.code === 'ERR_JOURNAL' && err.hint !== undefined);
    }
  });
});
