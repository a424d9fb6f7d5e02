/**
 * The journal's index (src/record/journal-index.ts): its circular slots wrap around without
 * showing a sequence what an older one left behind, and the offsets the journal works out are
 * where the bytes really landed: written at once, in the thread pool's batches, across a
 * rotation, and after a write that failed.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { JournalIndex, sequenceOf, type Location } from '../../src/record/journal-index.js';
import { Journal, type JournalOptions } from '../../src/record/journal.js';
import { tempDir } from '../helpers/temp.js';

function open(file: string, extra: Partial<JournalOptions> = {}): Journal {
  return Journal.open({
    path: file,
    rotateBytes: 256 * 1024 * 1024,
    run: { tool: 'version-proxy test', mode: 'forward', captureBytes: 0, redaction: { enabled: true, extraHeaders: [] } },
    logger: pino({ level: 'silent' }),
    ...extra,
  });
}

/** Sends the journal's writes to the thread pool, as three slow writes would (core/sync-writes.ts). */
function slowWrites(journal: Journal): void {
  const gate = (journal as unknown as { gate: { took(ms: number): boolean } }).gate;
  for (let i = 0; i < 3; i++) gate.took(1000);
}

/** The bytes a location points at, as text. */
function readBack(where: Location): string {
  assert.ok('file' in where, `located: ${JSON.stringify(where)}`);
  return readFileSync(where.file).subarray(where.offset, where.offset + where.length).toString('utf8');
}

/** An exchange line of `id` with a body of `size` bytes, as parts (a large body is its own buffer, as exchange-json.ts makes them). */
function parts(id: string, size: number): Array<string | Buffer> {
  return [`{"v":1,"type":"exchange","id":"${id}","data":"`, Buffer.alloc(size, 'a'), '"}\n'];
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('journal index', () => {
  it('reads the sequence at the end of an id, and nothing from ids without one', () => {
    assert.equal(sequenceOf('k3x9a-42'), 42);
    assert.equal(sequenceOf('ab-1'), 1);
    for (const id of ['k3x9a-', 'k3x9a', '42', 'x-4a', '']) assert.equal(sequenceOf(id), -1, id);
  });

  it('wraps around: a slot holds only its own sequence, older ones are named older than the index', () => {
    const index = new JournalIndex(8);
    index.segment(0, '/j.ndjson', 100);
    for (let s = 1; s <= 20; s++) if (s !== 15) index.line(`run-${s}`, s * 10, 10);
    index.settled = 1000;
    assert.deepEqual(index.locate('run-20'), { file: '/j.ndjson', offset: 300, length: 10 });
    assert.deepEqual(index.locate('run-13'), { file: '/j.ndjson', offset: 230, length: 10 });
    // Sequence 15 shares its slot with 7, which left its offsets there: not shown as 15's.
    assert.match(missing(index.locate('run-15')), /has not finished yet, or it was not recorded/);
    assert.match(missing(index.locate('run-12')), /older than the journal's index \(the last 8 exchanges\)/);
    assert.match(missing(index.locate('run-21')), /has not finished, or never started/);
    assert.match(missing(index.locate('other-20')), /not an exchange id of this run \(its ids are run-N\)/);
    // 15 finishes late, still inside the window: found; one finishing after its slot moved on is not kept.
    index.line('run-15', 150, 10);
    assert.deepEqual(index.locate('run-15'), { file: '/j.ndjson', offset: 250, length: 10 });
    index.line('run-40', 400, 10);
    index.line('run-32', 320, 10);
    assert.deepEqual(index.locate('run-40'), { file: '/j.ndjson', offset: 500, length: 10 }, '32 shares 40\'s slot and does not take it');
    assert.match(missing(index.locate('run-32')), /older than the journal's index/);
    // A jump of more than the window clears every slot: 36's held 20's.
    assert.match(missing(index.locate('run-36')), /has not finished yet/);
  });

  it('says what became of lines dropped, left out, lost, still queued or in a deleted part', () => {
    const index = new JournalIndex(16);
    index.segment(0, '/a.ndjson', 0);
    index.line('r-1', 0, 10);
    index.droppedBacklog('r-2');
    index.leftOut('r-3');
    index.line('r-4', 10, 10);
    index.line('r-5', 20, 10);
    // r-4's write landed 5 bytes, then failed; writes resume at byte 15 of the same file.
    index.lost(15, 20, '/a.ndjson', 15);
    index.segment(30, '/a.part2.ndjson', 50);
    index.line('r-6', 30, 10);
    index.line('r-7', 40, 10);
    index.settled = 40;
    assert.deepEqual(index.locate('r-1'), { file: '/a.ndjson', offset: 0, length: 10 });
    assert.match(missing(index.locate('r-2')), /dropped it: the disk did not keep up/);
    assert.match(missing(index.locate('r-3')), /--record-min-free/);
    assert.match(missing(index.locate('r-4')), /the write that held it failed/);
    assert.deepEqual(index.locate('r-5'), { file: '/a.ndjson', offset: 15, length: 10 });
    assert.deepEqual(index.locate('r-6'), { file: '/a.part2.ndjson', offset: 50, length: 10 });
    assert.deepEqual(index.locate('r-7'), { pending: true });
    // A line a rotation split: the part boundary falls inside it.
    index.line('r-8', 45, 10);
    index.segment(50, '/a.part3.ndjson', 40);
    index.settled = 60;
    assert.match(missing(index.locate('r-8')), /split across two parts by a rotation/);
    index.deleted('/a.ndjson');
    assert.match(missing(index.locate('r-1')), /\/a\.ndjson was deleted to keep the recording under --record-max/);
    assert.deepEqual(index.locate('r-6'), { file: '/a.part2.ndjson', offset: 50, length: 10 });
  });
});

describe('journal offsets', () => {
  it('points at each line written at once, across rotations', async (t) => {
    const file = join(tempDir(t), 'sync.ndjson');
    const journal = open(file, { rotateBytes: 3000 });
    for (let i = 1; i <= 12; i++) journal.appendParts(parts(`r-${i}`, i % 3 === 0 ? 20_000 : 700), `r-${i}`);
    await journal.close();
    const files = new Set<string>();
    for (let i = 1; i <= 12; i++) {
      const where = journal.index.locate(`r-${i}`);
      assert.equal(idOf(readBack(where)), `r-${i}`);
      if ('file' in where) files.add(where.file);
    }
    assert.ok(files.size >= 4, `the lines are spread over parts (${files.size})`);
  });

  it('points at each line written in the thread pool, batched, rotated, with one write that failed', async (t) => {
    const file = join(tempDir(t), 'pool.ndjson');
    // An explicit file that already holds bytes: offsets start after them.
    writeFileSync(file, 'bytes of an earlier run\n');
    const journal = open(file, { rotateBytes: 5000 });
    slowWrites(journal);
    const ids: string[] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 5; i++) {
        const id = `r-${ids.length + 1}`;
        ids.push(id);
        journal.appendParts(parts(id, i === 4 ? 17_000 : 300 + i * 100), id);
      }
      await turn();
    }
    await journal.flush();
    // The next batch fails: a descriptor that is not open (EBADF), put back once it has failed.
    const j = journal as unknown as { fd: number };
    const fd = j.fd;
    j.fd = 1_000_000;
    const failed = [`r-${ids.length + 1}`, `r-${ids.length + 2}`];
    for (const id of failed) journal.appendParts(parts(id, 10), id);
    await journal.flush();
    j.fd = fd;
    for (let i = 0; i < 10; i++) {
      const id = `r-${ids.length + 3}`;
      ids.push(id);
      journal.appendParts(parts(id, 500), id);
    }
    await journal.close();
    for (const id of ids) assert.equal(idOf(readBack(journal.index.locate(id))), id, id);
    for (const id of failed) assert.match(missing(journal.index.locate(id)), /the write that held it failed/);
    assert.ok(readFileSync(file, 'utf8').startsWith('bytes of an earlier run\n'));
  });
});

function missing(where: Location): string {
  assert.ok('missing' in where, `not found: ${JSON.stringify(where)}`);
  return where.missing;
}

const idOf = (line: string): string => (JSON.parse(line) as { id: string }).id;
