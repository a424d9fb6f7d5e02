/**
 * GET /api/exchanges/{id} once the control ring has let go of an exchange: read back from the
 * journal (record/journal-index.ts, record/journal-line-reader.ts), with real sockets: the record
 * as the ring gave it, bodies included, across rotated parts; a 404 that says why when the part
 * was deleted for --record-max, or when nothing is recorded (--no-record).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { ProxyConfig, RecordConfig } from '../src/config.js';
import { proxiedRequest, waitUntil } from './helpers/client.js';
import { controlledProxy, type ControlledProxy } from './helpers/control.js';
import { closeLater } from './helpers/protocol.js';
import { readBody, startServer, type TestServer } from './helpers/servers.js';
import { tempDir } from './helpers/temp.js';

interface Record {
  id: string;
  request: { rawHeaders: string[] };
  timings: { [name: string]: number };
  bodies?: { request?: { data: string }; response?: { data: string } };
}

/** Answers `answer <path>: <request body>`, so each exchange's bodies are its own. */
async function echoServer(t: TestContext): Promise<TestServer> {
  return closeLater(
    t,
    await startServer((req, res) => {
      void readBody(req).then((body) => res.end(`answer ${req.url ?? ''}: ${body.toString()}`));
    }),
  );
}

async function journaled(t: TestContext, record: Partial<RecordConfig> & { path: string } | undefined, extra: Partial<ProxyConfig> = {}): Promise<ControlledProxy> {
  const control = { listen: { host: '127.0.0.1', port: 0 }, tokenFile: join(tempDir(t, 'vp-control-'), 'control-token'), ring: 2, captureBytes: 64 * 1024 };
  return controlledProxy(t, { control, ...(record !== undefined && { record: { captureBytes: 64 * 1024, rotateBytes: 256 * 1024 * 1024, ...record } }), ...extra });
}

/** `count` POSTs through the proxy, one after the other; the ids in order. */
async function traffic(c: ControlledProxy, upstream: TestServer, count: number, bodyOf: (i: number) => string): Promise<string[]> {
  const before = c.proxy.exchanges.length;
  for (let i = 1; i <= count; i++) {
    const res = await proxiedRequest(c.proxy.port, `${upstream.url}/x${before + i}`, { method: 'POST', body: bodyOf(before + i), headers: { Authorization: 'Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=' } });
    assert.equal(res.statusCode, 200);
  }
  const all = await c.proxy.waitForExchanges(before + count);
  return all.slice(before).map((x) => x.id);
}

async function fetchRecord(c: ControlledProxy, id: string, source: 'ring' | 'journal'): Promise<Record> {
  const res = await c.api(`/api/exchanges/${encodeURIComponent(id)}`);
  assert.equal(res.statusCode, 200, res.body.toString());
  assert.equal(res.headers['x-exchange-source'], source, `${id} from the ${source}`);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  return res.json as Record;
}

async function notFound(c: ControlledProxy, id: string): Promise<string> {
  const res = await c.api(`/api/exchanges/${encodeURIComponent(id)}`);
  assert.equal(res.statusCode, 404, res.body.toString());
  const body = res.json as { error: string; code: string };
  assert.equal(body.code, 'NOT_FOUND');
  return body.error;
}

/** Timings as the journal writes them: to the microsecond (record/exchange-json.ts). */
function toMicroseconds(record: Record): Record {
  const timings: Record['timings'] = {};
  for (const [name, value] of Object.entries(record.timings)) timings[name] = Number(value.toFixed(3));
  return { ...record, timings };
}

describe('GET /api/exchanges/{id} from the journal', () => {
  it('reads an exchange the ring let go of back from the journal, bodies and all, as the ring gave it', async (t) => {
    const upstream = await echoServer(t);
    const c = await journaled(t, { path: join(tempDir(t), 'j.ndjson') });
    const ids = await traffic(c, upstream, 5, (i) => `request body ${i}`);
    for (const [i, id] of ids.entries()) {
      const record = await fetchRecord(c, id, i < 3 ? 'journal' : 'ring');
      assert.equal(record.id, id);
      assert.equal(record.bodies?.request?.data, `request body ${i + 1}`);
      assert.equal(record.bodies?.response?.data, `answer /x${i + 1}: request body ${i + 1}`);
      assert.ok(record.request.rawHeaders.includes('Authorization'));
    }
    // The same exchange both ways: from the ring now, from the journal once two more push it out.
    const last = ids[4]!;
    const fromRing = await fetchRecord(c, last, 'ring');
    assert.doesNotMatch(JSON.stringify(fromRing), /c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3M=/, 'redacted in the ring');
    await traffic(c, upstream, 2, (i) => `request body ${i}`);
    const fromJournal = await fetchRecord(c, last, 'journal');
    assert.deepEqual(fromJournal, toMicroseconds(fromRing));
    assert.match(await notFound(c, `${last}0000`), /nor in the journal: the journal has no line for it/);
    assert.match(await notFound(c, 'nosuchrun-1'), /not an exchange id of this run/);
  });

  it('finds lines in every part after the journal rotated', async (t) => {
    const upstream = await echoServer(t);
    const dir = tempDir(t);
    const c = await journaled(t, { path: join(dir, 'j.ndjson'), rotateBytes: 1024 });
    const ids = await traffic(c, upstream, 6, (i) => `request body ${i} `.repeat(20 + i * 10));
    const parts = readdirSync(dir).filter((name) => name.startsWith('j.part'));
    assert.ok(parts.length >= 3, `rotated into parts: ${parts.join(', ')}`);
    for (const [i, id] of ids.slice(0, 4).entries()) {
      const record = await fetchRecord(c, id, 'journal');
      assert.equal(record.bodies?.request?.data, `request body ${i + 1} `.repeat(30 + i * 10));
    }
  });

  it('says a part deleted for --record-max is gone, and still reads the parts kept', async (t) => {
    const upstream = await echoServer(t);
    const dir = tempDir(t);
    // --record-max 8 KiB: parts rotate at 2 KiB, and each line (a 2,500-byte body) fills one.
    const max = 8192;
    const c = await journaled(t, { path: join(dir, 'j.ndjson'), maxBytes: max });
    const ids = await traffic(c, upstream, 5, (i) => String(i).repeat(2500));
    // The guard looks every 2 s (record/recording-guard.ts CHECK_MS).
    await waitUntil(() => readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0) <= max, 10_000, 'the recording trimmed under --record-max');
    const deleted = c.proxy.logs.lines.filter((l) => typeof l.deleted === 'string').map((l) => basename(l.deleted as string));
    assert.ok(deleted.length > 0);
    const partOf = (name: string): number => (name === 'j.ndjson' ? 1 : Number(/^j\.part(\d+)\.ndjson$/.exec(name)![1]));
    // The parts kept hold one exchange each, the k-th in part k.
    for (const name of readdirSync(dir)) {
      const exchanges = readFileSync(join(dir, name), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; id?: string }).filter((l) => l.type === 'exchange');
      assert.deepEqual(exchanges.map((l) => l.id), partOf(name) <= 5 ? [ids[partOf(name) - 1]] : [], name);
    }
    let sawDeleted = false;
    for (const [i, id] of ids.entries()) {
      const inRing = i >= 3;
      if (deleted.map(partOf).includes(i + 1) && !inRing) {
        assert.match(await notFound(c, id), /was deleted to keep the recording under --record-max; raise --record-max/);
        sawDeleted = true;
      } else {
        assert.equal((await fetchRecord(c, id, inRing ? 'ring' : 'journal')).bodies?.request?.data, String(i + 1).repeat(2500));
      }
    }
    assert.ok(sawDeleted, `a part of an exchange out of the ring was deleted: ${deleted.join(', ')}`);
  });

  it('with --no-record answers 404 for what the ring let go of, saying nothing is recorded', async (t) => {
    const upstream = await echoServer(t);
    const c = await journaled(t, undefined);
    const ids = await traffic(c, upstream, 3, (i) => `request body ${i}`);
    assert.match(await notFound(c, ids[0]!), /^no exchange \S+ in the ring \(it holds the last 2; --control-ring N keeps more\), and this run records no journal to look in \(--no-record\)/);
    await fetchRecord(c, ids[2]!, 'ring');
  });
});
