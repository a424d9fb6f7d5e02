/**
 * The journal writer (src/record/journal.ts): lines in order across turns and writes, and a
 * backlog past its bound drops exchanges with a `dropped` line that says how many, never
 * silently, also when the proxy closes with the backlog still full.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Journal, skip, type JournalOptions } from '../../src/record/journal.js';
import { tempDir } from '../helpers/temp.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function open(file: string, extra: Partial<JournalOptions> = {}): Journal {
  return Journal.open({
    path: file,
    rotateBytes: 256 * 1024 * 1024,
    run: { tool: 'version-proxy test', mode: 'forward', captureBytes: 0, redaction: { enabled: true, extraHeaders: [] } },
    logger: pino({ level: 'silent' }),
    ...extra,
  });
}

const linesOf = (file: string): Array<{ type: string; i?: number; count?: number; reason?: string }> =>
  readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string });

describe('journal writer', () => {
  it('keeps every line in order across many turns and writes', async (t) => {
    const file = join(tempDir(t), 'order.ndjson');
    const journal = open(file);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) journal.append({ v: 1, type: 'note', i: round * 50 + i });
      await turn();
    }
    await journal.close();
    const notes = linesOf(file).filter((l) => l.type === 'note');
    assert.deepEqual(notes.map((l) => l.i), [...Array(1000).keys()]);
  });

  it('drops exchanges past the backlog bound and says how many in a dropped line', async (t) => {
    const file = join(tempDir(t), 'drop.ndjson');
    // Room for a few lines only: the 50 appended in one turn overflow it. A regular file is
    // written as each line comes while its writes are fast; lines queue only once slow writes
    // sent them to the thread pool, so the test says the writes were slow (three strikes).
    const journal = open(file, { maxBacklogBytes: 200 });
    const gate = (journal as unknown as { gate: { took(ms: number): boolean } }).gate;
    for (let i = 0; i < 3; i++) gate.took(1000);
    const line = { v: 1, type: 'note', pad: 'x'.repeat(60) };
    for (let i = 0; i < 50; i++) journal.append({ ...line, i });
    await journal.close();
    const lines = linesOf(file);
    const kept = lines.filter((l) => l.type === 'note').length;
    const dropped = lines.filter((l) => l.type === 'dropped');
    assert.equal(dropped.length, 1);
    assert.ok(kept < 50, `some lines were dropped (${kept} kept)`);
    assert.equal(kept + dropped[0]!.count!, 50);
    assert.match(dropped[0]!.reason!, /did not keep up/);
    // The running count the control plane's metrics read is never reset by the dropped line.
    assert.deepEqual(journal.lost, { backlog: dropped[0]!.count!, writeFailed: 0 });
  });

  it('writes spliced lines byte for byte: small and large bodies, long text, more buffers than one writev takes', async (t) => {
    const file = join(tempDir(t), 'parts.ndjson');
    const journal = open(file);
    const expected: Buffer[] = [];
    const add = (parts: Array<string | Buffer>): void => {
      journal.appendParts(parts);
      expected.push(...parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
    };
    // 1,500 lines with a 20 KiB body each (queued as their own buffers, not copied) in one
    // turn: over 3,000 buffers, more than IOV_MAX, so the writer must split its writes.
    for (let i = 0; i < 1500; i++) add([`{"v":1,"type":"note","i":${i},"data":"`, Buffer.alloc(20 * 1024, 97 + (i % 26)), '"}\n']);
    await turn();
    // Small bodies copied onto the slab, text past a slab's size, and non-ASCII text.
    for (let i = 0; i < 200; i++) add([`{"v":1,"type":"note","i":${1500 + i},"é":"`, Buffer.from('x'.repeat(i)), '"}\n']);
    add([`{"v":1,"type":"note","i":1700,"long":"${'ü'.repeat(100_000)}"}\n`]);
    await journal.close();
    const written = readFileSync(file);
    const run = written.indexOf(10) + 1;
    assert.ok(written.subarray(run).equals(Buffer.concat(expected)), 'the file holds the run line, then every part in order');
    assert.deepEqual(linesOf(file).filter((l) => l.type === 'note').map((l) => l.i), [...Array(1701).keys()]);
  });

  it('writes through the thread pool, in order, when the journal is not a regular file (a FIFO)', async (t) => {
    const fifo = join(tempDir(t), 'journal-fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader is another process (opening a FIFO for writing waits for a reader).
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve) => reader.on('close', () => resolve()));
    const journal = open(fifo);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 100; i++) journal.appendParts([`{"v":1,"type":"note","i":${round * 100 + i},"data":"`, Buffer.alloc(i * 50, 98), '"}\n']);
      await turn();
    }
    await journal.close();
    await ended;
    const notes = Buffer.concat(chunks).toString().trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; i?: number }).filter((l) => l.type === 'note');
    assert.deepEqual(notes.map((l) => l.i), [...Array(1000).keys()]);
  });

  it('continues a short write where it stopped, across buffer boundaries', () => {
    const buffers = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')];
    const rest = (n: number): string => Buffer.concat(skip(buffers, n)).toString();
    assert.equal(rest(0), 'abcdefgh');
    assert.equal(rest(2), 'cdefgh');
    assert.equal(rest(3), 'defgh');
    assert.equal(rest(5), 'fgh');
    assert.equal(rest(7), 'h');
    assert.equal(rest(8), '');
  });
});
