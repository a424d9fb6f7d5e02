/**
 * Recordings that cannot fill a disk (issue 24): `--record-max` keeps the recording's files under
 * a size, oldest deleted first, never the file being written and never a file that is not the
 * recording's; `--record-min-free` stops bodies, then exchanges, when the disk runs short, each
 * time with a journal line that says so and counts what was left out.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statfsSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CaptureLine, JournalLine } from '../src/record/entry.js';
import { RecordingGuard } from '../src/record/recording-guard.js';
import { silentLogger } from '../src/log.js';
import { proxiedRequest, waitUntil } from './helpers/client.js';
import { startProxy } from './helpers/proxy.js';
import { startServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

function lines(file: string): JournalLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as JournalLine);
}

/** A file of `size` bytes last modified `ageSeconds` ago. */
function fileOf(path: string, size: number, ageSeconds: number): void {
  writeFileSync(path, Buffer.alloc(size, 0x61));
  const when = Date.now() / 1000 - ageSeconds;
  utimesSync(path, when, when);
}

describe('--record-max: the recording stays under its size', () => {
  it('in a recordings folder: the oldest .ndjson files go first, never the current one, never other files', (t) => {
    const dir = tempDir(t);
    fileOf(join(dir, 'a.ndjson'), 4000, 300);
    fileOf(join(dir, 'b.ndjson'), 4000, 200);
    fileOf(join(dir, 'notes.txt'), 50_000, 400);
    fileOf(join(dir, 'current.ndjson'), 4000, 500); // oldest of all, but being written
    const guard = new RecordingGuard({ current: () => join(dir, 'current.ndjson'), folderMode: true, maxBytes: 9000, minFreeBytes: 0, append: () => undefined, logger: silentLogger() });
    guard.close();
    assert.deepEqual(readdirSync(dir).sort(), ['b.ndjson', 'current.ndjson', 'notes.txt']);
  });

  it('for a journal named with --record FILE: only its own parts, never the folder around it', (t) => {
    const dir = tempDir(t);
    fileOf(join(dir, 'lab.ndjson'), 4000, 300);
    fileOf(join(dir, 'lab.part2.ndjson'), 4000, 200);
    fileOf(join(dir, 'someone-else.ndjson'), 4000, 900);
    fileOf(join(dir, 'lab.part3.ndjson'), 4000, 0);
    const guard = new RecordingGuard({ current: () => join(dir, 'lab.part3.ndjson'), folderMode: false, maxBytes: 5000, minFreeBytes: 0, append: () => undefined, logger: silentLogger() });
    guard.close();
    assert.deepEqual(readdirSync(dir).sort(), ['lab.part3.ndjson', 'someone-else.ndjson']);
  });

  it('a running proxy keeps its recordings folder under --record-max and says what it deleted', { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t);
    // Earlier runs' journals, older than this one.
    fileOf(join(dir, '2026-01-01T00-00-00Z.ndjson'), 40_000, 3600);
    fileOf(join(dir, '2026-01-02T00-00-00Z.ndjson'), 40_000, 1800);
    const upstream = await startServer((_req, res) => res.end('x'.repeat(2000)));
    t.after(() => upstream.close());
    const proxy = await startProxy({ record: { path: dir, captureBytes: 1 << 16, rotateBytes: 1 << 28, maxBytes: 64 * 1024 } });
    t.after(() => proxy.close());
    const logs = proxy.logs;
    for (let i = 0; i < 40; i++) assert.equal((await proxiedRequest(proxy.port, `${upstream.url}/${i}`)).statusCode, 200);
    // About 110 KB of this run's lines went into the folder, beside the 80 KB of earlier runs. The guard looks every 2 s; the parts rotate at a quarter
    // of the bound, so whole old parts can go while the run goes on.
    const total = (): number => readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
    await waitUntil(() => total() <= 64 * 1024, 8000, `the folder under 64 KiB (now ${total()} bytes)`);
    const deleted = logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('journal: deleted the oldest recording')).map((l) => String(l.deleted));
    assert.ok(deleted.length >= 3, `earlier runs and this run's first parts deleted: ${deleted.join(', ')}`);
    assert.ok(deleted[0]!.endsWith('2026-01-01T00-00-00Z.ndjson') && deleted[1]!.endsWith('2026-01-02T00-00-00Z.ndjson'), `oldest first: ${deleted.join(', ')}`);
    assert.ok(!deleted.includes(proxy.app.journal!.file), 'never the file being written');
  });
});

describe('--record-min-free: bodies, then exchanges, stop when the disk runs short', () => {
  it('goes full → no bodies → off → full as free space falls and comes back, each change a journal line with counts', () => {
    let free = 1000;
    const written: CaptureLine[] = [];
    const guard = new RecordingGuard({ current: () => '/tmp/x.ndjson', folderMode: false, maxBytes: 0, minFreeBytes: 400, append: (l) => written.push(l as CaptureLine), logger: silentLogger(), freeBytes: () => free });
    assert.equal(guard.admit(true), 'full');
    free = 300; // below the line: bodies stop
    guard.check();
    assert.equal(guard.admit(true), 'no-bodies');
    assert.equal(guard.admit(false), 'no-bodies');
    assert.equal(guard.admit(true), 'no-bodies');
    free = 150; // below half of it: exchanges stop
    guard.check();
    assert.equal(guard.admit(true), 'off');
    assert.equal(guard.admit(false), 'off');
    free = 210; // back above half, but within the 10 % headroom: still off
    guard.check();
    assert.equal(guard.admit(true), 'off');
    free = 1000;
    guard.check();
    assert.equal(guard.admit(true), 'full');
    guard.close();
    assert.deepEqual(
      written.map((l) => [l.state, l.bodiesLeftOut ?? 0, l.exchangesLeftOut ?? 0]),
      [
        ['no-bodies', 0, 0],
        ['off', 2, 0],
        ['full', 0, 3],
      ],
    );
    assert.ok(written.every((l) => l.type === 'capture' && /--record-min-free/.test(l.reason)));
    // The running counts the control plane's metrics read: never reset by a change of state.
    assert.deepEqual(guard.leftOut, { bodies: 2, exchanges: 3 });
  });

  it('a running proxy on a disk short of --record-min-free writes heads without bodies, and says so in the journal', { timeout: 20_000 }, async (t) => {
    const dir = tempDir(t);
    const st = statfsSync(dir);
    const free = st.bavail * st.bsize;
    const upstream = await startServer((_req, res) => res.end('body bytes'));
    t.after(() => upstream.close());
    // A line above what this disk has free, and half of it below: bodies stop, exchanges go on.
    const proxy = await startProxy({ record: { path: join(dir, 'j.ndjson'), captureBytes: 1 << 16, rotateBytes: 1 << 28, minFreeBytes: Math.floor(free * 1.5) } });
    for (let i = 0; i < 3; i++) await proxiedRequest(proxy.port, `${upstream.url}/${i}`);
    await proxy.close();
    const written = lines(join(dir, 'j.ndjson'));
    const exchanges = written.filter((l) => l.type === 'exchange');
    assert.equal(exchanges.length, 3);
    assert.ok(exchanges.every((l) => l.type === 'exchange' && l.bodies === undefined), 'no bodies');
    const captures = written.filter((l): l is CaptureLine => l.type === 'capture');
    assert.deepEqual(captures.map((l) => l.state), ['no-bodies', 'full']);
    assert.equal(captures[1]!.bodiesLeftOut, 3);
  });

  it('below half of it, exchanges are not written, and the journal counts them', { timeout: 20_000 }, async (t) => {
    const dir = tempDir(t);
    const upstream = await startServer((_req, res) => res.end('body bytes'));
    t.after(() => upstream.close());
    const proxy = await startProxy({ record: { path: join(dir, 'j.ndjson'), captureBytes: 1 << 16, rotateBytes: 1 << 28, minFreeBytes: Number.MAX_SAFE_INTEGER } });
    for (let i = 0; i < 4; i++) assert.equal((await proxiedRequest(proxy.port, `${upstream.url}/${i}`)).statusCode, 200, 'traffic goes on');
    await proxy.close();
    const written = lines(join(dir, 'j.ndjson'));
    assert.equal(written.filter((l) => l.type === 'exchange').length, 0);
    const captures = written.filter((l): l is CaptureLine => l.type === 'capture');
    assert.deepEqual(captures.map((l) => [l.state, l.exchangesLeftOut ?? 0]), [['off', 0], ['full', 4]]);
  });
});
