/**
 * `./proxy demo`'s output: one block per scenario, one line per exchange, within 100 columns.
 * Part of the CLI layer: it prints and exits; the demo itself is src/demo.ts.
 */
import type { Logger } from 'pino';
import type { DemoRow } from '../demo.js';

/** The width the output keeps to: a terminal's default and a bug report's code block. */
export const DEMO_COLUMNS = 100;

export async function demo(args: { verbose: boolean }, createLogger: (level: 'info' | 'warn') => Logger): Promise<void> {
  const logger = createLogger(args.verbose ? 'info' : 'warn');
  console.error('version-proxy demo: FPSE and MAPI/HTTP simulators behind the proxy, simulated clients talking through it…');
  // Simulators load only for the commands that use them, not for `start`.
  const { runDemo, DEMO_SCENARIOS } = await import('../demo.js');
  const result = await runDemo(logger, { verbose: args.verbose });
  console.log(formatDemo(result.rows).join('\n'));
  const errors = result.exchanges.filter((x) => x.error !== undefined);
  console.log(
    wrap(
      `${result.exchanges.length} exchanges, ${result.rows.length} decoded, ${errors.length} failed. The blocks marked "rules:" went through a second proxy running shipped scenarios (${DEMO_SCENARIOS.join(', ')}); see ./proxy rules list.`,
      DEMO_COLUMNS,
    ),
  );
  logger.flush();
  process.exit(result.rows.length > 0 && errors.length === 0 ? 0 : 1);
}

/**
 * Each scenario: a heading (its name, protocol, and the rules applied when every exchange met the
 * same ones), then a table of its exchanges. MAPI/HTTP has no negotiated version (each side states
 * its build), so its table has no such column; FPSE's shows the negotiated version, or the
 * server's method-line answer as `echo X` on calls that negotiate nothing. Verdicts that do not
 * fit the width go on the next line.
 */
export function formatDemo(rows: readonly DemoRow[]): string[] {
  const out: string[] = [];
  for (const [scenario, group] of groupBy(rows, (r) => r.scenario)) {
    const protocol = group[0]!.protocol;
    const rules = new Set(group.map((r) => r.rules));
    const shared = rules.size === 1 ? [...rules][0]! : undefined;
    out.push('', `${scenario} (${protocol})`);
    if (shared !== undefined && shared !== '–') out.push(...wrap(`rules applied: ${shared}`, DEMO_COLUMNS - 2).split('\n').map((l) => `  ${l}`));
    const fpse = protocol === 'fpse';
    const head = fpse ? ['operation', 'client', 'server', 'negotiated', 'verdicts'] : ['operation', 'client', 'server', 'verdicts'];
    const cells = group.map((r) => (fpse ? [r.operation, r.client, r.server, r.negotiated, r.verdicts] : [r.operation, r.client, r.server, r.verdicts]));
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const last = head.length - 1;
    const line = (c: string[]): string => `  ${c.slice(0, last).map((v, i) => v.padEnd(widths[i]!)).join('  ')}  ${c[last]!}`;
    out.push(line(head));
    group.forEach((r, i) => {
      const text = line(cells[i]!);
      if (text.length <= DEMO_COLUMNS) out.push(text);
      else out.push(line([...cells[i]!.slice(0, last), '']).trimEnd(), ...wrap(cells[i]![last]!, DEMO_COLUMNS - 6).split('\n').map((v) => `      ${v}`));
      if (shared === undefined && r.rules !== '–') out.push(`      rules applied: ${r.rules}`);
    });
  }
  return out;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Words onto lines of at most `width` characters. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(' ')) {
    if (current.length > 0 && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current.length > 0 ? `${current} ${word}` : word;
  }
  if (current.length > 0) lines.push(current);
  return lines.join('\n');
}
