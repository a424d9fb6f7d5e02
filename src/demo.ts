/**
 * `./proxy demo`: both simulators behind one forward proxy, the simulated clients talking
 * through it in a few scenarios that show what the proxy sees and judges. Returns rows for the
 * CLI to print; exits nothing and prints nothing itself.
 */
import type { Logger } from 'pino';
import { join } from 'node:path';
import { startApp } from './app.js';
import { scenarioDir } from './rules/scenarios.js';
import type { Exchange } from './core/exchange.js';
import { runFpseClient } from './simulators/fpse-client.js';
import { startFpseServer } from './simulators/fpse-server.js';
import { runMapiClient } from './simulators/mapi-client.js';
import { startMapiServer } from './simulators/mapi-server.js';

export interface DemoRow {
  scenario: string;
  protocol: string;
  operation: string;
  client: string;
  server: string;
  negotiated: string;
  verdicts: string;
  /** Rules that changed or answered the exchange (second half of the demo). */
  rules: string;
}

/** Shipped scenarios the demo runs behind a second proxy, to show what rules do to a conversation. */
export const DEMO_SCENARIOS = ['fpse-downgrade-to-fp2002', 'fpse-client-at-floor', 'mapi-server-predates-mapihttp', 'mapi-endpoint-disabled'] as const;

export interface DemoResult {
  rows: DemoRow[];
  exchanges: Exchange[];
  proxyUrl: string;
}

const LOOPBACK = { host: '127.0.0.1', port: 0 };

export async function runDemo(logger: Logger, options: { verbose?: boolean } = {}): Promise<DemoResult> {
  const quiet = logger.child({}, { level: options.verbose ? logger.level : 'warn' });
  const closers: Array<() => Promise<void>> = [];
  try {
    const sharePoint = await startFpseServer({ version: '14.0.0.6029', logger: quiet }, LOOPBACK);
    closers.push(() => sharePoint.close());
    // Windows SharePoint Services 2.0 echoes a normalised 6.0.0.0 (docs/protocols.md §2.3).
    const wss2 = await startFpseServer({ version: '6.0.2.5530', echo: { fixed: '6.0.0.0' }, logger: quiet }, LOOPBACK);
    closers.push(() => wss2.close());
    const exchange = await startMapiServer({ server: 'Exchange/15.02.1544.014', pendingPeriodMs: 150, notificationWaitMs: 500, logger: quiet }, LOOPBACK);
    closers.push(() => exchange.close());

    const exchanges: Exchange[] = [];
    const scenarioOf = new Map<string, string>();
    let scenario = '';
    const proxy = async (rules?: string[]): Promise<string> => {
      const app = await startApp(
        { listen: LOOPBACK, keepHost: false, forwarded: false, upstreamTimeoutMs: 30_000, graceMs: 1000, logLevel: 'warn', ...(rules && { rules, seed: 42 }) },
        quiet,
      );
      closers.unshift(() => app.close(1000));
      app.proxy.events.on('started', (x) => scenarioOf.set(x.id, scenario));
      app.proxy.events.on('finished', (x) => exchanges.push(x));
      return app.url;
    };

    // Part 1: the traffic as it is, observed and judged.
    const via = await proxy();
    scenario = 'Office 2007 → SharePoint 2010';
    await runFpseClient({ server: sharePoint.url, via, version: '12.0.0.6415', logger: quiet });
    scenario = 'FrontPage 98 → SharePoint 2010';
    await runFpseClient({ server: sharePoint.url, via, version: '3.0.2.1000', logger: quiet });
    scenario = 'Office 2007 → WSS 2.0 (fixed echo)';
    await runFpseClient({ server: wss2.url, via, version: '12.0.0.6415', logger: quiet });
    scenario = 'Outlook 2016 → Exchange 2019';
    await runMapiClient({ server: exchange.url, via, client: 'Outlook/16.0.15928.20006', notificationWait: true, logger: quiet });

    // Part 2: the same servers behind a proxy running shipped scenarios from rules/.
    const ruled = await proxy(DEMO_SCENARIOS.map((name) => join(scenarioDir(), `${name}.yaml`)));
    scenario = 'rules: SharePoint 2010 as FrontPage 2002';
    await runFpseClient({ server: sharePoint.url, via: ruled, version: '12.0.0.6415', logger: quiet });
    scenario = 'rules: 4.0.2.2610 below the floor';
    await runFpseClient({ server: sharePoint.url, via: ruled, version: '4.0.2.2610', logger: quiet });
    scenario = 'rules: Exchange 2013 RTM, endpoint off';
    await runMapiClient({ server: exchange.url, via: ruled, client: 'Outlook/16.0.15928.20006', logger: quiet }).catch(() => undefined);

    // Records arrive on 'finished'; the last may trail the client's own completion by a tick.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const rows = exchanges
      .filter((x) => x.protocol !== undefined)
      .map((x): DemoRow => {
        const p = x.protocol!;
        return {
          scenario: scenarioOf.get(x.id) ?? '',
          protocol: p.protocol,
          operation: p.operation,
          client: p.versions.client ?? '–',
          server: p.versions.server ?? '–',
          negotiated: negotiatedCell(p.versions),
          verdicts: p.verdicts.map((v) => v.code).join(', ') || '–',
          rules: x.rules?.filter((r) => r.outcome === 'applied').map((r) => r.id).join(', ') || '–',
        };
      });
    return { rows, exchanges, proxyUrl: via };
  } finally {
    for (const close of closers) await close().catch(() => undefined);
  }
}

/**
 * The negotiated version; beside it the server's method-line answer when that differed (an
 * echo-mismatch); on calls that negotiate nothing, that answer alone, as `echo X`.
 */
function negotiatedCell(versions: { negotiated?: string; echo?: string }): string {
  if (versions.negotiated !== undefined) return versions.echo !== undefined ? `${versions.negotiated} (echo ${versions.echo})` : versions.negotiated;
  return versions.echo !== undefined ? `echo ${versions.echo}` : '–';
}
