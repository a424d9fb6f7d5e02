/**
 * The control ring as the exports' source (src/control/ring-lines.ts): the selection (filter, the
 * most recent `limit`, oldest first), the lines redacted as the journal's, the event loop given
 * turns while a large ring is worked through, and the work stopped once the client has gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Exchange } from '../../src/core/exchange.js';
import { parseFilter, type Filter } from '../../src/core/filter.js';
import { ExchangeRing } from '../../src/control/exchange-ring.js';
import { ringLines, ringReportLines, selectFromRing, type RingSource } from '../../src/control/ring-lines.js';
import { createRedactor } from '../../src/record/redact.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function exchange(i: number, method = 'GET'): Exchange {
  return {
    id: `x-${i}`,
    kind: 'http',
    client: { address: '127.0.0.1', port: 40000, connection: 1 },
    url: `http://example.test/${i}`,
    request: { method, url: `http://example.test/${i}`, httpVersion: '1.1', rawHeaders: ['Host', 'example.test', 'Authorization', 'Basic c2VjcmV0'] },
    response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' },
    bytes: { request: 0, response: 4 },
    timings: { start: T0 + i, end: T0 + i + 1 },
    bodies: { response: { bytes: Buffer.from('body'), size: 4, truncated: false } },
  };
}

function ringOf(n: number, method: (i: number) => string = () => 'GET'): ExchangeRing {
  const ring = new ExchangeRing(Math.max(n, 1));
  for (let i = 0; i < n; i++) ring.push(exchange(i, method(i)));
  return ring;
}

function source(ring: ExchangeRing, signal = new AbortController().signal): RingSource {
  return { ring, redactor: createRedactor({ enabled: true, extraHeaders: [] }), signal, sliceMs: 0 };
}

function filter(text: string): Filter {
  const parsed = parseFilter(text);
  assert.ok(parsed.ok);
  return parsed.filter;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('control ring as an export source', () => {
  it('selects what the filter holds for, the most recent `limit`, oldest first', async () => {
    const ring = ringOf(10, (i) => (i % 2 === 0 ? 'POST' : 'GET'));
    assert.deepEqual((await selectFromRing(source(ring), undefined)).map((x) => x.id), Array.from({ length: 10 }, (_, i) => `x-${i}`));
    assert.deepEqual((await selectFromRing(source(ring), filter('method:POST'))).map((x) => x.id), ['x-0', 'x-2', 'x-4', 'x-6', 'x-8']);
    assert.deepEqual((await selectFromRing(source(ring), filter('method:POST'), 2)).map((x) => x.id), ['x-6', 'x-8']);
    assert.deepEqual((await selectFromRing(source(ring), undefined, 3)).map((x) => x.id), ['x-7', 'x-8', 'x-9']);
    assert.deepEqual(await selectFromRing(source(new ExchangeRing(5)), undefined), []);
  });

  it('gives journal lines, redacted, bodies only when asked', async () => {
    const ring = ringOf(2);
    const [withBodies] = await all(ringLines(source(ring), ring.recent(1), { bodies: true }));
    assert.equal(withBodies!.type, 'exchange');
    assert.deepEqual(withBodies!.bodies?.response, { size: 4, encoding: 'utf8', data: 'body' });
    assert.doesNotMatch(JSON.stringify(withBodies), /c2VjcmV0/, 'Authorization redacted');
    const [without] = await all(ringLines(source(ring), ring.recent(1), { bodies: false }));
    assert.equal(without!.bodies, undefined);
    // The report's source opens with this run's line, so the report says how it was redacted.
    const report = await all(ringReportLines(source(ring), { mode: 'forward', seed: 7, startedAt: T0 }));
    assert.equal(report[0]!.entry.type, 'run');
    assert.deepEqual(report[0]!.entry.type === 'run' && report[0]!.entry.redaction, { enabled: true, extraHeaders: [] });
    assert.deepEqual(report.slice(1).map((r) => r.entry.type === 'exchange' && r.entry.id), ['x-0', 'x-1']);
  });

  it('gives the event loop turns while it works through a large ring', async () => {
    const ring = ringOf(2000);
    let turns = 0;
    let counting = true;
    const count = (): void => {
      if (!counting) return;
      turns += 1;
      setImmediate(count);
    };
    setImmediate(count);
    const selected = await selectFromRing(source(ring), filter('method:GET'));
    const lines = await all(ringLines(source(ring), selected, { bodies: true }));
    counting = false;
    assert.equal(lines.length, 2000);
    // A turn after every slice (sliceMs 0: after every record): other work ran in between.
    assert.ok(turns >= 2000, `${turns} turns of the event loop during the export`);
  });

  it('stops once the client has gone (the signal aborted)', async () => {
    const ring = ringOf(100);
    const gone = new AbortController();
    const lines = ringLines(source(ring, gone.signal), ring.recent(100), { bodies: true });
    assert.equal((await lines.next()).done, false);
    gone.abort();
    await assert.rejects(lines.next(), { name: 'AbortError' });
    assert.equal((await lines.next()).done, true, 'and stays stopped');
    await assert.rejects(selectFromRing(source(ring, gone.signal), filter('method:GET')), { name: 'AbortError' });
  });
});
