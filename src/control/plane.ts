/**
 * The control plane of a run: the live views (ring, counts, conversations) fed by the proxy's
 * exchange events, the token file, the control server, and the proxy told to refuse its address.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Exchange } from '../core/exchange.js';
import type { ProxyServer } from '../proxy/server.js';
import type { FileCheck } from '../rules/load.js';
import type { LiveRules } from '../rules/live-rules.js';
import { respondFileProblem } from '../rules/respond-file.js';
import type { Redactor } from '../record/redact.js';
import { LiveConversations } from './conversations.js';
import { ExchangeRing } from './exchange-ring.js';
import type { JournalLookup } from './journal-lookup.js';
import { ProxyMetrics, type RecordingLosses } from './metrics.js';
import { RuleHits } from './hits.js';
import { Scopes } from './scopes.js';
import { startControlServer } from './server.js';
import type { ControlState } from './routes.js';
import { ExchangeStats } from './stats.js';
import { newToken, removeTokenFile, writeTokenFile } from './token.js';

export interface ControlOptions {
  host: string;
  port: number;
  tokenFile: string;
  /** Finished exchanges held for GET /api/exchanges (`--control-ring`). */
  ring: number;
  /** Events the live feed holds for `since` (`--control-feed-ring`; default 10000). */
  feedRing?: number;
  /** `--rules-files-anywhere`: runtime rules may `respond` with a file (paths from the working folder). */
  rulesFilesAnywhere?: boolean;
}

export interface ControlPlane {
  url: string;
  tokenFile: string;
  token: string;
  /** Live feed subscribers now (GET /api/events). */
  subscribers(): number;
  close(): Promise<void>;
}

export async function startControl(
  options: ControlOptions,
  run: { proxy: ProxyServer; mode: 'forward' | 'reverse'; seed: number; redactor: Redactor; logger: Logger; rules: LiveRules; recording?: () => RecordingLosses; journal?: JournalLookup },
): Promise<ControlPlane> {
  const token = newToken();
  let runtimeIds = 1;
  writeTokenFile(options.tokenFile, token);
  const stats = new ExchangeStats();
  const state: ControlState = {
    mode: run.mode,
    seed: run.seed,
    startedAt: Date.now(),
    ring: new ExchangeRing(options.ring),
    ...(run.journal !== undefined && { journal: run.journal }),
    stats,
    conversations: new LiveConversations(run.redactor),
    redactor: run.redactor,
    metrics: new ProxyMetrics({ mode: run.mode, proxy: run.proxy, stats, ...(run.recording !== undefined && { recording: run.recording }) }),
    rules: run.rules,
    hits: new RuleHits(),
    scopes: new Scopes(run.rules, run.logger),
    respondFiles: respondFileCheck(options.rulesFilesAnywhere === true),
    nextRuntimeId: () => {
      while (run.rules.originOf(`runtime-${runtimeIds}`) !== undefined) runtimeIds += 1;
      return `runtime-${runtimeIds++}`;
    },
  };
  // Loaded with the control server only: ws and the feed are no part of a --no-control run's
  // start, whose module graph a low `ulimit -n` must still be able to open.
  const { LiveFeed } = await import('./feed.js');
  const feed = new LiveFeed(run.redactor, run.logger, options.feedRing === undefined ? {} : { ring: options.feedRing });
  const server = await startControlServer({ host: options.host, port: options.port, token, state, logger: run.logger, upgrade: (...args) => feed.upgrade(...args) }).catch((err: unknown) => {
    void feed.close();
    throw err;
  });
  // CVE-2025-23217: a client of the proxy must not reach the control API through the proxy.
  const forget = run.proxy.own.add(server.address.host, server.address.port);
  // One listener per event: each listener more is a call more per exchange in emit().
  const onStarted = (x: Exchange): void => {
    state.stats.started();
    feed.hub.started(x);
  };
  const onFinished = (x: Exchange): void => {
    state.stats.finish(x);
    state.ring.push(x);
    state.conversations.add(x);
    state.metrics.finished(x);
    state.hits.record(x);
    feed.hub.finished(x);
  };
  run.proxy.events.on('started', onStarted);
  run.proxy.events.on('finished', onFinished);
  return {
    url: server.url,
    tokenFile: options.tokenFile,
    token,
    subscribers: () => feed.hub.count,
    close: async () => {
      run.proxy.events.off('started', onStarted);
      run.proxy.events.off('finished', onFinished);
      forget();
      // Closing the server closes every hold, which would remove each scope one by one.
      state.scopes.clear('reset');
      // Subscribers first: the server's close waits for every socket, upgraded ones included.
      await feed.close();
      await server.close();
      removeTokenFile(options.tokenFile, token);
    },
  };
}

/**
 * A runtime rule has no folder of its own to confine `respond: { file: }` to (respond-file.ts), so
 * it may name a file only when the user said rule files may read anywhere.
 */
function respondFileCheck(anywhere: boolean): FileCheck {
  if (anywhere) return (written) => respondFileProblem(resolve('runtime-rule'), written, { anywhere: true });
  return () => 'a rule sent through the control API cannot respond with a file (it has no folder to confine it to); send the body inline ({"respond": {"status": 200, "body": "..."}}), or start the proxy with --rules-files-anywhere (paths are then relative to its working folder)';
}
