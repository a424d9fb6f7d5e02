#!/usr/bin/env node
/**
 * The command line: the only place that reads argv, prints to the console or exits.
 * Flag names follow docs/running.md (a contract with scripts and users).
 */
import { join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { startApp } from './app.js';
import { DEFAULTS, defaultMaxConnections, parseAllow, parseControl, parseListen, parseMaxConnections, parseSeed, parseSize, parseTarget, type ProxyConfig } from './config.js';
import { describeFailure, describeUsageError } from './cli/errors.js';
import { ProgramError } from './errors.js';
import { createLogger, LOG_LEVELS } from './log.js';
import { demo } from './cli/demo.js';
import { checkRules, listRules } from './cli/rules.js';
import { simulateFpseClient, simulateFpseServer, simulateMapiClient, simulateMapiServer } from './cli/simulate.js';
import { har as recordHar, replay as recordReplay, report as recordReport, serve as recordServe } from './cli/record.js';

const EXAMPLES = `Examples:
  ./proxy start                                   forward proxy on 127.0.0.1:8080
                                                  (curl -x http://127.0.0.1:8080 http://example.test/)
  ./proxy start --target http://127.0.0.1:8081    stand in for one server (point clients at the proxy)
  ./proxy start --listen 127.0.0.1:0              pick a free port (the log says which)
  ./proxy start --rules rules/mapi-context-lost.yaml --seed 42
                                                  apply a shipped scenario, with replayable chance
  ./proxy rules list                              the shipped scenarios
  TOKEN=$(cat ~/.version-proxy/control-token)     this run's control API token
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8089/api/status
  curl -H "Authorization: Bearer $TOKEN" --json @rule.json http://127.0.0.1:8089/api/rules
                                                  add a rule at run time (docs/control-api.md)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8089/metrics
                                                  Prometheus metrics (docs/control-api.md "Metrics")
  ./proxy tail --filter "protocol:fpse -status:2xx"
                                                  follow the running proxy's exchanges in another terminal`;

function startOptions(y: Argv) {
  return y
    .usage('./proxy start [options]\n\nRun the proxy. Forward mode (clients use it as their HTTP proxy) unless --target is given.')
    .option('listen', { type: 'string', default: DEFAULTS.listen, describe: 'HOST:PORT to listen on; beyond loopback, clients are limited by --allow and a warning is logged', requiresArg: true })
    .option('allow', { type: 'string', array: true, describe: 'client addresses or networks (CIDR) that may connect; default loopback and private networks (10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7, fe80::/10); others get 403', requiresArg: true })
    .option('target', { type: 'string', describe: 'reverse mode: stand in for this origin, e.g. http://127.0.0.1:8081', requiresArg: true })
    .option('keep-host', { type: 'boolean', default: false, describe: "reverse mode: send the client's Host header instead of the target's" })
    .option('upstream-timeout', { type: 'number', default: DEFAULTS.upstreamTimeoutSeconds, describe: 'seconds an upstream may stay silent before the proxy gives up (504)', requiresArg: true })
    .option('forwarded', { type: 'boolean', default: false, describe: 'add X-Forwarded-For, -Proto and -Host to forwarded requests' })
    .option('head-timeout', { type: 'number', default: DEFAULTS.headTimeoutSeconds, describe: 'seconds a client may take to send a request head, then 408 (long polls and slow bodies are not cut; 0: no limit)', requiresArg: true })
    .option('idle-timeout', { type: 'number', default: DEFAULTS.idleTimeoutSeconds, describe: 'seconds a client connection may stay silent between requests before it is closed (0: until the upstream timeout + 30 s)', requiresArg: true })
    .option('max-connections', { type: 'number', default: defaultMaxConnections(), describe: 'client connections open at once; more are closed as they arrive, one warning per burst (default: half of ulimit -n)', requiresArg: true })
    .option('grace', { type: 'number', default: DEFAULTS.graceSeconds, describe: 'seconds SIGINT/SIGTERM waits for exchanges in flight', requiresArg: true })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: DEFAULTS.logLevel, describe: 'pino log level; JSON on a pipe, readable on a terminal' })
    .option('rules', { type: 'string', array: true, describe: 'rule files or folders (YAML or JSON); reloaded within 1 s of a save, and on SIGHUP', requiresArg: true })
    .option('rules-files-anywhere', { type: 'boolean', default: false, describe: "let respond: { file: } read files outside the rule file's folder (only for rule files you wrote)" })
    .option('seed', { type: 'string', describe: 'seed for chance and jitter, to replay the same decisions (a random one is logged when absent)', requiresArg: true })
    .option('ca-dir', { type: 'string', default: DEFAULTS.caDir, describe: 'where the interception CA lives (created on first need; ./proxy ca prints it)', requiresArg: true })
    .option('intercept', { type: 'string', array: true, default: ['*'], describe: 'host globs whose HTTPS (CONNECT) is decrypted and observed', requiresArg: true })
    .option('no-intercept', { type: 'string', array: true, default: [] as string[], describe: 'host globs tunnelled untouched (pinned clients; Exchange with Extended Protection)', requiresArg: true })
    .option('upstream-ca', { type: 'string', array: true, describe: 'extra trusted CA (PEM) for upstream TLS, besides the system store', requiresArg: true })
    .option('insecure-upstream', { type: 'string', array: true, describe: 'do not verify upstream certificates of these host globs (all hosts when given alone); lab servers only' })
    .option('tls', { type: 'boolean', default: false, describe: 'reverse mode: listen with TLS, the certificate issued by the CA in --ca-dir' })
    .option('record', { type: 'string', default: DEFAULTS.recordDir, describe: 'journal file (.ndjson), or a folder that gets <start time>.ndjson; redacted unless --no-redact', requiresArg: true })
    .option('no-record', { type: 'boolean', default: false, describe: 'keep no journal' })
    .option('capture-bytes', { type: 'string', describe: 'body bytes kept per direction of each exchange, in the journal and for the control API (default 1MiB; with --no-record, 0 unless given); e.g. 0, 64KiB, 10MiB; cut bodies are marked truncated with their real size', requiresArg: true })
    .option('record-rotate', { type: 'string', default: '256MiB', describe: 'start the next journal part (<name>.part2.ndjson, …) past this size', requiresArg: true })
    .option('record-max', { type: 'string', default: DEFAULTS.recordMax, describe: 'the recording folder (or the named journal\'s parts) stays under this size: oldest files deleted first, said on the log; 0 for no bound', requiresArg: true })
    .option('record-min-free', { type: 'string', default: DEFAULTS.recordMinFree, describe: 'below this much free disk, bodies stop being recorded, and below half of it exchanges; each time a journal line says so and counts what was left out; 0 to turn off', requiresArg: true })
    .option('redact-header', { type: 'string', array: true, default: [] as string[], describe: 'more headers whose values are redacted (Authorization, Cookie, Set-Cookie, NTLM/Negotiate blobs, X-Api-Key and other API-key headers always are; README lists them)', requiresArg: true })
    .option('redact-param', { type: 'string', array: true, default: [] as string[], describe: 'more query parameters whose values are redacted (access_token, code, sig, password, X-Amz-Signature and other credential parameters always are; README lists them)', requiresArg: true })
    .option('no-redact', { type: 'boolean', default: false, describe: 'record and log secrets as sent (logged as a warning); never for recordings you share' })
    .option('control', { type: 'string', default: DEFAULTS.control, describe: 'HOST:PORT of the control API and web UI (README "Control API"; open the listening line\'s ui URL, token in its fragment); every API request needs the bearer token; beyond loopback a warning is logged', requiresArg: true })
    .option('no-control', { type: 'boolean', default: false, describe: 'run without the control API' })
    .option('control-token-file', { type: 'string', describe: "where this run's control API bearer token is written, mode 0600 (default <ca-dir>/control-token)", requiresArg: true })
    .option('control-ring', { type: 'number', default: DEFAULTS.controlRing, describe: 'finished exchanges the control API keeps in memory for GET /api/exchanges and the UI\'s detail view (each costs the garbage collector a little under heavy load)', requiresArg: true })
    .option('control-feed-ring', { type: 'number', default: 10_000, describe: 'events the live feed (GET /api/events, ./proxy tail) keeps for a subscriber that resumes with since=SEQ', requiresArg: true })
    .parserConfiguration({ 'boolean-negation': false })
    .epilogue(EXAMPLES);
}

type StartArgs = Awaited<ReturnType<typeof startOptions>['argv']>;

function toConfig(args: StartArgs): ProxyConfig {
  const seconds = (name: string, value: number, min: number): number => {
    if (!Number.isFinite(value) || value < min) {
      throw new ProgramError('ERR_BAD_OPTION', `--${name} must be a number of seconds ≥ ${min} (got ${String(value)})`, `e.g. --${name} 30`);
    }
    return value;
  };
  return {
    listen: parseListen(args.listen),
    target: args.target === undefined ? undefined : parseTarget(args.target),
    keepHost: args['keep-host'],
    forwarded: args.forwarded,
    upstreamTimeoutMs: seconds('upstream-timeout', args['upstream-timeout'], 0.001) * 1000,
    graceMs: seconds('grace', args.grace, 0) * 1000,
    headTimeoutMs: seconds('head-timeout', args['head-timeout'], 0) * 1000,
    idleTimeoutMs: seconds('idle-timeout', args['idle-timeout'], 0) * 1000,
    maxConnections: parseMaxConnections(args['max-connections']),
    logLevel: args['log-level'],
    ...(args.rules !== undefined && { rules: args.rules }),
    ...(args['rules-files-anywhere'] && { rulesFilesAnywhere: true }),
    ...(args.seed !== undefined && { seed: parseSeed(args.seed) }),
    interception: { caDir: args['ca-dir'], intercept: args.intercept, noIntercept: args['no-intercept'] },
    ...(args.tls && { tls: true }),
    ...(args['upstream-ca'] !== undefined && { upstreamCa: args['upstream-ca'] }),
    ...(args['insecure-upstream'] !== undefined && { insecureUpstream: args['insecure-upstream'] }),
    ...(!args['no-record'] && {
      record: {
        path: args.record,
        captureBytes: parseSize('capture-bytes', args['capture-bytes'] ?? '1MiB'),
        rotateBytes: parseSize('record-rotate', args['record-rotate'], 1024),
        maxBytes: parseSize('record-max', args['record-max']),
        minFreeBytes: parseSize('record-min-free', args['record-min-free']),
      },
    }),
    redaction: { enabled: !args['no-redact'], extraHeaders: args['redact-header'], extraParams: args['redact-param'] },
    ...(args.allow !== undefined && { allow: parseAllow(args.allow) }),
    ...(!args['no-control'] && {
      control: { listen: parseControl(args.control), tokenFile: args['control-token-file'] ?? join(args['ca-dir'], 'control-token'), ring: ringSize(args['control-ring']), feedRing: ringSize(args['control-feed-ring'], 'control-feed-ring'),
        // Bodies for GET /api/exchanges/{id}: as recorded; with --no-record only when asked for, since
        // copying every body costs pass-through speed that --no-record usually wants.
        captureBytes: parseSize('capture-bytes', args['capture-bytes'] ?? (args['no-record'] ? '0' : '1MiB')) },
    }),
  };
}

function ringSize(value: number, name = 'control-ring'): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > 1_000_000) {
    throw new ProgramError('ERR_BAD_OPTION', `--${name} must be a whole number from 1 to 1000000 (got ${String(value)})`, `e.g. --${name} 1000`);
  }
  return value;
}

async function start(args: StartArgs): Promise<void> {
  const config = toConfig(args);
  const logger = createLogger({ level: config.logLevel, pretty: process.stderr.isTTY });
  const app = await startApp(config, logger);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs: config.graceMs }, 'stopping: finishing exchanges in flight');
    void app.close().then(() => {
      logger.info('stopped');
      logger.flush(() => process.exit(0));
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // SIGHUP reloads the rules (the store logs the outcome); without rules it is only noted.
  process.on('SIGHUP', () => {
    if (app.rules === undefined) logger.info('SIGHUP: no --rules to reload');
    else app.rules.reload('SIGHUP').catch((err: unknown) => logger.error({ err }, 'rule reload failed'));
  });
}

function fail(message: string): never {
  console.error(`proxy: ${message}`);
  process.exit(2);
}

function report(err: unknown): never {
  const line = describeFailure(err);
  if (line !== undefined) fail(line);
  // Not something a user can cause: a bug, printed whole so that it can be reported.
  console.error(err);
  process.exit(1);
}

function simulateCommands(y: Argv) {
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
      (args) => simulateFpseServer(args).catch(report),
    )
    .command(
      'mapi',
      'an Exchange MAPI/HTTP server: Connect, Execute, NotificationWait, Disconnect, PING; Bind, Unbind, GetMailboxUrl',
      (c) =>
        c
          .option('server', { type: 'string', default: 'Exchange/15.02.1544.014', describe: 'X-ServerApplication', requiresArg: true })
          .option('pending-period', { type: 'number', default: 15000, describe: 'ms between PENDING keep-alives in long polls', requiresArg: true })
          .option('listen', listen),
      (args) => simulateMapiServer(args).catch(report),
    )
    .command(
      'fpse-client',
      'an Office client: discovery, server version, then calls on the negotiated version; prints each call as it goes',
      (c) => clientOptions(c).option('version', { type: 'string', default: '12.0.0.6415', describe: "the client's version", requiresArg: true }),
      (args) => simulateFpseClient(args).catch(report),
    )
    .command(
      'mapi-client',
      'an Outlook client: Connect, Execute, NotificationWait, PING, Disconnect; Bind, GetMailboxUrl, Unbind; prints each call as it goes',
      (c) => clientOptions(c).option('client', { type: 'string', default: 'Outlook/16.0.15928.20006', describe: 'X-ClientApplication', requiresArg: true }),
      (args) => simulateMapiClient(args).catch(report),
    )
    .demandCommand(1, 'name what to simulate: fpse, mapi, fpse-client or mapi-client');
}

function rulesCommands(y: Argv) {
  return y
    .command(
      'check <paths..>',
      'validate rule files or folders: every issue as file:line:col, exit 1 on any',
      (c) =>
        c
          .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'rule files (.yaml, .yml, .json) or folders of them' })
          .option('rules-files-anywhere', { type: 'boolean', default: false, describe: "accept respond: { file: } outside the rule file's folder, as ./proxy start --rules-files-anywhere does" }),
      (args) => checkRules(args.paths, args['rules-files-anywhere']).catch(report),
    )
    .command(
      'list',
      'the shipped scenarios in rules/: what each simulates and the spec section it exercises',
      (c) => c,
      () => listRules().catch(report),
    )
    .demandCommand(1, 'name a rules command: check or list');
}


async function printCa(args: { 'ca-dir': string; der?: boolean; spki?: boolean }): Promise<void> {
  const logger = createLogger({ level: 'warn', pretty: process.stderr.isTTY });
  const { openCa, formatCaHelp } = await import('./tls/ca.js');
  const ca = await openCa(args['ca-dir'], logger);
  const out = formatCaHelp(ca, args.der === true ? 'der' : args.spki === true ? 'spki' : 'pem');
  if (out.stderr) process.stderr.write(out.stderr);
  process.stdout.write(out.stdout);
  logger.flush();
}

function journalsOption<T>(y: Argv<T>) {
  return y.positional('journals', { type: 'string', array: true, demandOption: true, describe: 'journal files (.ndjson) or folders of them, e.g. recordings/' });
}

/** The filter grammar of core/filter.ts (docs/filter.md); with har's other filters, every one must hold. */
const filterOption = { type: 'string', describe: 'only exchanges this filter holds for, e.g. "protocol:fpse verdict:echo-mismatch -status:2xx" (docs/filter.md)', requiresArg: true } as const;

/** har, report, replay, serve (docs/running.md); their handlers are in cli/record.ts. */
function recordCommands<T>(y: Argv<T>) {
  return y
    .command(
      'har <journals..>',
      'convert journals to one HAR 1.2 file (Chrome DevTools, Fiddler, HAR viewers), in constant memory',
      (c) =>
        journalsOption(c)
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the .har file to write (- for stdout)', requiresArg: true })
          .option('protocol', { type: 'string', array: true, choices: ['mapihttp', 'fpse', 'http'], describe: 'only these protocols (http: exchanges no observer claimed)', requiresArg: true })
          .option('host', { type: 'string', array: true, describe: 'only hosts matching these globs, e.g. *.contoso.lab', requiresArg: true })
          .option('verdict', { type: 'string', array: true, describe: 'only exchanges with one of these verdicts, e.g. rejected-client-too-old', requiresArg: true })
          .option('since', { type: 'string', describe: 'only exchanges started since an ISO time, or a duration back from now (30s, 10m, 2h, 1d)', requiresArg: true })
          .option('filter', filterOption),
      (args) => recordHar(args).catch(report),
    )
    .command(
      'report <journals..>',
      'the negotiation report for a bug report: per host and conversation, builds, negotiated version, verdicts, rules, errors',
      (c) =>
        journalsOption(c)
          .option('html', { type: 'boolean', describe: 'one self-contained HTML file instead of markdown, with a sequence diagram of each conversation' })
          .option('json', { type: 'boolean', describe: 'the report as JSON' })
          .option('output', { alias: 'o', type: 'string', describe: 'write to this file instead of stdout', requiresArg: true })
          .option('filter', filterOption)
          .conflicts('html', 'json'),
      (args) => recordReport(args).catch(report),
    )
    .command(
      'replay <journal>',
      're-send the recorded requests to a server and print where its answers (versions, verdicts, status) differ; exit 1 when they do',
      (c) =>
        c
          .positional('journal', { type: 'string', demandOption: true, describe: 'the journal (.ndjson, or a folder)' })
          .option('target', { type: 'string', demandOption: true, describe: 'the server to send them to, e.g. http://127.0.0.1:8081', requiresArg: true })
          .option('fast', { type: 'boolean', default: false, describe: 'back to back instead of the recorded pacing' })
          .option('upstream-ca', { type: 'string', array: true, describe: 'extra trusted CA (PEM) for an https target, besides the system store', requiresArg: true })
          .option('insecure-upstream', { type: 'string', array: true, describe: 'do not verify the https target\'s certificate for these host globs (all hosts when given alone); lab servers only' })
          .option('log-level', { type: 'string', default: 'warn', hidden: true }),
      (args) => recordReplay(args).catch(report),
    )
    .command(
      'serve <journals..>',
      'answer requests from a recording, so a bug report can be reproduced without the original server',
      (c) => journalsOption(c).option('listen', { type: 'string', default: '127.0.0.1:8081', describe: 'HOST:PORT to listen on (port 0 picks a free one; the log says which)', requiresArg: true }),
      (args) => recordServe(args).catch(report),
    );
}

/**
 * A single-value option given twice keeps its last value, as in curl and most Unix tools
 * (`./proxy start --log-level warn --log-level info` logs at info; a script can append an
 * override). yargs would hand the command an array, which no single-value option expects
 * (pino refused `[warn, info]` as a level with a stack trace).
 */
function lastOneWins(argv: Record<string, unknown>, y: Argv): void {
  // getOptions() is yargs's own record of the command's declared options (not in its typings).
  const options = (y as unknown as { getOptions(): Record<'array' | 'string' | 'number' | 'boolean', string[]> }).getOptions();
  const arrays = new Set(options.array);
  const single = [...options.string, ...options.number, ...options.boolean].filter((key) => !arrays.has(key));
  for (const key of single) {
    for (const name of new Set([key, key.replace(/-([a-z])/g, (_: string, c: string) => c.toUpperCase())])) {
      const value = argv[name];
      if (Array.isArray(value)) argv[name] = value[value.length - 1];
    }
  }
}

// A reader that stops reading (`./proxy har x -o - | head`) is a normal way to end: exit quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  report(err);
});

const commands = yargs(hideBin(process.argv))
  .scriptName('./proxy')
  .middleware(lastOneWins as never, true)
  .usage('./proxy <command> [options]\n\nversion-proxy: an intercepting HTTP proxy that understands MAPI/HTTP and FrontPage RPC version negotiation.')
  .command('demo', 'run both simulators behind the proxy, talk through it, print what was negotiated and judged', (y) => y.option('verbose', { type: 'boolean', default: false, describe: 'log every exchange' }), (args) => demo(args, (level) => createLogger({ level, pretty: process.stderr.isTTY })).catch(report))
  .command('start', 'run the proxy (forward mode, or reverse with --target)', startOptions, (args) => start(args).catch(report))
  .command('simulate', 'protocol simulators and clients: fpse, mapi, fpse-client, mapi-client', simulateCommands)
  .command('rules', 'rule files: check, list', rulesCommands)
  .command(
    'tail',
    "the live feed of a running proxy: one line per finished exchange, verdicts coloured (its control server's GET /api/events)",
    (y) =>
      y
        .option('control', { type: 'string', default: `http://${DEFAULTS.control}`, describe: "the proxy's control server, as its listening line names it", requiresArg: true })
        .option('token-file', { type: 'string', describe: "the proxy's --control-token-file (default <ca-dir>/control-token)", requiresArg: true })
        .option('ca-dir', { type: 'string', default: DEFAULTS.caDir, describe: "the proxy's --ca-dir, where its token file is by default", requiresArg: true })
        .option('filter', filterOption)
        .option('json', { type: 'boolean', default: false, describe: 'print the feed messages as they come ({seq, type, time, exchange} and {type: missed}), one JSON per line' }),
    // Loaded when asked for, as `ca` is: the WebSocket client is no part of the other commands.
    (args) =>
      import('./cli/tail.js')
        .then(({ tail }) => tail(args))
        .catch(report),
  )
  .command(
    'ca',
    'print the interception CA certificate (PEM), with install hints for curl, Node, Chromium and Windows',
    (y) =>
      y
        .option('ca-dir', { type: 'string', default: DEFAULTS.caDir, describe: 'where the CA lives (created when missing)', requiresArg: true })
        .option('der', { type: 'boolean', describe: 'print the certificate as DER bytes' })
        .option('spki', { type: 'boolean', describe: "print the SPKI hash Chromium's --ignore-certificate-errors-spki-list takes" })
        .conflicts('der', 'spki'),
    (args) => printCa(args).catch(report),
  );

await recordCommands(commands)
  .demandCommand(1, 'name a command, e.g. ./proxy start')
  .strict()
  .recommendCommands()
  .help()
  .alias('help', 'h')
  .version(false)
  .wrap(Math.min(110, process.stdout.columns ?? 100))
  .fail((msg, err) => {
    // yargs throws its own usage errors (a flag without its value) as YError: usage, not a bug.
    if (err && err.name !== 'YError') report(err);
    fail(describeUsageError(msg ?? err?.message ?? 'invalid arguments', hideBin(process.argv)));
  })
  .parseAsync();
