/**
 * Set-up for protocol integration tests: the FPSE and MAPI/HTTP simulators on 127.0.0.1:0, a
 * fresh proxy per test (conversation state lives in the proxy, so tests must not share one),
 * hand-made FPSE and MAPI/HTTP requests through the proxy, and look-ups of an exchange's
 * verdicts and of its `exchange` log line. Everything started is closed by the test's after hook.
 */
import type { TestContext } from 'node:test';
import type { ProxyConfig } from '../../src/config.js';
import type { Exchange, Verdict } from '../../src/core/exchange.js';
import { silentLogger } from '../../src/log.js';
import { startFpseServer, type FpseServerOptions, type RunningServer } from '../../src/simulators/fpse-server.js';
import { startMapiServer, type MapiServerOptions } from '../../src/simulators/mapi-server.js';
import { proxiedRequest, type CollectedResponse } from './client.js';
import { startProxy, startProxyFor, type Mode, type ModeProxy, type TestProxy } from './proxy.js';

export const logger = silentLogger();
const LISTEN = { host: '127.0.0.1', port: 0 };

export const SHTML = '/_vti_bin/shtml.dll/_vti_rpc';
export const AUTHOR = '/_vti_bin/_vti_aut/author.dll';
export const EMSMDB = '/mapi/emsmdb/?MailboxId=416c6368-656d-794a-6f45-57615272456e@example.com';

/** Short MAPI/HTTP timings so the long poll and keep-alives fit in a test. */
export const MAPI_TIMINGS = { pendingPeriodMs: 100, notificationWaitMs: 300 } as const;

/** Anything with a close(); closed in reverse order of start when the test ends. */
interface Closable {
  close(): Promise<void>;
}

function closeAfter<T extends Closable>(t: TestContext, thing: T): T {
  t.after(() => thing.close());
  return thing;
}

export async function fpseServer(t: TestContext, options: Partial<FpseServerOptions> = {}): Promise<RunningServer> {
  return closeAfter(t, await startFpseServer({ version: '14.0.0.6029', logger, ...options }, LISTEN));
}

export async function mapiServer(t: TestContext, options: Partial<MapiServerOptions> = {}): Promise<RunningServer> {
  return closeAfter(t, await startMapiServer({ server: 'Exchange/15.02.1544.014', ...MAPI_TIMINGS, logger, ...options }, LISTEN));
}

/** A forward proxy, closed when the test ends. */
export async function forwardProxy(t: TestContext, overrides: Partial<ProxyConfig> = {}): Promise<TestProxy> {
  return closeAfter(t, await startProxy(overrides));
}

/** A proxy for `upstreamPort` in `mode`, closed when the test ends. */
export async function modeProxy(t: TestContext, mode: Mode, upstreamPort: number): Promise<ModeProxy> {
  return closeAfter(t, await startProxyFor(mode, upstreamPort));
}

/** Registers any closable (e.g. a raw upstream) to be closed when the test ends. */
export function closeLater<T extends Closable>(t: TestContext, thing: T): T {
  return closeAfter(t, thing);
}

/** The protocol record of an exchange; fails with the exchange's line when there is none. */
export function protocolOf(exchange: Exchange | undefined): NonNullable<Exchange['protocol']> {
  if (exchange === undefined) throw new Error('no such exchange');
  if (exchange.protocol === undefined) throw new Error(`exchange ${exchange.request.method} ${exchange.request.url} has no protocol record`);
  return exchange.protocol;
}

/** Verdict codes of an exchange, in order. */
export function codesOf(exchange: Exchange | undefined): string[] {
  return protocolOf(exchange).verdicts.map((v) => v.code);
}

/** The verdict `code` on an exchange; fails listing the codes that are there. */
export function verdictOf(exchange: Exchange | undefined, code: string): Verdict {
  const found = protocolOf(exchange).verdicts.find((v) => v.code === code);
  if (found === undefined) throw new Error(`no verdict ${code} on ${exchange!.request.url}; verdicts: ${codesOf(exchange).join(', ') || 'none'}`);
  return found;
}

/** The `proto` field of the exchange's `exchange` log line (bounded wait). */
export async function protoLogged(proxy: TestProxy, exchange: Exchange): Promise<unknown> {
  const [line] = await proxy.logs.waitFor((l) => l.msg === 'exchange' && l.xid === exchange.id, 1, 3000);
  return line!.proto;
}

/** Office's RPC request headers (MC-FPSEWM 4.2.4.1; docs/protocols.md §2.2). */
export const FPSE_HEADERS = {
  'User-Agent': 'MSFrontPage/12.0',
  'MIME-Version': '1.0',
  Accept: 'auth/sicily',
  'Content-Type': 'application/x-www-form-urlencoded',
  'X-Vermeer-Content-Type': 'application/x-www-form-urlencoded',
} as const;

/** One FPSE RPC POST through a forward proxy to `server` (a fresh connection, same client address). */
export function fpseCall(proxy: TestProxy, server: RunningServer, path: string, body: string): Promise<CollectedResponse> {
  const headers = { Host: new URL(server.url).host, ...FPSE_HEADERS };
  return proxiedRequest(proxy.port, `${server.url}${path}`, { method: 'POST', headers, body, timeoutMs: 5000 });
}

/** One MAPI/HTTP POST through a forward proxy to `origin` + EMSMDB, with exactly `headers`. */
export function mapiCall(proxy: TestProxy, origin: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)): Promise<CollectedResponse> {
  const all = { Host: new URL(origin).host, 'Content-Length': String(body.length), ...headers };
  return proxiedRequest(proxy.port, `${origin}${EMSMDB}`, { method: 'POST', headers: all, body, timeoutMs: 5000 });
}
