/**
 * The pino logger the whole program is given (nothing below cli.ts creates its own).
 * JSON on a pipe or file; human-readable when the destination is a terminal.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { PrettyStream } from 'pino-pretty';
import { BatchedDestination } from './log-destination.js';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: LogLevel;
  /** File descriptor to write to (default 2, stderr). */
  fd?: number;
  /** Human-readable output; default: when the fd is a TTY. */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const fd = options.fd ?? 2;
  // JSON lines carry pino's epoch-millisecond `time` (no date formatting per line on the hot
  // path); the terminal formatter shows it as a clock time.
  const base = { level: options.level, base: undefined };
  if (options.pretty) {
    // Loaded only for a terminal: it costs ~10 MB of RSS a proxy on a pipe has no use for.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (options: object) => PrettyStream;
    const stream: DestinationStream = pretty({
      destination: fd,
      sync: true,
      colorize: true,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
    });
    return pino(base, stream);
  }
  // One write per event-loop turn, in order (log-destination.ts).
  return pino(base, new BatchedDestination(fd));
}

/** A logger that writes nowhere, for library users and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
