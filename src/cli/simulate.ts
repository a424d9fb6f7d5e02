/**
 * `./proxy simulate …`: the handlers of the protocol simulators and clients cli.ts declares. Part of
 * the CLI layer: it checks the options, prints and exits; the simulators are in src/simulators/.
 * The clients print each call as its answer comes in, as lines a person reads (`--json` for the
 * whole report as JSON at the end).
 */
import { parseListen } from '../config.js';
import { parseVersion } from '../core/version.js';
import { ProgramError } from '../errors.js';
import { createLogger } from '../log.js';
import type { FpseClientStep } from '../simulators/fpse-client.js';
import type { MapiClientStep } from '../simulators/mapi-client.js';

/** A version option of the simulators, checked before anything starts (`--version banana`). */
function versionOption(name: string, text: string): string {
  const parsed = parseVersion(text);
  if (!parsed.ok) throw new ProgramError('ERR_BAD_OPTION', `--${name} "${text}" is not a version: ${parsed.problem}`, `give four numbers, e.g. --${name} 12.0.0.6415`);
  return text;
}

/** A product token option of the MAPI/HTTP simulators (`Outlook/16.0.15928.20006`). */
function productOption(name: string, text: string, example: string): string {
  const slash = text.lastIndexOf('/');
  const parsed = parseVersion(text.slice(slash + 1));
  if (!parsed.ok) throw new ProgramError('ERR_BAD_OPTION', `--${name} "${text}" does not end in a version: ${parsed.problem}`, `e.g. --${name} ${example}`);
  return text;
}

/** An http(s) URL option of the simulator clients (`--server`, `--via`). */
function urlOption(name: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProgramError('ERR_BAD_OPTION', `--${name} "${text}" is not a URL`, `e.g. --${name} http://127.0.0.1:8081`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ProgramError('ERR_BAD_OPTION', `--${name} "${text}" is not an http or https URL`, `e.g. --${name} http://127.0.0.1:8081`);
  return text;
}

/** Runs until SIGINT/SIGTERM, then closes. */
function runUntilSignal(close: () => Promise<void>): void {
  const stop = (): void => void close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

export interface FpseServerArgs { version: string; 'min-client': string; echo: string; listen: string }
export interface MapiServerArgs { server: string; 'pending-period': number; listen: string }
export interface ClientArgs { server: string; via?: string; json?: boolean }

export async function simulateFpseServer(args: FpseServerArgs): Promise<void> {
  const echo = args.echo === 'min' ? 'min' : /^fixed:(.+)$/.exec(args.echo)?.[1];
  if (echo === undefined) throw new ProgramError('ERR_BAD_OPTION', `--echo "${args.echo}" is neither min nor fixed:VERSION`, 'e.g. --echo fixed:6.0.0.0');
  if (echo !== 'min') versionOption('echo fixed:', echo);
  const listen = parseListen(args.listen);
  const options = { version: versionOption('version', args.version), minClient: versionOption('min-client', args['min-client']), echo: echo === 'min' ? ('min' as const) : { fixed: echo } };
  const logger = createLogger({ level: 'info', pretty: process.stderr.isTTY });
  const { startFpseServer } = await import('../simulators/fpse-server.js');
  const server = await startFpseServer({ ...options, logger }, listen);
  logger.info({ url: server.url, version: args.version }, 'fpse simulator listening');
  runUntilSignal(() => server.close());
}

export async function simulateMapiServer(args: MapiServerArgs): Promise<void> {
  const listen = parseListen(args.listen);
  const pendingPeriodMs = args['pending-period'];
  if (!Number.isFinite(pendingPeriodMs) || pendingPeriodMs < 1) throw new ProgramError('ERR_BAD_OPTION', `--pending-period must be a number of milliseconds ≥ 1 (got ${String(pendingPeriodMs)})`, 'e.g. --pending-period 15000');
  const server = productOption('server', args.server, 'Exchange/15.02.1544.014');
  const logger = createLogger({ level: 'info', pretty: process.stderr.isTTY });
  const { startMapiServer } = await import('../simulators/mapi-server.js');
  const running = await startMapiServer({ server, pendingPeriodMs, logger }, listen);
  logger.info({ url: running.url, server }, 'mapi simulator listening');
  runUntilSignal(() => running.close());
}

export async function simulateFpseClient(args: ClientArgs & { version: string }): Promise<void> {
  const options = { server: urlOption('server', args.server), via: args.via === undefined ? undefined : urlOption('via', args.via), version: versionOption('version', args.version) };
  const logger = createLogger({ level: 'warn', pretty: process.stderr.isTTY });
  const { runFpseClient } = await import('../simulators/fpse-client.js');
  const json = args.json === true;
  const seen = await runFpseClient({ ...options, logger, ...(!json && { onStep: (step: FpseClientStep) => console.log(fpseStepLine(step)) }) });
  if (json) console.log(JSON.stringify(seen, null, 2));
  else console.log(seen.rejected ? 'the server refused this client' : seen.abandoned !== undefined ? `abandoned: ${seen.abandoned}` : `negotiated ${seen.negotiated ?? '?'} with server ${seen.serverVersion ?? '(build not listed)'}, all calls on one connection`);
}

export async function simulateMapiClient(args: ClientArgs & { client: string }): Promise<void> {
  const options = { server: urlOption('server', args.server), via: args.via === undefined ? undefined : urlOption('via', args.via), client: productOption('client', args.client, 'Outlook/16.0.15928.20006') };
  const logger = createLogger({ level: 'warn', pretty: process.stderr.isTTY });
  const { runMapiClient } = await import('../simulators/mapi-client.js');
  const json = args.json === true;
  const seen = await runMapiClient({
    ...options,
    notificationWait: true,
    logger,
    ...(!json && {
      onSend: (_endpoint: string, type: string) => {
        if (type === 'NotificationWait') console.log('NotificationWait: a long poll; the server answers when there is news or its wait ends (PENDING keeps it alive)…');
      },
      onStep: (step: MapiClientStep) => console.log(mapiStepLine(step)),
    }),
  });
  if (json) console.log(JSON.stringify(seen, null, 2));
  else console.log(`${seen.steps.length} calls, server ${seen.serverApplication ?? '(no X-ServerApplication)'}`);
}

/** `server version:12.0.0.6415  200  method=server version:12.0.0.6415  server 14.0.0.6029` */
export function fpseStepLine(step: FpseClientStep): string {
  let line = `${step.request.padEnd(30)} ${String(step.status)}`;
  if (step.methodLine !== undefined) line += `  method=${step.methodLine}`;
  if (step.serverVersion !== undefined) line += `  server ${step.serverVersion}`;
  if (step.error !== undefined) line += `  error ${step.error}`;
  return line;
}

/** `emsmdb Connect  200  X-ResponseCode 0  PROCESSING,DONE  Exchange/15.02.1544.014  312 bytes` */
export function mapiStepLine(step: MapiClientStep): string {
  let line = `${`${step.endpoint} ${step.requestType}`.padEnd(24)} ${String(step.status)}`;
  if (step.responseCode !== undefined) line += `  X-ResponseCode ${step.responseCode}`;
  if (step.metaTags.length > 0) line += `  ${compactTags(step.metaTags)}`;
  line += `  ${step.serverApplication ?? '(no X-ServerApplication)'}  ${step.bodyLength} bytes`;
  return line;
}

/** PROCESSING,PENDING,PENDING,PENDING,DONE as PROCESSING,PENDING×3,DONE. */
function compactTags(tags: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < tags.length; ) {
    let j = i;
    while (j < tags.length && tags[j] === tags[i]) j += 1;
    out.push(j - i > 1 ? `${tags[i]!}×${j - i}` : tags[i]!);
    i = j;
  }
  return out.join(',');
}
