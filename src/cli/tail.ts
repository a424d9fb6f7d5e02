/**
 * `./proxy tail`: the live feed of a running proxy in the terminal (docs/control-api.md
 * "Live feed"), one line per finished exchange in the log's own format (log-pretty.ts), verdicts
 * coloured on a terminal unless NO_COLOR is set; `--json` prints the feed's messages as they
 * come. When the proxy goes away, tail waits for it and resumes (`since`), re-reading the token
 * file (a new run writes a new token). Ctrl-C ends it with exit 0. Part of the CLI layer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFilterIssue, parseFilter } from '../core/filter.js';
import { connectFeed, FeedRefused, type FeedClient, type FeedMessage } from '../control/feed.js';
import type { ExchangeSummary } from '../control/exchange-summary.js';
import { ProgramError } from '../errors.js';
import { COLOURS, formatLine, NO_COLOURS, type Palette } from '../log-pretty.js';

export interface TailArgs {
  control: string;
  'token-file'?: string;
  'ca-dir': string;
  filter?: string;
  json?: boolean;
}

/** Between attempts to reach a proxy that has gone (stopped, restarting). */
const RETRY_MS = 1000;

export async function tail(args: TailArgs): Promise<void> {
  const control = controlUrl(args.control);
  const tokenFile = args['token-file'] ?? join(args['ca-dir'], 'control-token');
  if (args.filter !== undefined) {
    const parsed = parseFilter(args.filter);
    if (!parsed.ok) throw new ProgramError('ERR_BAD_OPTION', `--filter ${JSON.stringify(args.filter)}: ${formatFilterIssue(parsed.issues[0]!)}`);
  }
  const palette: Palette = process.stdout.isTTY && !process.env.NO_COLOR ? COLOURS : NO_COLOURS;
  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  let lastSeq: number | undefined;
  const onMessage = (m: FeedMessage): void => {
    lastSeq = m.seq;
    if (args.json === true) return print(JSON.stringify(m));
    if (m.type === 'missed') return print(palette.verdict('notice', `missed ${m.missed} events`));
    if (m.type === 'finished') print(exchangeLine(m.time, m.exchange, palette));
  };

  let client: FeedClient | undefined;
  let stopping = false;
  process.once('SIGINT', () => {
    stopping = true;
    client?.close();
    process.exit(0);
  });
  // The first connection must work: its failure is the user's to fix, said in one line.
  client = await open(control, tokenFile, args.filter, undefined, onMessage);
  for (;;) {
    const { code, reason } = await client.closed;
    if (stopping) return;
    process.stderr.write(`proxy: the feed closed (${code}${reason ? `: ${reason}` : ''}); waiting for the proxy at ${control} to come back (Ctrl-C ends)\n`);
    const run = client.run;
    client = await reconnect(control, tokenFile, args.filter, { since: lastSeq, run }, onMessage);
    // A new run counts again from 1: the server took `since` as its start (feed.ts).
    if (client.run !== run) process.stderr.write('proxy: the proxy restarted; following its new run\n');
  }
}

interface Resume {
  since: number | undefined;
  run: string | undefined;
}

async function reconnect(control: string, tokenFile: string, filter: string | undefined, resume: Resume, onMessage: (m: FeedMessage) => void): Promise<FeedClient> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    try {
      return await open(control, tokenFile, filter, resume, onMessage);
    } catch {
      // Not listening yet, the old token still in the file: tried again.
    }
  }
}

async function open(control: string, tokenFile: string, filter: string | undefined, resume: Resume | undefined, onMessage: (m: FeedMessage) => void): Promise<FeedClient> {
  const token = readToken(tokenFile);
  try {
    return await connectFeed({
      control,
      token,
      ...(filter !== undefined && { filter }),
      ...(resume?.since !== undefined && { since: resume.since }),
      ...(resume?.run !== undefined && { run: resume.run }),
      onMessage,
    });
  } catch (err) {
    throw explain(err, control, tokenFile);
  }
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new ProgramError('ERR_BAD_OPTION', `cannot read the control token file ${file} (${code})`, 'is the proxy running? ./proxy start writes it; name the one its --control-token-file wrote with --token-file');
  }
}

/** A failure to subscribe as one line with its fix (cli/errors.ts prints ProgramErrors as they are). */
function explain(err: unknown, control: string, tokenFile: string): unknown {
  if (err instanceof FeedRefused) {
    if (err.status === 401) return new ProgramError('ERR_BAD_OPTION', `the control server at ${control} refused the token in ${tokenFile} (401): the file is from another run or another proxy`, "name that proxy's --control-token-file with --token-file, or its address with --control");
    if (err.code === 'BAD_FILTER') return new ProgramError('ERR_BAD_OPTION', `--filter: ${err.issues[0] ?? err.message}`);
    if (err.code === undefined) return notControl(control, err.message);
    return new ProgramError('ERR_BAD_OPTION', `the control server at ${control} refused the feed (${err.status}${err.code !== undefined ? ` ${err.code}` : ''}): ${err.message}`);
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') {
    return new ProgramError('ERR_BAD_OPTION', `nothing answers at ${control} (connection refused)`, 'is the proxy running with its control server? ./proxy start opens it on 127.0.0.1:8089 unless --no-control; name another with --control URL');
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ProgramError('ERR_BAD_OPTION', `cannot resolve the host of --control ${control}`, 'check its spelling, or use an IP address');
  if (err instanceof Error && /Opening handshake has timed out|Unexpected server response|Invalid Sec-WebSocket/.test(err.message)) return notControl(control, err.message);
  return err;
}

function notControl(control: string, said: string): ProgramError {
  return new ProgramError('ERR_BAD_OPTION', `${control} does not answer as a version-proxy control server (${said})`, "check --control: it is the control URL on the proxy's listening line, not the proxy's own port");
}

function controlUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ProgramError('ERR_BAD_OPTION', `--control ${JSON.stringify(text)} is not a URL`, 'e.g. --control http://127.0.0.1:8089, as the listening line names it');
  }
  if (url.protocol !== 'http:') throw new ProgramError('ERR_BAD_OPTION', `--control ${JSON.stringify(text)} is not an http:// URL`, 'e.g. --control http://127.0.0.1:8089, as the listening line names it');
  return url.origin;
}

/** A finished exchange as the proxy's own terminal log prints it (log-pretty.ts), from its summary. */
export function exchangeLine(time: number, x: ExchangeSummary, palette: Palette): string {
  return formatLine(logRecord(time, x), palette);
}

/** The summary as the log's `exchange` record (app.ts logExchange). */
function logRecord(time: number, x: ExchangeSummary): Record<string, unknown> {
  return {
    msg: 'exchange',
    time,
    method: x.method,
    url: x.url,
    status: x.status,
    ms: x.duration === undefined ? undefined : Math.round(x.duration * 10) / 10,
    up: x.bytes.request,
    down: x.bytes.response,
    err: x.error,
    proto: protocolLine(x),
    verdict: worstLevel(x.verdicts),
    rules: x.rules,
  };
}

/** `fpse "server version" client=… server=… negotiated=… accepted`: the log's proto text, from the summary's fields. */
function protocolLine(x: ExchangeSummary): string | undefined {
  if (x.protocol === undefined) return undefined;
  const operation = x.operation ?? '?';
  let line = `${x.protocol} ${x.protocol === 'fpse' && operation.includes(' ') ? `"${operation}"` : operation}`;
  for (const key of ['client', 'server', 'negotiated', 'echo'] as const) {
    const value = x.versions?.[key];
    if (value !== undefined) line += ` ${key}=${value}`;
  }
  for (const v of x.verdicts) line += ` ${v.code}`;
  return line;
}

function worstLevel(verdicts: ExchangeSummary['verdicts']): string | undefined {
  if (verdicts.some((v) => v.level === 'violation')) return 'violation';
  if (verdicts.some((v) => v.level === 'notice')) return 'notice';
  return verdicts.length > 0 ? 'ok' : undefined;
}
