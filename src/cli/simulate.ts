/**
 * `./proxy simulate …`: the protocol simulators and clients, as cli.ts declares the command. Part of
 * the CLI layer: it checks the options, prints and exits; the simulators are in src/simulators/.
 * The clients print each call as its answer comes in, as lines a person reads (`--json` for the
 * whole report as JSON at the end).
 */
import type { Argv } from 'yargs';
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

export function simulateCommands(y: Argv, report: (err: unknown) => never) {
  const listen = { type: 'string', default: '127.0.0.1:0', describe: 'HOST:PORT to listen on (port 0 picks a free one; the log says which)', requiresArg: true } as const;
  const clientOptions = (c: Argv) =>
    c
      .option('server', { type: 'string', demandOption: true, describe: 'origin URL of the server, e.g. http://127.0.0.1:8081', requiresArg: true })
      .option('via', { type: 'string', describe: 'forward proxy URL, e.g. http://127.0.0.1:8080 (absent: direct)', requiresArg: true })
      .option('json', { type: 'boolean', default: false, describe: 'print the whole report as JSON at the end instead of a line per call' });
  return y
    .command(
      'fpse',
      'an FPSE/SharePoint server: _vti_inf.html, server version, open service, url to web url, error packets',
      (c) =>
        c
          .option('version', { type: 'string', default: '14.0.0.6029', describe: "the server's build", requiresArg: true })
          .option('min-client', { type: 'string', default: '4.0.2.2611', describe: 'oldest client accepted (older ones get status 262156)', requiresArg: true })
          .option('echo', { type: 'string', default: 'min', describe: "method-line version: 'min' = Min(client, server), or 'fixed:6.0.0.0'", requiresArg: true })
          .option('listen', listen),
      (args) =>
        (async () => {
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
        })().catch(report),
    )
    .command(
      'mapi',
      'an Exchange MAPI/HTTP server: Connect, Execute, NotificationWait, Disconnect, PING; Bind, Unbind, GetMailboxUrl',
      (c) =>
        c
          .option('server', { type: 'string', default: 'Exchange/15.02.1544.014', describe: 'X-ServerApplication', requiresArg: true })
          .option('pending-period', { type: 'number', default: 15000, describe: 'ms between PENDING keep-alives in long polls', requiresArg: true })
          .option('listen', listen),
      (args) =>
        (async () => {
          const listen = parseListen(args.listen);
          const pendingPeriodMs = args['pending-period'];
          if (!Number.isFinite(pendingPeriodMs) || pendingPeriodMs < 1) throw new ProgramError('ERR_BAD_OPTION', `--pending-period must be a number of milliseconds ≥ 1 (got ${String(pendingPeriodMs)})`, 'e.g. --pending-period 15000');
          const server = productOption('server', args.server, 'Exchange/15.02.1544.014');
          const logger = createLogger({ level: 'info', pretty: process.stderr.isTTY });
          const { startMapiServer } = await import('../simulators/mapi-server.js');
          const running = await startMapiServer({ server, pendingPeriodMs, logger }, listen);
          logger.info({ url: running.url, server }, 'mapi simulator listening');
          runUntilSignal(() => running.close());
        })().catch(report),
    )
    .command(
      'fpse-client',
      'an Office client: discovery, server version, then calls on the negotiated version; prints what it saw',
      (c) => clientOptions(c).option('version', { type: 'string', default: '12.0.0.6415', describe: "the client's version", requiresArg: true }),
      (args) =>
        (async () => {
          const options = { server: urlOption('server', args.server), via: args.via === undefined ? undefined : urlOption('via', args.via), version: versionOption('version', args.version) };
          const logger = createLogger({ level: 'warn', pretty: process.stderr.isTTY });
          const { runFpseClient } = await import('../simulators/fpse-client.js');
          const json = args.json === true;
          const seen = await runFpseClient({ ...options, logger, ...(!json && { onStep: (step: FpseClientStep) => console.log(fpseStepLine(step)) }) });
          if (json) console.log(JSON.stringify(seen, null, 2));
          else console.log(seen.rejected ? 'the server refused this client' : seen.abandoned !== undefined ? `abandoned: ${seen.abandoned}` : `negotiated ${seen.negotiated ?? '?'} with server ${seen.serverVersion ?? '(build not listed)'}, all calls on one connection`);
        })().catch(report),
    )
    .command(
      'mapi-client',
      'an Outlook client: Connect, Execute, NotificationWait, PING, Disconnect; Bind, GetMailboxUrl, Unbind; prints what it saw',
      (c) => clientOptions(c).option('client', { type: 'string', default: 'Outlook/16.0.15928.20006', describe: 'X-ClientApplication', requiresArg: true }),
      (args) =>
        (async () => {
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
        })().catch(report),
    )
    .demandCommand(1, 'name what to simulate: fpse, mapi, fpse-client or mapi-client');
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
