/**
 * `startProxy()`: the proxy in-process for a Node test suite (mockttp's `getLocal()`), built
 * on startApp as `./proxy start` is, but on 127.0.0.1 port 0, its control server on 127.0.0.1
 * port 0 with the token in a fresh 0700 temporary folder (removed on stop), quiet unless
 * asked, recording nothing unless asked. Its answer carries the remote client's methods
 * (they call its own control server over loopback, so a test behaves the same in-process and
 * against `./proxy start`). docs/control-api.md "Test suites".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp } from './app.js';
import { connectControl, type ControlMethods } from './client/index.js';
import { DEFAULTS, parseSeed, parseSize, parseTarget, type ProxyConfig } from './config.js';
import { ProgramError } from './errors.js';
import { createLogger, LOG_LEVELS, silentLogger, type Logger, type LogLevel } from './log.js';

export interface StartProxyOptions {
  /** Reverse mode: stand in for this origin, e.g. `http://127.0.0.1:8081` (`--target`). Forward proxy when absent. */
  target?: string;
  /** Rule files or folders (`--rules`), hot-reloaded; runtime rules come through the API. */
  rules?: string | string[];
  /** Seed of `chance` and jitter decisions (`--seed`); a random one when absent (`seed` in the answer). */
  seed?: number;
  /** Write the journal to this `.ndjson` file or folder (`--record`); nothing is recorded when absent. */
  record?: string;
  /** Decrypt HTTPS (CONNECT) with the CA in this folder, created when missing (`--ca-dir`); tunnels pass untouched when absent. */
  caDir?: string;
  /** With `caDir`: host globs to decrypt (default every host) and to leave alone (`--intercept`, `--no-intercept`). */
  intercept?: string[];
  noIntercept?: string[];
  /** Extra CA files trusted for upstream TLS (`--upstream-ca`). */
  upstreamCa?: string[];
  /** The proxy's port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /**
   * Finished exchanges the control API keeps (`--control-ring`), default 1000: more than the
   * command line's 100, since a test suite's traffic is light (the cost of holding records shows
   * only under thousands of exchanges a second) and startProxy records no journal to read older
   * ones back from.
   */
  controlRing?: number;
  /** A pino logger of your own; otherwise JSON lines on stderr at `logLevel`. */
  logger?: Logger;
  /** Default `silent`. */
  logLevel?: LogLevel;
}

export interface RunningProxy extends ControlMethods {
  /** `http://127.0.0.1:PORT`: the forward proxy URL (HTTP_PROXY), or the stand-in origin with `target`. */
  url: string;
  port: number;
  /** The seed of this run's chance decisions. */
  seed: number;
  control: { url: string; token: string; tokenFile: string };
  /** The journal file being written, with `record`. */
  journal?: string;
  /**
   * Closes the proxy, its control server and every connection (exchanges in flight get
   * `graceMs`, default 0), and removes the token folder. Safe to call twice.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export async function startProxy(options: StartProxyOptions = {}): Promise<RunningProxy> {
  const logger = options.logger ?? loggerAt(options.logLevel ?? 'silent');
  // Options are checked before anything is created, so a bad one leaves nothing behind.
  const config = toConfig(options);
  const ring = controlRing(options.controlRing);
  // mkdtemp makes the folder 0700: only this user can read the token.
  const tokenDir = mkdtempSync(join(tmpdir(), 'version-proxy-'));
  config.control = { listen: { host: '127.0.0.1', port: 0 }, tokenFile: join(tokenDir, 'control-token'), ring, captureBytes: DEFAULTS.captureBytes };
  let app;
  try {
    app = await startApp(config, logger);
  } catch (err) {
    rmSync(tokenDir, { recursive: true, force: true });
    throw err;
  }
  const control = app.control!;
  const client = connectControl({ url: control.url, token: control.token });
  const { url: _controlUrl, close: closeClient, ...methods } = client;
  let stopping: Promise<void> | undefined;
  const running = app;
  return {
    ...methods,
    url: app.url,
    port: app.address.port,
    seed: app.seed,
    control: { url: control.url, token: control.token, tokenFile: control.tokenFile },
    ...(app.journal !== undefined && { journal: app.journal.file }),
    stop: ({ graceMs = 0 } = {}) =>
      (stopping ??= (async () => {
        closeClient();
        try {
          await running.close(graceMs);
        } finally {
          rmSync(tokenDir, { recursive: true, force: true });
        }
      })()),
  };
}

/** The config `./proxy start` would build for these flags, the control server still to be added. */
function toConfig(options: StartProxyOptions): ProxyConfig {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ProgramError('ERR_BAD_LISTEN', `startProxy port ${String(port)} is outside 0–65535`, 'pass a port number, or leave it out for a free one');
  const rules = typeof options.rules === 'string' ? [options.rules] : options.rules;
  return {
    listen: { host: '127.0.0.1', port },
    ...(options.target !== undefined && { target: parseTarget(options.target) }),
    keepHost: false,
    forwarded: false,
    upstreamTimeoutMs: DEFAULTS.upstreamTimeoutSeconds * 1000,
    graceMs: 0,
    logLevel: options.logLevel ?? 'silent',
    ...(rules !== undefined && rules.length > 0 && { rules }),
    ...(options.seed !== undefined && { seed: parseSeed(options.seed) }),
    ...(options.caDir !== undefined && { interception: { caDir: options.caDir, intercept: options.intercept ?? ['*'], noIntercept: options.noIntercept ?? [] } }),
    ...(options.upstreamCa !== undefined && { upstreamCa: options.upstreamCa }),
    ...(options.record !== undefined && {
      record: {
        path: options.record,
        captureBytes: DEFAULTS.captureBytes,
        rotateBytes: DEFAULTS.rotateBytes,
        maxBytes: parseSize('record-max', DEFAULTS.recordMax),
        minFreeBytes: parseSize('record-min-free', DEFAULTS.recordMinFree),
      },
    }),
  };
}

/** startProxy's own default (see StartProxyOptions.controlRing). */
const IN_PROCESS_RING = 1000;

function controlRing(value = IN_PROCESS_RING): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > 1_000_000) throw new ProgramError('ERR_BAD_OPTION', `startProxy controlRing ${String(value)} is not a whole number from 1 to 1000000`, 'e.g. controlRing: 1000');
  return value;
}

function loggerAt(level: LogLevel): Logger {
  if (!LOG_LEVELS.includes(level)) throw new ProgramError('ERR_BAD_OPTION', `startProxy logLevel ${JSON.stringify(level)} is not a level`, `use one of ${LOG_LEVELS.join(', ')}`);
  return level === 'silent' ? silentLogger() : createLogger({ level });
}
