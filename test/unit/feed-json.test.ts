/**
 * The live feed's messages written field by field (src/control/feed-json.ts) are the very text
 * JSON.stringify makes of `{seq, type, time, exchange: summarize(x)}`, for exchanges of every
 * shape: answered or not, failed, observed with verdicts and versions, rules applied and passed,
 * strings that need escaping, fractional durations.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createExchange, type Exchange } from '../../src/core/exchange.js';
import { summarize } from '../../src/control/exchange-summary.js';
import { finishedJson, startedJson } from '../../src/control/feed-json.js';
import { createRedactor } from '../../src/record/redact.js';

const redactor = createRedactor({ enabled: true, extraHeaders: [] });

const text = fc.string({ unit: 'binary', maxLength: 40 });
const exchangeArb = fc
  .record({
    kind: fc.constantFrom('http', 'tunnel', 'upgrade'),
    method: fc.constantFrom('GET', 'POST', 'CONNECT', 'M-"\\'),
    path: text,
    query: fc.option(text),
    start: fc.double({ min: 1e12, max: 2e12, noNaN: true }),
    elapsed: fc.option(fc.double({ min: 0, max: 1e6, noNaN: true })),
    status: fc.option(fc.integer({ min: 100, max: 599 })),
    bytes: fc.tuple(fc.nat(), fc.nat()),
    protocol: fc.option(
      fc.record({
        protocol: fc.constantFrom('fpse', 'mapihttp'),
        operation: text,
        summary: text,
        versions: fc.record({ client: text, server: text }, { requiredKeys: [] }),
        verdicts: fc.array(fc.record({ code: text, level: fc.constantFrom('ok', 'notice', 'violation'), message: text }), { maxLength: 3 }),
      }),
    ),
    rules: fc.array(fc.record({ id: text, outcome: fc.constantFrom('applied', 'passed', 'skipped') }), { maxLength: 3 }),
    error: fc.option(text),
  })
  .map((r): Exchange => {
    const x = createExchange(r.kind, { address: '127.0.0.1', port: 1 } as Exchange['client'], {
      method: r.method,
      url: `http://h.test/${encodeURI(r.path)}${r.query === null ? '' : `?token=${encodeURIComponent(r.query)}`}`,
      httpVersion: '1.1',
      rawHeaders: [],
    });
    x.url = x.request.url;
    x.timings.start = r.start;
    if (r.elapsed !== null) x.timings.end = r.start + r.elapsed;
    if (r.status !== null) x.response = { statusCode: r.status, statusMessage: '', httpVersion: '1.1', rawHeaders: [], source: 'upstream' };
    x.bytes.request = r.bytes[0];
    x.bytes.response = r.bytes[1];
    if (r.protocol !== null) x.protocol = { ...r.protocol, conversation: 'c', facts: {}, problems: [] };
    if (r.rules.length > 0) x.rules = r.rules.map((rule) => ({ ...rule, explain: '', stage: 'request-head', changes: [] })) as unknown as Exchange['rules'];
    if (r.error !== null) x.error = { code: r.error, message: 'm', phase: 'upstream' } as unknown as Exchange['error'];
    return x;
  });

describe('feed messages as JSON', () => {
  it("'finished' is JSON.stringify of the summary message, byte for byte", () => {
    fc.assert(
      fc.property(exchangeArb, fc.nat(), (x, seq) => {
        const expected = JSON.stringify({ seq, type: 'finished', time: Math.round(x.timings.end ?? x.timings.start), exchange: summarize(x, redactor) });
        assert.equal(finishedJson(seq, x, redactor), expected);
      }),
      { numRuns: 500 },
    );
  });

  it("'started' is the summary of the request line alone", () => {
    fc.assert(
      fc.property(exchangeArb, fc.nat(), (x, seq) => {
        const start = Math.round(x.timings.start);
        const exchange = { id: x.id, kind: x.kind, method: x.request.method, url: redactor.url(x.url), start, verdicts: [], rules: [], bytes: { request: 0, response: 0 } };
        assert.equal(startedJson(seq, x, redactor), JSON.stringify({ seq, type: 'started', time: start, exchange }));
      }),
      { numRuns: 300 },
    );
  });
});
