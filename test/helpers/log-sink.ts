/**
 * A pino logger that writes into memory, one parsed object per NDJSON line (the fastify/pino test
 * habit), so tests assert on log objects instead of matching text.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../../src/log.js';

/** One log line as pino wrote it: `level` is pino's number (30 = info), `msg` the event name. */
export interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

export interface LogSink {
  logger: Logger;
  /** Every line written so far, parsed, in order. */
  lines: LogLine[];
  /** Lines for which `predicate` holds. */
  filter(predicate: (line: LogLine) => boolean): LogLine[];
  /** Resolves once `count` lines satisfy `predicate`; rejects with the lines seen after `timeoutMs`. */
  waitFor(predicate: (line: LogLine) => boolean, count?: number, timeoutMs?: number): Promise<LogLine[]>;
}

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export function createLogSink(level: LogLevel = 'info'): LogSink {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let pending = '';

  // pino calls write() once per line; splitting on newlines anyway keeps the sink honest if a
  // line ever arrives in pieces or several arrive together.
  const stream = {
    write(chunk: string): void {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (text.trim().length > 0) lines.push(JSON.parse(text) as LogLine);
        newline = pending.indexOf('\n');
      }
      for (const wake of waiters) wake();
    },
  };

  const logger = pino({ level, base: undefined }, stream);
  const filter = (predicate: (line: LogLine) => boolean): LogLine[] => lines.filter(predicate);

  function waitFor(predicate: (line: LogLine) => boolean, count = 1, timeoutMs = 5000): Promise<LogLine[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = filter(predicate);
        if (found.length < count) return false;
        cleanup();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count} matching log line(s); saw:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      const wake = (): void => void check();
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
      };
      waiters.add(wake);
      check();
    });
  }

  return { logger, lines, filter, waitFor };
}
