/**
 * The pino logger the whole program is given (nothing below cli.ts creates its own).
 * JSON on a pipe or file; human-readable when the destination is a terminal.
 */
import { pino, type Logger } from 'pino';
import { BatchedDestination } from './log-destination.js';
import { COLOURS, NO_COLOURS, prettyDestination } from './log-pretty.js';

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
    // One line per event, as the README shows them; colours unless NO_COLOR is set (no-color.org).
    const palette = process.env.NO_COLOR ? NO_COLOURS : COLOURS;
    return pino(base, prettyDestination(fd, palette));
  }
  // One write per event-loop turn, in order (log-destination.ts).
  return pino(base, new BatchedDestination(fd));
}

/** A logger that writes nowhere, for library users and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
