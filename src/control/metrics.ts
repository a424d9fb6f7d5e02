/**
 * `GET /metrics` (docs/control-api.md "Metrics"): the run's counts in the Prometheus text
 * exposition format, through prom-client with a registry of this control plane's own (never
 * prom-client's global one, which another library in the same process could fill or clear).
 *
 * The hot path is `finished()`: one pass over the finished exchange and a few increments of plain
 * numbers (metric-tally.ts, metric-histogram.ts). What the proxy already counts
 * (connections open, exchanges in flight, journal losses) is read when scraped, by the gauges'
 * and counters' `collect`, and costs traffic nothing.
 *
 * Label values are bounded: the run's mode, a protocol or exchange kind, a status class, a
 * verdict code and level, a rule id and action name, an error code and its kind. Never a URL,
 * host, path or version: each would be a new series per value and leak traffic into a monitoring
 * system (Prometheus, "Use labels": do not use labels to store dimensions with high cardinality).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { durationOf, type Exchange, type RuleRecord } from '../core/exchange.js';
import type { ExchangeStats } from './stats.js';
import { HistogramTally } from './metric-histogram.js';
import { Tally, type TallyConfig } from './metric-tally.js';
import { upstreamFailureOf } from './upstream-failure-kind.js';

// prom-client's index loads every part it has: the Pushgateway (http, https, zlib), cluster
// aggregation, the Summary's t-digest, and @opentelemetry/api for the default CPU metric; 12.7 MB
// of RSS and ~80 ms at every start, control plane or not. The four parts used on every run take
// 1.4 MB and 3 ms; the default process metrics are loaded on the first scrape (processMetrics).
// prom-client is pinned (package.json), so these paths do not move under us.
const require = createRequire(import.meta.url);
const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;

/** Text format 0.0.4, the format every Prometheus scrapes (prom-client's PROMETHEUS_CONTENT_TYPE). */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Exchange durations, seconds: from a cached FPSE answer (~1 ms) through slow upstreams to
 * MAPI/HTTP NotificationWait long polls and CONNECT tunnels that last minutes.
 */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** (rule, action) pairs counted on their own; later ones count under `rule="_other"` (metric-tally.ts). */
export const MAX_FAULT_SERIES = 500;

/** What the metrics read when scraped: the proxy's own counts. */
export interface MetricsSources {
  mode: 'forward' | 'reverse';
  proxy: { connectionCount(): number; upstreamCount(): number; refusedConnections(): number };
  stats: Pick<ExchangeStats, 'seen' | 'finished'>;
  /** The journal's losses since the start, when recording (record/journal.ts, record/recording-guard.ts). */
  recording?: () => RecordingLosses;
}

export interface RecordingLosses {
  /** Exchanges dropped because the disk did not keep up (the backlog bound). */
  backlog: number;
  /** Lines lost in failed writes. */
  writeFailed: number;
  /** Exchanges not recorded below half of --record-min-free. */
  lowDiskExchanges: number;
  /** Bodies not recorded below --record-min-free. */
  lowDiskBodies: number;
}

export class ProxyMetrics {
  private readonly registry = new Registry();
  private readonly exchanges: Tally;
  private readonly duration: HistogramTally;
  private readonly requestBytes: Tally;
  private readonly responseBytes: Tally;
  private readonly upstreamFailures: Tally;
  private readonly faults: Tally;
  private readonly verdicts: Tally;

  constructor(sources: MetricsSources) {
    const registry = this.registry;
    this.exchanges = tally(registry, {
      name: 'version_proxy_exchanges_total',
      help: 'Finished exchanges by mode, protocol (fpse, mapihttp; else the kind: http, tunnel, upgrade) and status class of the answer the client got (none: no answer)',
      labelNames: ['protocol', 'status_class'],
      constant: { mode: sources.mode },
    });
    this.duration = new HistogramTally('version_proxy_exchange_duration_seconds', 'Time from the request head to the end of the exchange, by protocol or kind', 'protocol', DURATION_BUCKETS);
    registry.registerMetric(this.duration.asMetric() as unknown as PromClient.Metric);
    this.requestBytes = tally(registry, {
      name: 'version_proxy_request_bytes_total',
      help: 'Body bytes from clients (every byte, for tunnels and upgrades), counted as exchanges finish',
      labelNames: ['protocol'],
    });
    this.responseBytes = tally(registry, {
      name: 'version_proxy_response_bytes_total',
      help: 'Body bytes to clients (every byte, for tunnels and upgrades), counted as exchanges finish',
      labelNames: ['protocol'],
    });
    this.upstreamFailures = tally(registry, {
      name: 'version_proxy_upstream_failures_total',
      help: "Exchanges that failed because of the upstream, by kind (refused, dns, timeout, reset, unreachable, tls, protocol, other) and the record's error code; faults injected by rules are not counted here",
      labelNames: ['kind', 'code'],
    });
    this.faults = tally(registry, {
      name: 'version_proxy_faults_injected_total',
      help: 'Exchanges in which a rule applied an action that changed something, by rule id and action (reject, respond, close, reset, hang, delay, throttle, status, setHeader, removeHeader, clientVersion, serverVersion)',
      labelNames: ['rule', 'action'],
      // Scopes name their rules `scope-N-M` afresh each time: a suite's thousandth test must not
      // make a monitoring system hold thousands of series.
      maxSeries: MAX_FAULT_SERIES,
    });
    this.verdicts = tally(registry, {
      name: 'version_proxy_verdicts_total',
      help: 'Protocol verdicts on finished exchanges, by code and level (ok, notice, violation)',
      labelNames: ['code', 'level'],
    });
    const { proxy, stats, recording } = sources;
    gauge(registry, 'version_proxy_client_connections', 'Client connections open (the decrypted inside of an intercepted tunnel counts as one of its own)', () => proxy.connectionCount());
    gauge(registry, 'version_proxy_upstream_connections', 'Upstream connections open or opening: kept-alive, tunnel and upgrade sockets', () => proxy.upstreamCount());
    gauge(registry, 'version_proxy_exchanges_in_flight', 'Exchanges started and not yet finished', () => Math.max(0, stats.seen - stats.finished));
    new Counter({
      name: 'version_proxy_client_connections_refused_total',
      help: 'Client connections closed as they were accepted, over --max-connections',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(proxy.refusedConnections());
      },
    });
    new Counter({
      name: 'version_proxy_journal_dropped_total',
      help: 'What the journal left out: exchanges over the write backlog bound (backlog), lines of failed writes (write-failed), exchanges or bodies below --record-min-free (low-disk)',
      labelNames: ['what', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        if (recording === undefined) return;
        const lost = recording();
        this.inc({ what: 'exchange', reason: 'backlog' }, lost.backlog);
        this.inc({ what: 'exchange', reason: 'write-failed' }, lost.writeFailed);
        this.inc({ what: 'exchange', reason: 'low-disk' }, lost.lowDiskExchanges);
        this.inc({ what: 'body', reason: 'low-disk' }, lost.lowDiskBodies);
      },
    });
  }

  /** Counts one finished exchange: the hot path, a few increments. */
  finished(x: Exchange): void {
    const protocol = x.protocol?.protocol ?? x.kind;
    this.exchanges.add(1, protocol, statusClass(x.response?.statusCode));
    const ms = durationOf(x);
    if (ms !== undefined) this.duration.observe(protocol, ms / 1000);
    this.requestBytes.add(x.bytes.request, protocol);
    this.responseBytes.add(x.bytes.response, protocol);
    const verdicts = x.protocol?.verdicts;
    if (verdicts !== undefined) for (const v of verdicts) this.verdicts.add(1, v.code, v.level);
    if (x.error !== undefined) {
      const failure = upstreamFailureOf(x);
      if (failure !== undefined) this.upstreamFailures.add(1, failure.kind, failure.code);
    }
    if (x.rules !== undefined) this.countFaults(x.rules);
  }

  /** Each action a rule applied on this exchange, once (a throttle changes both directions, a status several fields). */
  private countFaults(rules: RuleRecord[]): void {
    for (const rule of rules) {
      if (rule.outcome !== 'applied') continue;
      const changes = rule.changes;
      for (let i = 0; i < changes.length; i++) {
        const action = changes[i]!.action;
        if (changes.findIndex((c) => c.action === action) === i) this.faults.add(1, rule.id, action);
      }
    }
  }

  /** The text exposition: this run's metrics, then the process's (CPU, memory, event loop, GC). */
  async scrape(): Promise<string> {
    const own = await this.registry.metrics();
    return own + (await processMetrics().metrics());
  }
}

/** `2xx` for 200..299; `none` when the client got no answer (a reset, a hang, a client gone). */
export function statusClass(status: number | undefined): string {
  if (status === undefined) return 'none';
  // Node's parser takes any three digits; a class outside 1..5 is folded into one value.
  return status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : 'other';
}

/** A counter whose counts are kept by a Tally on the hot path and read from it when scraped. */
function tally(registry: PromClient.Registry, config: TallyConfig): Tally {
  const counts = new Tally(config);
  new Counter({
    name: config.name,
    help: config.help,
    labelNames: counts.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of counts.series()) this.inc(s.labels, s.n);
    },
  });
  return counts;
}

function gauge(registry: PromClient.Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

let processRegistry: PromClient.Registry | undefined;

/**
 * prom-client's default metrics, in a registry of their own shared by every control plane of the
 * process: they describe the process, and their event-loop and GC observers are made once, not
 * once per proxy started in-process (they have no stop). Loaded on the first scrape, since they
 * pull in @opentelemetry/api (7.7 MB of RSS): that scrape holds the event loop ~20 ms, once per
 * process, where loading them at start would cost every run with a control server the memory.
 * `nodejs_version_info` is left out: a version is no label value.
 */
function processMetrics(): PromClient.Registry {
  if (processRegistry !== undefined) return processRegistry;
  processRegistry = new Registry();
  const collectDefaultMetrics = require('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics;
  collectDefaultMetrics({ register: processRegistry });
  processRegistry.removeSingleMetric('nodejs_version_info');
  return processRegistry;
}
