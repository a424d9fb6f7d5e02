/**
 * The metrics without sockets (src/control/metrics.ts, src/control/upstream-failure-kind.ts):
 * which recorded errors are the upstream's, what one finished exchange moves, what is read at
 * scrape time, and that the text parses as the Prometheus text format.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OVERFLOW, Tally } from '../../src/control/metric-tally.js';
import { MAX_FAULT_SERIES, ProxyMetrics, statusClass, type RecordingLosses } from '../../src/control/metrics.js';
import { upstreamFailureOf } from '../../src/control/upstream-failure-kind.js';
import { createExchange, type Exchange, type Phase, type RuleRecord } from '../../src/core/exchange.js';
import { parseScrape } from '../helpers/metrics.js';

function exchange(kind: Exchange['kind'] = 'http', extra: Partial<Exchange> = {}): Exchange {
  const x = createExchange(kind, { address: '127.0.0.1', port: 50000, connection: 1 }, { method: 'GET', url: 'http://lab.example:8080/a/b?c=1', httpVersion: '1.1', rawHeaders: [] });
  x.timings.end = x.timings.start + 12.5;
  return Object.assign(x, extra);
}

function failed(code: string, phase: Phase, extra: Partial<Exchange> = {}, kind: Exchange['kind'] = 'http'): Exchange {
  return exchange(kind, { error: { code, message: 'm', phase }, ...extra });
}

function applied(id: string, ...actions: string[]): RuleRecord {
  return { id, explain: '', stage: 'request-head', outcome: 'applied', changes: actions.map((action) => ({ action, target: 'x' })) };
}

describe('upstream failures: which recorded errors are the upstream’s', () => {
  it('names the kind of network, DNS, timeout, TLS and HTTP failures, with the code as recorded', () => {
    const cases: Array<[string, Phase, string]> = [
      ['ECONNREFUSED', 'connect', 'refused'],
      ['ENOTFOUND', 'connect', 'dns'],
      ['EAI_AGAIN', 'connect', 'dns'],
      ['UPSTREAM_TIMEOUT', 'response-head', 'timeout'],
      ['ETIMEDOUT', 'connect', 'timeout'],
      ['ECONNRESET', 'response-body', 'reset'],
      ['EPIPE', 'response-head', 'reset'],
      ['EHOSTUNREACH', 'connect', 'unreachable'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'connect', 'tls'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'connect', 'tls'],
      ['CERT_HAS_EXPIRED', 'connect', 'tls'],
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'connect', 'tls'],
      ['HPE_INVALID_CONSTANT', 'response-head', 'protocol'],
      ['BAD_UPSTREAM_HEAD', 'response-head', 'protocol'],
      ['ERR_INVALID_CHAR', 'response-head', 'other'],
      ['EUPSTREAM', 'response-head', 'other'],
    ];
    for (const [code, phase, kind] of cases) assert.deepEqual(upstreamFailureOf(failed(code, phase)), { kind, code }, code);
    // A tunnel that could not open, and one whose upstream went away.
    assert.deepEqual(upstreamFailureOf(failed('ECONNREFUSED', 'connect', {}, 'tunnel')), { kind: 'refused', code: 'ECONNREFUSED' });
    assert.deepEqual(upstreamFailureOf(failed('ECONNRESET', 'tunnel', {}, 'tunnel')), { kind: 'reset', code: 'ECONNRESET' });
  });

  it('leaves out the client’s failures, the proxy’s refusals and faults injected by rules', () => {
    assert.equal(upstreamFailureOf(exchange()), undefined, 'no error');
    // A rule's reset, close or hang is an applied rule, not an error (docs/rules.md "Actions").
    assert.equal(upstreamFailureOf(exchange('http', { rules: [applied('rst', 'reset')] })), undefined);
    assert.equal(upstreamFailureOf(failed('CLIENT_ABORTED', 'response-body')), undefined);
    assert.equal(upstreamFailureOf(failed('ECONNRESET', 'request-body')), undefined, 'the client broke its upload');
    assert.equal(upstreamFailureOf(failed('HPE_INVALID_CHUNK_SIZE', 'request-body')), undefined);
    for (const code of ['FORWARDING_LOOP', 'BAD_AUTHORITY', 'NOT_A_PROXY_REQUEST', 'HTTP_VERSION_NOT_SUPPORTED', 'TRUNCATED_HEAD']) {
      assert.equal(upstreamFailureOf(failed(code, 'request-head')), undefined, code);
    }
    // A CONNECT the proxy refused is recorded in the connect phase: its codes are the proxy's own.
    for (const code of ['CONNECT_IN_REVERSE_MODE', 'BAD_CONNECT_TARGET', 'FORWARDING_LOOP', 'ERR_CA']) {
      assert.equal(upstreamFailureOf(failed(code, 'connect', {}, 'tunnel')), undefined, code);
    }
    // In an intercepted tunnel, a tunnel-phase error is the client's handshake with the proxy.
    assert.equal(upstreamFailureOf(failed('ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'tunnel', { intercepted: true }, 'tunnel')), undefined);
    assert.equal(upstreamFailureOf(failed('ECONNRESET', 'tunnel', { intercepted: true }, 'tunnel')), undefined);
  });
});

describe('ProxyMetrics', () => {
  function metrics(losses?: RecordingLosses): { m: ProxyMetrics; counts: { clients: number; upstreams: number; refused: number }; stats: { seen: number; finished: number } } {
    const counts = { clients: 0, upstreams: 0, refused: 0 };
    const stats = { seen: 0, finished: 0 };
    const m = new ProxyMetrics({
      mode: 'reverse',
      proxy: { connectionCount: () => counts.clients, upstreamCount: () => counts.upstreams, refusedConnections: () => counts.refused },
      stats,
      ...(losses !== undefined && { recording: () => losses }),
    });
    return { m, counts, stats };
  }

  it('one finished exchange: its mode, protocol, status class, duration, bytes, verdicts; nothing more', async () => {
    const { m } = metrics();
    const x = exchange('http', {
      response: { statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' },
      bytes: { request: 41, response: 310 },
      protocol: {
        protocol: 'fpse',
        summary: '',
        conversation: 'c',
        operation: 'server version',
        versions: { client: '12.0.0.6415' },
        facts: {},
        verdicts: [
          { code: 'accepted', level: 'ok', message: '' },
          { code: 'echo-mismatch', level: 'violation', message: '' },
        ],
        problems: [],
      },
    });
    m.finished(x);
    const s = await parseScrape(await m.scrape());
    assert.deepEqual(s.families.version_proxy_exchanges_total?.data, [{ labels: { mode: 'reverse', protocol: 'fpse', status_class: '2xx' }, value: 1 }]);
    assert.equal(s.value('version_proxy_request_bytes_total', { protocol: 'fpse' }), 41);
    assert.equal(s.value('version_proxy_response_bytes_total', { protocol: 'fpse' }), 310);
    const d = s.histogram('version_proxy_exchange_duration_seconds', { protocol: 'fpse' });
    assert.equal(d?.count, 1);
    assert.equal(d.sum, 0.0125);
    assert.equal(d.buckets['0.01'], 0);
    assert.equal(d.buckets['0.025'], 1);
    assert.equal(s.value('version_proxy_verdicts_total', { code: 'accepted', level: 'ok' }), 1);
    assert.equal(s.value('version_proxy_verdicts_total', { code: 'echo-mismatch', level: 'violation' }), 1);
    assert.equal(s.value('version_proxy_verdicts_total'), 2);
    assert.equal(s.value('version_proxy_upstream_failures_total'), 0);
    assert.equal(s.value('version_proxy_faults_injected_total'), 0);
  });

  it('faults: each action a rule applied, once per exchange; rules that passed or were skipped are not faults', async () => {
    const { m } = metrics();
    const passed: RuleRecord = { ...applied('lucky', 'reject'), outcome: 'passed', changes: [] };
    const skipped: RuleRecord = { ...applied('late', 'serverVersion'), outcome: 'skipped', reason: 'no body', changes: [] };
    m.finished(exchange('http', { rules: [applied('thin', 'throttle', 'setHeader', 'throttle'), applied('teapot', 'status', 'status', 'status'), passed, skipped] }));
    m.finished(exchange('http', { rules: [applied('rst', 'reset')] }));
    const s = await parseScrape(await m.scrape());
    assert.deepEqual(
      (s.families.version_proxy_faults_injected_total?.data as Array<{ labels: Record<string, string>; value: number }>).map((d) => `${d.labels.rule} ${d.labels.action} ${d.value}`).sort(),
      ['rst reset 1', 'teapot status 1', 'thin setHeader 1', 'thin throttle 1'],
    );
    // The reset by a rule left no answer, and is no upstream failure.
    assert.equal(s.value('version_proxy_exchanges_total', { status_class: 'none' }), 2);
    assert.equal(s.value('version_proxy_upstream_failures_total'), 0);
  });

  it('upstream failures by kind and code; a refusal by the proxy is not one', async () => {
    const { m } = metrics();
    m.finished(failed('ECONNREFUSED', 'connect', { response: { statusCode: 502, statusMessage: 'Bad Gateway', httpVersion: '1.1', rawHeaders: [], source: 'proxy' } }));
    m.finished(failed('ECONNREFUSED', 'connect'));
    m.finished(failed('UPSTREAM_TIMEOUT', 'response-head'));
    m.finished(failed('FORWARDING_LOOP', 'request-head'));
    const s = await parseScrape(await m.scrape());
    assert.equal(s.value('version_proxy_upstream_failures_total', { kind: 'refused', code: 'ECONNREFUSED' }), 2);
    assert.equal(s.value('version_proxy_upstream_failures_total', { kind: 'timeout', code: 'UPSTREAM_TIMEOUT' }), 1);
    assert.equal(s.value('version_proxy_upstream_failures_total'), 3);
  });

  it('reads connections, exchanges in flight, refusals and journal losses when scraped, not before', async () => {
    const losses: RecordingLosses = { backlog: 0, writeFailed: 0, lowDiskExchanges: 0, lowDiskBodies: 0 };
    const { m, counts, stats } = metrics(losses);
    Object.assign(counts, { clients: 3, upstreams: 2, refused: 7 });
    Object.assign(stats, { seen: 10, finished: 6 });
    Object.assign(losses, { backlog: 4, writeFailed: 1, lowDiskExchanges: 5, lowDiskBodies: 9 });
    let s = await parseScrape(await m.scrape());
    assert.equal(s.value('version_proxy_client_connections'), 3);
    assert.equal(s.value('version_proxy_upstream_connections'), 2);
    assert.equal(s.value('version_proxy_client_connections_refused_total'), 7);
    assert.equal(s.value('version_proxy_exchanges_in_flight'), 4);
    assert.equal(s.value('version_proxy_journal_dropped_total', { what: 'exchange', reason: 'backlog' }), 4);
    assert.equal(s.value('version_proxy_journal_dropped_total', { what: 'exchange', reason: 'write-failed' }), 1);
    assert.equal(s.value('version_proxy_journal_dropped_total', { what: 'exchange', reason: 'low-disk' }), 5);
    assert.equal(s.value('version_proxy_journal_dropped_total', { what: 'body', reason: 'low-disk' }), 9);
    // A second scrape reads the totals again: they are not added up twice.
    Object.assign(counts, { clients: 0, refused: 8 });
    s = await parseScrape(await m.scrape());
    assert.equal(s.value('version_proxy_client_connections'), 0);
    assert.equal(s.value('version_proxy_client_connections_refused_total'), 8);
    assert.equal(s.value('version_proxy_journal_dropped_total', { what: 'exchange', reason: 'backlog' }), 4);
  });

  it('rule ids are bounded: past MAX_FAULT_SERIES (rule, action) pairs, new ones count under rule="_other"', async () => {
    const { m } = metrics();
    for (let i = 0; i < MAX_FAULT_SERIES + 30; i++) m.finished(exchange('http', { rules: [applied(`scope-${i}-1`, i % 2 === 0 ? 'reject' : 'delay')] }));
    m.finished(exchange('http', { rules: [applied('scope-0-1', 'reject')] }));
    const s = await parseScrape(await m.scrape());
    const series = s.families.version_proxy_faults_injected_total?.data as Array<{ labels: Record<string, string>; value: number }>;
    assert.equal(series.length, MAX_FAULT_SERIES + 2, 'the cap, and one overflow series per action');
    assert.equal(s.value('version_proxy_faults_injected_total', { rule: OVERFLOW }), 30);
    assert.equal(s.value('version_proxy_faults_injected_total', { rule: 'scope-0-1', action: 'reject' }), 2, 'a series already there keeps counting');
    assert.equal(s.value('version_proxy_faults_injected_total'), MAX_FAULT_SERIES + 31, 'nothing lost');
  });

  it('a Tally: constant labels first, values added up per series', () => {
    const t = new Tally({ name: 'x_total', help: 'x', labelNames: ['a', 'b'], constant: { mode: 'forward' } });
    t.add(2, 'p', 'q');
    t.add(3, 'p', 'q');
    t.add(1, 'p', 'r');
    assert.deepEqual(t.labelNames, ['mode', 'a', 'b']);
    assert.deepEqual([...t.series()], [
      { labels: { mode: 'forward', a: 'p', b: 'q' }, n: 5 },
      { labels: { mode: 'forward', a: 'p', b: 'r' }, n: 1 },
    ]);
  });

  it('status classes: 1xx to 5xx, none without an answer, other for codes Node lets through beyond them', () => {
    assert.deepEqual([101, 200, 304, 404, 508, undefined, 99, 600, 999].map(statusClass), ['1xx', '2xx', '3xx', '4xx', '5xx', 'none', 'other', 'other', 'other']);
  });
});
