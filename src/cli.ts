#!/usr/bin/env node
/**
 * The command line: the only place that reads argv, prints to the console or exits.
 * Flag names follow DESIGN.md "Command line" (a contract with scripts and users).
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { startApp } from './app.js';
import { DEFAULTS, parseListen, parseTarget, type ProxyConfig } from './config.js';
import { ProgramError } from './errors.js';
import { createLogger, LOG_LEVELS } from './log.js';

const EXAMPLES = `Examples:
  ./proxy start                                   forward proxy on 127.0.0.1:8080
                                                  (curl -x http://127.0.0.1:8080 http://example.test/)
  ./proxy start --target http://127.0.0.1:8081    stand in for one server (point clients at the proxy)
  ./proxy start --listen 127.0.0.1:0              pick a free port (the log says which)`;

function startOptions(y: Argv) {
  return y
    .usage('./proxy start [options]\n\nRun the proxy. Forward mode (clients use it as their HTTP proxy) unless --target is given.')
    .option('listen', { type: 'string', default: DEFAULTS.listen, describe: 'HOST:PORT to listen on; an address beyond loopback is logged as such', requiresArg: true })
    .option('target', { type: 'string', describe: 'reverse mode: stand in for this origin, e.g. http://127.0.0.1:8081', requiresArg: true })
    .option('keep-host', { type: 'boolean', default: false, describe: "reverse mode: send the client's Host header instead of the target's" })
    .option('upstream-timeout', { type: 'number', default: DEFAULTS.upstreamTimeoutSeconds, describe: 'seconds an upstream may stay silent before the proxy gives up (504)', requiresArg: true })
    .option('forwarded', { type: 'boolean', default: false, describe: 'add X-Forwarded-For, -Proto and -Host to forwarded requests' })
    .option('grace', { type: 'number', default: DEFAULTS.graceSeconds, describe: 'seconds SIGINT/SIGTERM waits for exchanges in flight', requiresArg: true })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: DEFAULTS.logLevel, describe: 'pino log level; JSON on a pipe, readable on a terminal' })
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
    logLevel: args['log-level'],
  };
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
}

function fail(message: string): never {
  console.error(`proxy: ${message}`);
  process.exit(2);
}

function report(err: unknown): never {
  if (err instanceof ProgramError) fail(`${err.message}${err.hint ? `; ${err.hint}` : ''}`);
  console.error(err);
  process.exit(1);
}

await yargs(hideBin(process.argv))
  .scriptName('./proxy')
  .usage('./proxy <command> [options]\n\nversion-proxy: an intercepting HTTP proxy that understands MAPI/HTTP and FrontPage RPC version negotiation.')
  .command('start', 'run the proxy (forward mode, or reverse with --target)', startOptions, (args) => start(args).catch(report))
  .demandCommand(1, 'name a command, e.g. ./proxy start')
  .strict()
  .recommendCommands()
  .help()
  .alias('help', 'h')
  .version(false)
  .wrap(Math.min(110, process.stdout.columns ?? 100))
  .fail((msg, err) => {
    if (err) report(err);
    const unknown = /^Unknown arguments?: (.*)$/.exec(msg ?? '');
    if (unknown) fail(`unknown option ${unknown[1]!.split(', ').map((a) => (a.length > 1 ? `--${a}` : `-${a}`)).join(', ')}; run ./proxy start --help for the options`);
    fail(`${msg ?? 'invalid arguments'}; run ./proxy --help for usage`);
  })
  .parseAsync();
