/**
 * The log's batched destination (src/log-destination.ts): lines in order, nothing lost at
 * flush(cb) or at an abrupt process.exit, to a file and to a pipe.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BatchedDestination } from '../../src/log-destination.js';
import { tempDir } from '../helpers/temp.js';

const logModule = fileURLToPath(new URL('../../src/log.js', import.meta.url));

describe('BatchedDestination', () => {
  it('writes every line in order across turns and calls flush back once they are in the file', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'log.ndjson');
    const fd = openSync(file, 'w');
    t.after(() => closeSync(fd));
    const destination = new BatchedDestination(fd);
    const expected: string[] = [];
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 50; i++) {
        const line = `{"turn":${turn},"i":${i}}\n`;
        expected.push(line);
        destination.write(line);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    destination.write('{"last":true}\n');
    await new Promise<void>((resolve) => destination.flush(() => resolve()));
    assert.equal(readFileSync(file, 'utf8'), expected.join('') + '{"last":true}\n');
  });

  it('writes a regular file synchronously at the end of the turn, a pipe asynchronously', async (t) => {
    const file = join(tempDir(t), 'log.ndjson');
    const fd = openSync(file, 'w');
    t.after(() => closeSync(fd));
    const destination = new BatchedDestination(fd);
    assert.equal(destination.mode, 'sync');
    destination.write('{"a":1}\n');
    destination.write('{"b":2}\n');
    // Nothing is written line by line; the batch is on disk right after the turn, no callback needed.
    assert.equal(readFileSync(file, 'utf8'), '');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(readFileSync(file, 'utf8'), '{"a":1}\n{"b":2}\n');

    const child = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import { BatchedDestination } from ${JSON.stringify(fileURLToPath(new URL('../../src/log-destination.js', import.meta.url)))}; process.stderr.write(new BatchedDestination(1).mode);`],
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(child.stderr, 'async');
  });

  for (const target of ['pipe', 'file'] as const) {
    it(`loses no line when the process exits right after logging (${target})`, (t) => {
      const lines = 5000;
      const script = `
        import { createLogger } from ${JSON.stringify(logModule)};
        const logger = createLogger({ level: 'info', fd: 1, pretty: false });
        for (let i = 0; i < ${lines}; i++) logger.info({ i }, 'line');
        process.exit(0);
      `;
      const out = target === 'file' ? join(tempDir(t), 'out.ndjson') : undefined;
      const fd = out === undefined ? 'pipe' : openSync(out, 'w');
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 20_000 });
      if (typeof fd === 'number') closeSync(fd);
      assert.equal(child.status, 0, child.stderr);
      const text = out === undefined ? child.stdout : readFileSync(out, 'utf8');
      const got = text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
      assert.equal(got.length, lines);
      assert.deepEqual(got, [...Array(lines).keys()]);
    });
  }
});
