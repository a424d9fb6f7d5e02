/**
 * The proxy under test, in-process on 127.0.0.1 port 0, with its 'finished' records collected
 * and its log lines parsed into objects. Modes: forward (the client addresses the upstream by
 * absolute URL, RFC 9112 §3.2.2) and reverse (--target; the client uses origin-form paths).
 */
import { startApp, type App } from '../../src/app.js';
import { parseTarget, type ProxyConfig } from '../../src/config.js';
import type { Exchange } from '../../src/core/exchange.js';
import { createLogSink, type LogSink } from './log-sink.js';

export type { Exchange };

export interface TestProxy {
  app: App;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Records from 'finished', in the order they finished. */
  exchanges: Exchange[];
  /** Records from 'started', in the order they started. */
  started: Exchange[];
  /** Resolves with the records once at least `n` exchanges have finished. */
  waitForExchanges(n: number, timeoutMs?: number): Promise<Exchange[]>;
  logs: LogSink;
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_CONFIG: ProxyConfig = {
  listen: { host: '127.0.0.1', port: 0 },
  keepHost: false,
  forwarded: false,
  upstreamTimeoutMs: 330_000,
  graceMs: 500,
  logLevel: 'info',
};

export async function startProxy(overrides: Partial<ProxyConfig> = {}): Promise<TestProxy> {
  const config: ProxyConfig = { ...DEFAULT_CONFIG, ...overrides };
  const logs = createLogSink(config.logLevel);
  const app = await startApp(config, logs.logger);
  const exchanges: Exchange[] = [];
  const started: Exchange[] = [];
  const waiters = new Set<() => void>();
  app.proxy.events.on('started', (x) => started.push(x));
  app.proxy.events.on('finished', (x) => {
    exchanges.push(x);
    for (const wake of [...waiters]) wake();
  });

  function waitForExchanges(n: number, timeoutMs = 5000): Promise<Exchange[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (exchanges.length < n) return;
        cleanup();
        resolve(exchanges.slice());
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = exchanges.map((x) => `${x.request.method} ${x.request.url} -> ${x.response?.statusCode ?? 'none'}`).join('; ');
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} finished exchange(s); ${exchanges.length} finished (${seen}), ${started.length} started`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    url: app.url,
    port: app.address.port,
    exchanges,
    started,
    waitForExchanges,
    logs,
    close: (graceMs?: number) => (closing ??= app.close(graceMs)),
  };
}

export type Mode = 'forward' | 'reverse';
export const MODES: readonly Mode[] = ['forward', 'reverse'];

export interface ModeProxy extends TestProxy {
  mode: Mode;
  /** The request-target a client of this mode writes for `path` on the upstream. */
  target(path: string): string;
  /** The Host header value a client of this mode sends (the upstream's authority). */
  upstreamAuthority: string;
}

/**
 * A proxy for `upstreamPort` in the given mode. Forward: request-targets are absolute URLs of
 * the upstream. Reverse: --target is the upstream and request-targets are origin-form.
 */
export async function startProxyFor(mode: Mode, upstreamPort: number, overrides: Partial<ProxyConfig> = {}): Promise<ModeProxy> {
  const upstreamAuthority = `127.0.0.1:${upstreamPort}`;
  const proxy = await startProxy(mode === 'reverse' ? { target: parseTarget(`http://${upstreamAuthority}`), ...overrides } : overrides);
  return {
    ...proxy,
    mode,
    upstreamAuthority,
    target: (path: string) => (mode === 'forward' ? `http://${upstreamAuthority}${path}` : path),
  };
}
