/**
 * The pino logger the whole program is given (nothing below cli.ts creates its own).
 * JSON on a pipe or file; human-readable when the destination is a terminal.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { PrettyStream } from 'pino-pretty';

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
  return pino(base, batchedDestination(fd));
}

/**
 * Writes the lines of one event-loop turn together: under load many exchanges finish per turn
 * and one write carries them all (one write per line cost about 15 µs a request), while a quiet
 * proxy's line still goes out at the end of the turn that logged it.
 */
function batchedDestination(fd: number): DestinationStream & { flush(cb?: (err?: Error) => void): void } {
  // minLength holds lines in memory until the flush below (or 8 KiB accumulate).
  const destination = pino.destination({ dest: fd, sync: false, minLength: 8 * 1024 });
  let scheduled = false;
  const flushTurn = (): void => {
    scheduled = false;
    destination.flush();
  };
  return {
    write(line: string): void {
      destination.write(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flushTurn);
      }
    },
    flush(cb?: (err?: Error) => void): void {
      destination.flush(cb);
    },
  };
}

/** A logger that writes nowhere, for library users and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
