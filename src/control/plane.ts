/**
 * The control plane of a run: the live views (ring, counts, conversations) fed by the proxy's
 * exchange events, the token file, the control server, and the proxy told to refuse its address.
 */
import type { Logger } from 'pino';
import type { ProxyServer } from '../proxy/server.js';
import type { Redactor } from '../record/redact.js';
import { LiveConversations } from './conversations.js';
import { ExchangeRing } from './exchange-ring.js';
import { LiveFeed } from './feed.js';
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
  /** Events the live feed holds for `since` (`--control-feed-ring`; default 10000). */
  feedRing?: number;
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
  run: { proxy: ProxyServer; mode: 'forward' | 'reverse'; seed: number; redactor: Redactor; logger: Logger },
): Promise<ControlPlane> {
  const token = newToken();
  writeTokenFile(options.tokenFile, token);
  const state: ControlState = {
    mode: run.mode,
    seed: run.seed,
    startedAt: Date.now(),
    ring: new ExchangeRing(options.ring),
    stats: new ExchangeStats(),
    conversations: new LiveConversations(run.redactor),
    redactor: run.redactor,
  };
  const feed = new LiveFeed(run.redactor, run.logger, options.feedRing === undefined ? {} : { ring: options.feedRing });
  const server = await startControlServer({ host: options.host, port: options.port, token, state, logger: run.logger, upgrade: (...args) => feed.upgrade(...args) }).catch((err: unknown) => {
    void feed.close();
    throw err;
  });
  // CVE-2025-23217: a client of the proxy must not reach the control API through the proxy.
  const forget = run.proxy.own.add(server.address.host, server.address.port);
  const onStarted = (): void => state.stats.started();
  const onFinished = (x: Parameters<typeof state.ring.push>[0]): void => {
    state.stats.finish(x);
    state.ring.push(x);
    state.conversations.add(x);
  };
  run.proxy.events.on('started', onStarted);
  run.proxy.events.on('finished', onFinished);
  run.proxy.events.on('started', feed.hub.started);
  run.proxy.events.on('finished', feed.hub.finished);
  return {
    url: server.url,
    tokenFile: options.tokenFile,
    token,
    subscribers: () => feed.hub.count,
    close: async () => {
      run.proxy.events.off('started', onStarted);
      run.proxy.events.off('finished', onFinished);
      run.proxy.events.off('started', feed.hub.started);
      run.proxy.events.off('finished', feed.hub.finished);
      forget();
      // Subscribers first: the server's close waits for every socket, upgraded ones included.
      await feed.close();
      await server.close();
    },
  };
}
