/**
 * Typed configuration for `proxy start`, and the parsers that turn flag text into it. Every
 * parser throws a ProgramError whose message says what was wrong and whose hint says how to fix
 * it; the CLI prints both on one line.
 */
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ProgramError } from './errors.js';
import { defaultPort, parseAuthority, type Origin } from './core/origin.js';
import type { LogLevel } from './log.js';
import { parseCidr, type Cidr } from './proxy/client-access.js';
import { openFileLimit } from './core/fd-limit.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ProxyConfig {
  listen: ListenAddress;
  /** Reverse mode when set: every request goes to this origin. */
  target?: Origin;
  /** Reverse mode: send the client's Host header instead of the target's authority. */
  keepHost: boolean;
  /** Add X-Forwarded-For/-Proto/-Host. */
  forwarded: boolean;
  /** Idle time after which a silent upstream is given up (504, or a closed connection). */
  upstreamTimeoutMs: number;
  /** How long SIGINT/SIGTERM waits for exchanges in flight before closing them. */
  graceMs: number;
  /** Time a client may take to send a request head, then 408 (`--head-timeout`); DEFAULTS when absent, 0: none. */
  headTimeoutMs?: number;
  /** Silence allowed on a client connection with no exchange in flight (`--idle-timeout`); DEFAULTS when absent, 0: none. */
  idleTimeoutMs?: number;
  /** Client connections open at once (`--max-connections`); derived from `ulimit -n` when absent. */
  maxConnections?: number;
  logLevel: LogLevel;
  /** Rule files or folders (`--rules`), hot-reloaded; none by default. */
  rules?: string[];
  /** `respond: { file: }` may read files outside the rule file's folder (`--rules-files-anywhere`). */
  rulesFilesAnywhere?: boolean;
  /** Seed of every `chance` and jitter decision (`--seed`); a random one, logged, when unset. */
  seed?: number;
  /**
   * TLS interception of CONNECT tunnels (issue 5); off when absent. The CLI turns it on for
   * every host by default, with the CA in ~/.version-proxy.
   */
  interception?: {
    /** Where the CA lives (created on first need). */
    caDir: string;
    /** Host globs to intercept; `*` is every host. */
    intercept: string[];
    /** Host globs tunnelled untouched, whatever `intercept` says. */
    noIntercept: string[];
  };
  /** Reverse mode: listen with TLS, the leaf from the interception CA (`--tls`). */
  tls?: boolean;
  /** Extra trusted CA files for upstream TLS (`--upstream-ca`). */
  upstreamCa?: string[];
  /** Host globs whose upstream certificates are not verified; empty means every host. */
  insecureUpstream?: string[];
  /** The journal (issue 6); no recording when absent (`--no-record`, and library/test default). */
  record?: RecordConfig;
  /** Secrets redacted from everything that leaves the process; on unless `enabled: false` (`--no-redact`). */
  redaction?: RedactionConfig;
  /** Clients that may connect (`--allow`); loopback and private networks when absent (client-access.ts). */
  allow?: Cidr[];
  /** The control server (`--control`, issue 22); none when absent (`--no-control`, and the library/test default). */
  control?: ControlConfig;
}

export interface ControlConfig {
  listen: ListenAddress;
  /** Where the run's bearer token is written, mode 0600 (`--control-token-file`). */
  tokenFile: string;
  /**
   * Finished exchanges held for the API (`--control-ring`, default 100; startProxy 1000). Each
   * record held costs the garbage collector under load: it is copied out of the young generation,
   * twice once the ring spans two scavenges (~500 exchanges under the bench load). With a live feed
   * subscriber, pass-through measured against no control server (interleaved): ring of 1 or 50
   * 0.88-0.91, 200 0.80-0.86. Older records are read back from the journal when recording.
   */
  ring: number;
  /**
   * Body bytes kept per direction for GET /api/exchanges/{id} (`--capture-bytes`), also when
   * nothing is recorded; the ring's own byte budget bounds what is held.
   */
  captureBytes?: number;
  /** Events the live feed holds for `since` (`--control-feed-ring`, default 10000). */
  feedRing?: number;
}

export interface RecordConfig {
  /** A `.ndjson` file, or a folder that gets `<start time>.ndjson` (the default is `recordings/`). */
  path: string;
  /** Body bytes kept per direction of each exchange (`--capture-bytes`, default 1 MiB). */
  captureBytes: number;
  /** A journal file is closed and the next part opened past this size (default 256 MiB). */
  rotateBytes: number;
  /** The recording's files together stay under this size, oldest deleted first (`--record-max`); 0 or absent: no bound. */
  maxBytes?: number;
  /** Free space below which bodies, and below half of it exchanges, stop being recorded (`--record-min-free`); 0 or absent: no guard. */
  minFreeBytes?: number;
}

export interface RedactionConfig {
  enabled: boolean;
  /** Headers redacted whole, beyond the defaults (`--redact-header`). */
  extraHeaders: string[];
  /** Query parameters whose values are redacted, beyond the defaults (`--redact-param`). */
  extraParams?: string[];
}

export const DEFAULTS = {
  listen: '127.0.0.1:8080',
  // Longer than a 5-minute MAPI/HTTP NotificationWait (MS-OXCMAPIHTTP 3.1.5.5) plus slack.
  upstreamTimeoutSeconds: 330,
  graceSeconds: 5,
  /** RFC 9112 sets no limit; 30 s is generous for a head (a few KB) even on a bad link. */
  headTimeoutSeconds: 30,
  /** IIS's own idle connection timeout is 120 s: an idle client connection lives as long. */
  idleTimeoutSeconds: 120,
  logLevel: 'info' as LogLevel,
  /** The interception CA's home (docs/running.md). */
  caDir: join(homedir(), '.version-proxy'),
  /** The journal folder, relative to the working directory (docs/running.md). */
  recordDir: 'recordings',
  captureBytes: 1024 * 1024,
  rotateBytes: 256 * 1024 * 1024,
  /** A day of heavy QA traffic with bodies, and still a small share of a disk. */
  recordMax: '2GiB',
  /** The last 256 MiB of a disk are left to the system: bodies stop there, exchanges at 128 MiB. */
  recordMinFree: '256MiB',
  /** The control server (docs/control-api.md). */
  control: '127.0.0.1:8089',
  controlRing: 100,
};

/** `--control HOST:PORT`, parsed as --listen is, the messages naming --control. */
export function parseControl(text: string): ListenAddress {
  try {
    return parseListen(text);
  } catch (err) {
    if (!(err instanceof ProgramError)) throw err;
    throw new ProgramError('ERR_BAD_OPTION', err.message.replace('--listen', '--control'), 'write it as HOST:PORT, e.g. --control 127.0.0.1:8089 (port 0 picks a free one), or turn it off with --no-control');
  }
}

/** `HOST:PORT`, `:PORT`, `PORT` or `[V6]:PORT`; port 0 picks a free port. */
export function parseListen(text: string): ListenAddress {
  const hint = 'write it as HOST:PORT, e.g. --listen 127.0.0.1:8080 or --listen [::1]:8080';
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { host: '127.0.0.1', port: checkPort(trimmed, text, hint) };
  if (trimmed.startsWith(':') && /^:\d+$/.test(trimmed)) return { host: '127.0.0.1', port: checkPort(trimmed.slice(1), text, hint) };
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(trimmed);
  if (!match) throw new ProgramError('ERR_BAD_LISTEN', `--listen "${text}" is not an address`, hint);
  const host = match[1]!.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new ProgramError('ERR_BAD_LISTEN', `--listen host "${host}" is neither an IP address nor a host name`, hint);
  }
  return { host, port: checkPort(match[2]!, text, hint) };
}

function checkPort(port: string, text: string, hint: string): number {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ProgramError('ERR_BAD_LISTEN', `--listen "${text}" has port ${port}, outside 0–65535`, hint);
  }
  return n;
}

/** `http://host[:port]` or `https://host[:port]`; a path other than `/` is refused. */
export function parseTarget(text: string): Origin {
  const hint = 'give the origin to stand in for, e.g. --target http://127.0.0.1:8081';
  const match = /^(https?):\/\/([^/?#]*)(\/?)$/i.exec(text.trim());
  if (!match) {
    const why = /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
      ? /^https?:/i.test(text)
        ? 'has a path, query or fragment; the proxy forwards each request path as it is'
        : 'is not an http:// or https:// URL'
      : 'is not a URL';
    throw new ProgramError('ERR_BAD_TARGET', `--target "${text}" ${why}`, hint);
  }
  const protocol = `${match[1]!.toLowerCase()}:` as Origin['protocol'];
  const authority = parseAuthority(match[2]!);
  if (!authority.ok) throw new ProgramError('ERR_BAD_TARGET', `--target "${text}": ${authority.reason}`, hint);
  return {
    protocol,
    hostname: authority.hostname,
    port: authority.port ?? defaultPort(protocol),
    authority: match[2]!,
  };
}

/** `--allow CIDR…`: addresses or networks, IPv4 or IPv6, e.g. `10.0.0.0/8 192.0.2.7 fd00::/8`. */
export function parseAllow(texts: string[]): Cidr[] {
  return texts.flatMap((text) => text.split(',')).filter((text) => text.trim() !== '').map((text) => {
    const cidr = parseCidr(text);
    if (cidr === undefined) {
      throw new ProgramError('ERR_BAD_OPTION', `--allow "${text}" is not an address or a network`, 'write an address or ADDRESS/PREFIX, e.g. --allow 10.0.0.0/8 or --allow 192.0.2.7 (--allow 0.0.0.0/0 --allow ::/0 admits every host)');
    }
    return cidr;
  });
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `--seed N`: a whole number from 0 to 2^32 - 1, so a logged seed can be passed back as is. */
export function parseSeed(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new ProgramError('ERR_BAD_OPTION', `--seed ${String(value)} is not a whole number from 0 to 4294967295`, 'pass the seed a previous run logged, e.g. --seed 42');
  }
  return n;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** A byte size: `1048576`, `64KiB`, `1MiB`, `1m`, `2GB` (binary units throughout). */
export function parseSize(flag: string, text: string, min = 0): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes < min) {
    throw new ProgramError('ERR_BAD_OPTION', `--${flag} ${text} is not a size${min > 0 ? ` of at least ${min} bytes` : ''}`, `write bytes or a unit, e.g. --${flag} 1MiB, 64KiB or 1048576`);
  }
  return bytes;
}

/**
 * The default `--max-connections`: half the open-file limit, since each client connection
 * holds two descriptors (its socket and its own upstream's), less a few for the listener, the
 * journal, the log and the CA files. 512 where the limit cannot be read (null).
 */
export function defaultMaxConnections(fdLimit: number | null = openFileLimit() ?? null): number {
  if (fdLimit === null) return 512;
  return Math.max(1, Math.floor((fdLimit - 32) / 2));
}

/** `--max-connections N`: a whole number from 1 up to the open-file limit (`ulimit -n`). */
export function parseMaxConnections(value: unknown, fdLimit: number | null = openFileLimit() ?? null): number {
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < 1) {
    throw new ProgramError('ERR_BAD_OPTION', `--max-connections ${String(value)} is not a whole number of at least 1`, `e.g. --max-connections ${defaultMaxConnections(fdLimit)}`);
  }
  if (fdLimit !== null && n > fdLimit) {
    throw new ProgramError('ERR_BAD_OPTION', `--max-connections ${n} is above the open-file limit (ulimit -n ${fdLimit}), so new clients would be refused with nothing logged`, `raise ulimit -n, or give at most ${defaultMaxConnections(fdLimit)} (two descriptors per connection)`);
  }
  return n;
}
