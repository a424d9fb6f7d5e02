/**
 * The log as a person at a terminal reads it: one line per event, one line per exchange (the line
 * the README shows, with the verdicts coloured by level), instead of pino-pretty's block of one
 * line per field. Only for a terminal: on a pipe or a file the log stays pino's JSON lines.
 */
import type { DestinationStream } from 'pino';
import { BatchedDestination } from './log-destination.js';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** The fields pino writes itself, and the exchange line's fields shown in its own layout. */
const OWN_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);
const EXCHANGE_FIELDS = new Set(['xid', 'method', 'url', 'status', 'ms', 'up', 'down', 'err', 'proto', 'verdict', 'rules']);

export interface Palette {
  dim(text: string): string;
  level(level: number, text: string): string;
  verdict(level: string, text: string): string;
}

const ESC = '\u001b[';
const paint = (code: string) => (text: string) => `${ESC}${code}m${text}${ESC}0m`;
const red = paint('31');
const yellow = paint('33');
const green = paint('32');
const cyan = paint('36');
const dim = paint('2');

export const COLOURS: Palette = {
  dim,
  level: (level, text) => (level >= 50 ? red(text) : level >= 40 ? yellow(text) : level <= 20 ? dim(text) : cyan(text)),
  verdict: (level, text) => (level === 'violation' ? red(text) : level === 'notice' ? yellow(text) : level === 'ok' ? green(text) : text),
};

export const NO_COLOURS: Palette = { dim: (t) => t, level: (_l, t) => t, verdict: (_l, t) => t };

/** One log record (pino's JSON, parsed) as one line, without its newline. */
export function formatLine(record: Record<string, unknown>, palette: Palette): string {
  const level = typeof record.level === 'number' ? record.level : 30;
  const time = typeof record.time === 'number' ? clock(record.time) : '';
  if (record.msg === 'exchange') return `${palette.dim(time)} ${formatExchange(record, palette)}`;
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  let line = `${palette.dim(time)} ${palette.level(level, name)} ${text(record.msg)}`;
  for (const [key, value] of Object.entries(record)) {
    if (OWN_FIELDS.has(key) || value === undefined) continue;
    line += ` ${palette.dim(`${key}=`)}${formatValue(value)}`;
  }
  return line;
}

/** `GET http://host/path 200 4.1ms ↑52 ↓310 fpse "server version" … accepted [rule-id]` */
function formatExchange(r: Record<string, unknown>, palette: Palette): string {
  let line = `${text(r.method) || '?'} ${text(r.url)} ${text(r.status) || '-'}`;
  if (typeof r.ms === 'number') line += ` ${r.ms}ms`;
  line += palette.dim(` ↑${bytes(r.up)} ↓${bytes(r.down)}`);
  if (typeof r.err === 'string') line += ` ${palette.verdict('violation', r.err)}`;
  if (typeof r.proto === 'string') line += ` ${palette.verdict(typeof r.verdict === 'string' ? r.verdict : '', r.proto)}`;
  if (Array.isArray(r.rules) && r.rules.length > 0) line += ` ${palette.dim(`[${r.rules.join(', ')}]`)}`;
  for (const [key, value] of Object.entries(r)) {
    if (OWN_FIELDS.has(key) || EXCHANGE_FIELDS.has(key) || value === undefined) continue;
    line += ` ${palette.dim(`${key}=`)}${formatValue(value)}`;
  }
  return line;
}

/** A string or number field as text; anything else (absent, an object) as nothing. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'message' in value && typeof value.message === 'string') {
    // A serialized error: its type and message; the stack stays in the JSON log.
    const e = value as { type?: string; message: string };
    return JSON.stringify(`${e.type ?? 'Error'}: ${e.message}`);
  }
  return JSON.stringify(value);
}

function bytes(value: unknown): string {
  if (typeof value !== 'number') return '0';
  if (value < 10_000) return `${value}B`;
  if (value < 10_000_000) return `${Math.round(value / 1024)}KiB`;
  return `${Math.round(value / 1048576)}MiB`;
}

function clock(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * A pino destination that writes each record as one formatted line to `fd`, through the same
 * batched destination as the JSON log (a terminal is written asynchronously: one that stops
 * scrolling never holds the proxy back).
 */
export function prettyDestination(fd: number, palette: Palette): DestinationStream & { flush(cb?: (err?: Error) => void): void; flushSync(): void } {
  const out = new BatchedDestination(fd);
  return {
    write(json: string): void {
      let text: string;
      try {
        text = formatLine(JSON.parse(json) as Record<string, unknown>, palette);
      } catch {
        text = json.trimEnd();
      }
      out.write(`${text}\n`);
    },
    flush: (cb?: (err?: Error) => void) => out.flush(cb),
    flushSync: () => out.flushSync(),
  };
}
