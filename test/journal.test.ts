/**
 * The journal (issue 6, item 1): every finished exchange is one NDJSON line with `v`, bodies up
 * to the capture limit with their real size, lines on disk within a second, rotation with a run
 * line per part, and a kill -9 under load that loses nothing a client saw finish more than 1 s
 * before it (the acceptance test).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ProgramError } from '../src/errors.js';
import { decodeBytes, type ExchangeLine, type JournalLine, type RunLine } from '../src/record/entry.js';
import { readJournal, type JournalProblem } from '../src/record/journal-read.js';
import { proxiedRequest, waitUntil } from './helpers/client.js';
import { ProxyProcess, delay } from './helpers/process.js';
import { startProxy } from './helpers/proxy.js';
import { readBody, startServer, type TestServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

const MiB = 1024 * 1024;

async function readAll(paths: string[]): Promise<{ lines: JournalLine[]; problems: JournalProblem[] }> {
  const lines: JournalLine[] = [];
  const problems: JournalProblem[] = [];
  for await (const { entry } of readJournal(paths, { onProblem: (p) => problems.push(p) })) lines.push(entry);
  return { lines, problems };
}

const exchangesOf = (lines: JournalLine[]): ExchangeLine[] => lines.filter((l): l is ExchangeLine => l.type === 'exchange');

const BINARY = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) % 256));

/** Echoes request bodies; /binary answers bytes that are not UTF-8; /big?n= answers n bytes. */
async function upstream(t: TestContext): Promise<TestServer> {
  const server = await startServer((req, res) => {
    void readBody(req).then((body) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/binary') return res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(BINARY);
      if (url.pathname === '/big') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end('x'.repeat(Number(url.searchParams.get('n'))));
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(body.length > 0 ? body : 'hello');
    });
  });
  t.after(() => server.close());
  return server;
}

describe('journal', () => {
  it('writes a run line, then one line per finished exchange with v, type and its bodies', async (t) => {
    const dir = tempDir(t, 'vp-journal-');
    const up = await upstream(t);
    const proxy = await startProxy({ record: { path: dir, captureBytes: MiB, rotateBytes: 256 * MiB } });
    t.after(() => proxy.close());
    await proxiedRequest(proxy.port, `${up.url}/echo`, { method: 'POST', body: 'form=text' });
    const got = await proxiedRequest(proxy.port, `${up.url}/binary`);
    assert.deepEqual(got.body, BINARY);
    const file = proxy.app.journal!.file;
    assert.equal(readdirSync(dir).length, 1);
    assert.match(file, /\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.ndjson$/);
    await proxy.close();

    const { lines, problems } = await readAll([dir]);
    assert.deepEqual(problems, []);
    const run = lines[0] as RunLine;
    assert.equal(run.type, 'run');
    assert.equal(run.v, 1);
    assert.equal(run.part, 1);
    assert.equal(run.captureBytes, MiB);
    assert.deepEqual(run.redaction, { enabled: true, extraHeaders: [] });
    const [echo, binary] = exchangesOf(lines);
    assert.equal(echo?.v, 1);
    assert.equal(echo?.id, proxy.exchanges[0]!.id);
    assert.equal(echo?.request.method, 'POST');
    assert.deepEqual(echo?.bodies?.request, { size: 9, encoding: 'utf8', data: 'form=text' });
    assert.deepEqual(echo?.bodies?.response, { size: 9, encoding: 'utf8', data: 'form=text' });
    assert.equal(binary?.bodies?.request, undefined, 'a GET has no request body to record');
    assert.equal(binary?.bodies?.response?.encoding, 'base64');
    assert.deepEqual(decodeBytes(binary.bodies.response), BINARY);
    assert.equal(binary?.response?.statusCode, 200);
  });

  it('marks a body cut at the capture limit as truncated, with its real size', async (t) => {
    const dir = tempDir(t, 'vp-journal-');
    const up = await upstream(t);
    const proxy = await startProxy({ record: { path: join(dir, 'cut.ndjson'), captureBytes: 1000, rotateBytes: 256 * MiB } });
    t.after(() => proxy.close());
    const got = await proxiedRequest(proxy.port, `${up.url}/big?n=5000`);
    assert.equal(got.body.length, 5000, 'the client still gets the whole body');
    await proxy.close();
    const [line] = exchangesOf((await readAll([join(dir, 'cut.ndjson')])).lines);
    assert.deepEqual({ ...line!.bodies!.response!, data: line!.bodies!.response!.data.length }, { size: 5000, encoding: 'utf8', data: 1000, truncated: true });
  });

  it('has each exchange in the file within a second of its end, while the proxy runs', async (t) => {
    const dir = tempDir(t, 'vp-journal-');
    const up = await upstream(t);
    const proxy = await startProxy({ record: { path: join(dir, 'live.ndjson'), captureBytes: MiB, rotateBytes: 256 * MiB } });
    t.after(() => proxy.close());
    await proxiedRequest(proxy.port, `${up.url}/first`);
    const id = proxy.exchanges[0]!.id;
    await waitUntil(() => readFileSync(join(dir, 'live.ndjson'), 'utf8').includes(`"id":"${id}"`), 1000, 'the exchange line in the journal');
  });

  it('rotates past the size limit; every part starts with a run line and the reader keeps their order', async (t) => {
    const dir = tempDir(t, 'vp-journal-');
    const up = await upstream(t);
    const proxy = await startProxy({ record: { path: join(dir, 'rot.ndjson'), captureBytes: MiB, rotateBytes: 4096 } });
    t.after(() => proxy.close());
    for (let i = 0; i < 12; i++) {
      await proxiedRequest(proxy.port, `${up.url}/big?n=1500&i=${i}`);
      await proxy.app.journal!.flush();
    }
    await proxy.close();
    const files = readdirSync(dir).sort();
    assert.ok(files.length >= 3, `several parts, got ${files.join(', ')}`);
    assert.ok(files.includes('rot.part2.ndjson'));
    const { lines } = await readAll([dir]);
    const runs = lines.filter((l): l is RunLine => l.type === 'run');
    assert.deepEqual(runs.map((r) => r.part), Array.from({ length: files.length }, (_, i) => i + 1));
    const order = exchangesOf(lines).map((x) => new URL(x.url).searchParams.get('i'));
    assert.deepEqual(order, Array.from({ length: 12 }, (_, i) => String(i)));
  });

  it('refuses a journal path that cannot be written, saying which and how to fix it', async (t) => {
    const dir = tempDir(t, 'vp-journal-');
    writeFileSync(join(dir, 'a-file'), '');
    await assert.rejects(
      startProxy({ record: { path: join(dir, 'a-file', 'sub', 'x.ndjson'), captureBytes: MiB, rotateBytes: MiB } }),
      (err: unknown) => err instanceof ProgramError && err.code === 'ERR_JOURNAL' && /a-file/.test(err.message) && /--record/.test(err.hint ?? ''),
    );
  });

  it('keeps every exchange a client saw finish more than 1 s before a kill -9 under load', async (t) => {
    const dir = tempDir(t, 'vp-journal-');
    const file = join(dir, 'crash.ndjson');
    const up = await upstream(t);
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--record', file]);
    t.after(() => proxy.kill());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    t.after(() => agent.destroy());
    const finishedAt = new Map<string, number>();
    let stop = false;
    let failures = 0;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const path = `/w${w}/n${i}`;
        try {
          await proxiedRequest(proxy.port, `${up.url}${path}`, { method: 'POST', body: `${w}-${i}`, agent, timeoutMs: 2000 });
          finishedAt.set(path, Date.now());
        } catch {
          failures += 1;
          return;
        }
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await delay(2500);
    const killedAt = Date.now();
    proxy.child.kill('SIGKILL');
    stop = true;
    await proxy.exited;
    await Promise.all(workers);
    assert.equal(failures <= 8, true);

    const { lines, problems } = await readAll([file]);
    assert.ok(problems.every((p) => /cut short/.test(p.message)), `only a torn last line may be skipped: ${JSON.stringify(problems)}`);
    const recorded = new Set(exchangesOf(lines).map((x) => new URL(x.url).pathname));
    const due = [...finishedAt].filter(([, at]) => at < killedAt - 1000).map(([path]) => path);
    assert.ok(due.length > 50, `enough load before the kill (${due.length} exchanges)`);
    const missing = due.filter((path) => !recorded.has(path));
    assert.deepEqual(missing, [], `${missing.length} of ${due.length} exchanges finished > 1 s before the kill are missing`);
  });
});
