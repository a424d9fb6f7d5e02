/**
 * The control plane of a run: the live views (ring, counts, conversations) fed by the proxy's
 * exchange events, the token file, the control server, and the proxy told to refuse its address.
 */
import type { Logger } from 'pino';
import type { ProxyServer } from '../proxy/server.js';
import type { Redactor } from '../record/redact.js';
import { LiveConversations } from './conversations.js';
import { ExchangeRing } from './exchange-ring.js';
import { ProxyMetrics, type RecordingLosses } from './metrics.js';
import { startControlServer } from './server.js';
import type { ControlState } from './routes.js';
import { ExchangeStats } from './stats.js';
import { newToken, writeTokenFile } from './token.js';

export interface ControlOptions {
  host: string;
  port: number;
  tokenFile: string;
  /** Finished exchanges held for GET /api/exchanges (`--control-ring`). */
  ring: number;
}

export interface ControlPlane {
  url: string;
  tokenFile: string;
  token: string;
  close(): Promise<void>;
}

export async function startControl(
  options: ControlOptions,
  run: { proxy: ProxyServer; mode: 'forward' | 'reverse'; seed: number; redactor: Redactor; logger: Logger; recording?: () => RecordingLosses },
): Promise<ControlPlane> {
  const token = newToken();
  writeTokenFile(options.tokenFile, token);
  const stats = new ExchangeStats();
  const state: ControlState = {
    mode: run.mode,
    seed: run.seed,
    startedAt: Date.now(),
    ring: new ExchangeRing(options.ring),
    stats,
    conversations: new LiveConversations(run.redactor),
    redactor: run.redactor,
    metrics: new ProxyMetrics({ mode: run.mode, proxy: run.proxy, stats, ...(run.recording !== undefined && { recording: run.recording }) }),
  };
  const server = await startControlServer({ host: options.host, port: options.port, token, state, logger: run.logger });
  // CVE-2025-23217: a client of the proxy must not reach the control API through the proxy.
  const forget = run.proxy.own.add(server.address.host, server.address.port);
  const onStarted = (): void => state.stats.started();
  const onFinished = (x: Parameters<typeof state.ring.push>[0]): void => {
    state.stats.finish(x);
    state.ring.push(x);
    state.conversations.add(x);
    state.metrics.finished(x);
  };
  run.proxy.events.on('started', onStarted);
  run.proxy.events.on('finished', onFinished);
  return {
    url: server.url,
    tokenFile: options.tokenFile,
    token,
    close: async () => {
      run.proxy.events.off('started', onStarted);
      run.proxy.events.off('finished', onFinished);
      forget();
      await server.close();
    },
  };
}
