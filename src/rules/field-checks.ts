/**
 * The building blocks of rule validation: a `Field` (a value plus where it was written, and a
 * way to report an issue there) and the primitive checks the matcher and action tables are made
 * of. Each check reports at the field and returns the value when it is usable.
 */

import { parseRange, parseVersion } from '../core/version.js';

import { nearest, suggestion } from './issues.js';
import { regexProblem } from './regex.js';

/** One value of a rule file and where it was written; `report` files an issue at that place. */
export interface Field {
  readonly kind: 'map' | 'list' | 'scalar';
  /** The plain value (maps and lists as plain objects and arrays). */
  readonly value: unknown;
  /** The text as written, for quoting back (`0x10`, not 16). */
  readonly source: string;
  report(message: string): void;
  /** Key/value pairs of a map, in written order; empty for other kinds. */
  entries(): FieldEntry[];
  /** Items of a list; empty for other kinds. */
  items(): Field[];
}

export interface FieldEntry {
  key: string;
  keyField: Field;
  field: Field;
}

export const PROTOCOLS = ['mapihttp', 'fpse', 'http'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** What an argument check may know about the rule around it. */
export interface RuleContext {
  /** `match.protocol`, or the protocol that `requestType` / `fpseMethod` imply. */
  protocol?: Protocol;
}

/** `request`: before forwarding; `response`: once the response head is in; `either`: the rule's own phase. */
export type ActionPhase = 'request' | 'response' | 'either';

export interface ActionSpec {
  /** Ends the exchange: it must be the last action of its rule. */
  final: boolean;
  check(field: Field, ctx: RuleContext): void;
  /** The phase the action needs with this (valid) argument, and how to move it to the response. */
  phase(arg: unknown): { phase: ActionPhase; toResponse?: string };
}

export const RULE_KEYS = ['id', 'description', 'match', 'actions', 'chance', 'times', 'skip', 'every', 'priority', 'enabled'] as const;

/** How a value reads in a message: strings quoted, maps and lists by kind. */
export function shown(field: Field): string {
  if (field.kind === 'map') return 'a map';
  if (field.kind === 'list') return 'a list';
  if (field.value === null) return 'nothing';
  if (typeof field.value === 'string') return JSON.stringify(field.value.length > 60 ? `${field.value.slice(0, 60)}…` : field.value);
  return field.source;
}

export function text(field: Field, subject: string, example: string): string | undefined {
  if (typeof field.value === 'string' && field.value.trim() !== '') return field.value;
  if (field.kind === 'scalar' && field.value !== null && typeof field.value !== 'string') {
    field.report(`${subject} must be text (got ${shown(field)}); quote it: ${JSON.stringify(field.source)}`);
  } else {
    field.report(`${subject} must be text like ${example} (got ${shown(field)}); write e.g. ${example}`);
  }
  return undefined;
}

export function integer(field: Field, subject: string, min: number, max: number, example: string): number | undefined {
  const v = field.value;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    field.report(`${subject} must be a whole number (got ${shown(field)}); write e.g. ${example}`);
    return undefined;
  }
  if (v < min || v > max) {
    const bounds = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    field.report(`${subject} ${v} is out of range; use a whole number ${bounds}`);
    return undefined;
  }
  return v;
}

export function oneOf<T extends string>(field: Field, subject: string, options: readonly T[]): T | undefined {
  if (typeof field.value === 'string' && (options as readonly string[]).includes(field.value)) return field.value as T;
  const word = typeof field.value === 'string' ? field.value : field.source;
  const near = nearest(word, options);
  field.report(`${subject} must be one of ${options.join(', ')} (got ${shown(field)}); ${near === undefined ? 'write one of them' : `did you mean ${JSON.stringify(near)}?`}`);
  return undefined;
}

export function exactlyTrue(field: Field, subject: string): void {
  if (field.value === true) return;
  const fix = field.value === false ? 'remove the action instead of setting it to false' : `write ${subject}: true`;
  field.report(`${subject} takes only true (got ${shown(field)}); ${fix}`);
}

/**
 * Checks a map against its known keys: unknown keys (with the nearest known one), missing
 * required keys (reported at the map) and each present value.
 */
export function mapOf(field: Field, subject: string, keys: Record<string, (f: Field) => void>, required: readonly string[], example: string): Map<string, Field> | undefined {
  if (field.kind !== 'map') {
    field.report(`${subject} must be a map (got ${shown(field)}); write e.g. ${example}`);
    return undefined;
  }
  const present = new Map<string, Field>();
  for (const { key, keyField, field: value } of field.entries()) {
    const check = Object.hasOwn(keys, key) ? keys[key] : undefined;
    if (check === undefined) {
      keyField.report(`unknown key ${JSON.stringify(key)} in ${subject}; ${suggestion(key, Object.keys(keys), 'keys')}`);
      continue;
    }
    present.set(key, value);
    check(value);
  }
  const missing = required.filter((k) => !present.has(k));
  if (missing.length > 0) field.report(`${subject} is missing ${missing.map((k) => JSON.stringify(k)).join(' and ')}; write e.g. ${example}`);
  return present;
}

// RFC 9110 5.6.2: header names (and methods) are tokens.
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function headerName(field: Field, subject: string): void {
  const name = text(field, subject, 'X-Version-Proxy');
  if (name !== undefined && !TOKEN.test(name)) {
    field.report(`${subject} ${JSON.stringify(name)} is not a valid header name; use letters, digits and !#$%&'*+-.^_\`|~ only, like X-Version-Proxy`);
  }
}

/** Header values go on the wire as written; a CR or LF would let a rule split or forge headers. */
export function headerValue(field: Field, subject: string): void {
  // A number (`Retry-After: 120`) goes on the wire as its digits.
  if (typeof field.value === 'number' && Number.isFinite(field.value)) return;
  const value = text(field, subject, '"b"');
  if (value !== undefined && /[\r\n\0]/.test(value)) {
    field.report(`${subject} contains a line break (CR or LF) or NUL, which would split the header; write the value on one line`);
  }
}

/** A header name written as a map key (match.header, respond.headers). */
export function headerKey(entry: FieldEntry, subject: string): void {
  if (!TOKEN.test(entry.key)) {
    entry.keyField.report(`${subject} ${JSON.stringify(entry.key)} is not a valid header name; use letters, digits and !#$%&'*+-.^_\`|~ only, like X-Version-Proxy`);
  }
}

/** `/body/flags` is a regular expression; anything else is not. */
export function regexOf(value: string): { body: string; flags: string } | undefined {
  const m = /^\/(.+)\/([dgimsuy]*)$/s.exec(value);
  return m ? { body: m[1]!, flags: m[2]! } : undefined;
}

/**
 * Checks a `/…/` value: valid JavaScript syntax first (the syntax rules are written in), then
 * fit for the linear-time engine that runs it (regex.ts). False when the value is not a regex.
 */
export function compiles(field: Field, subject: string, value: string): boolean {
  const regex = regexOf(value);
  if (regex === undefined) return false;
  try {
    new RegExp(regex.body, regex.flags);
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(error);
    field.report(`${subject} regex ${JSON.stringify(value)} does not compile (${why}); fix the pattern, or drop the surrounding slashes to match it as a glob`);
    return true;
  }
  const problem = regexProblem(regex.body, regex.flags);
  if (problem !== undefined) field.report(`${subject} regex ${JSON.stringify(value)} ${problem}`);
  return true;
}

export function version(field: Field, subject: string, ctx: RuleContext, example: string): void {
  const written = text(field, subject, JSON.stringify(example));
  if (written === undefined) return;
  const parsed = parseVersion(written);
  if (!parsed.ok) {
    const fix = parsed.problem.includes(';') ? '' : `; write four numbers like ${JSON.stringify(example)}`;
    field.report(`${subject} ${JSON.stringify(written)} ${parsed.problem}${fix}`);
  } else if (parsed.version.product !== undefined && ctx.protocol === 'fpse') {
    field.report(`${subject} ${JSON.stringify(written)} has a product prefix, which FPSE versions do not carry; write just ${JSON.stringify(parsed.version.text.slice(parsed.version.text.indexOf('/') + 1))}`);
  }
}

export function range(field: Field, subject: string): void {
  const written = text(field, subject, '"< 4.0.2.2611"');
  if (written === undefined) return;
  const parsed = parseRange(written);
  if (!parsed.ok) {
    const fix = parsed.problem.includes(';') ? '' : '; write a range like "< 4.0.2.2611" or ">= 15.0.847.32 < 15.1"';
    field.report(`${subject} ${JSON.stringify(written)} ${parsed.problem}${fix}`);
  }
}

/** Milliseconds for `600ms`, `1.5s`, `2m` or a bare number of ms; a problem sentence otherwise. */
export function parseDuration(value: unknown): number | string {
  const MAX = 3_600_000;
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
    if (!m) return 'is not a duration; write e.g. 600ms, 1.5s or a number of milliseconds';
    ms = Number(m[1]) * (m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1);
  } else return 'is not a duration; write e.g. 600ms, 1.5s or a number of milliseconds';
  if (!Number.isFinite(ms) || ms < 0) return 'is negative; durations are 0 or more';
  if (ms > MAX) return 'is over an hour; use hang: true to never answer';
  return ms;
}

/** Bytes per second for `8kb/s`, `1.5mb/s`, `512b/s` (k = 1024) or a bare number; a problem sentence otherwise. */
export function parseRate(value: unknown): number | string {
  const units: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
  let rate: number;
  if (typeof value === 'number') rate = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\/s\s*$/i.exec(value);
    if (!m) return 'is not a rate; write e.g. 8kb/s, 512b/s or a number of bytes per second';
    rate = Number(m[1]) * units[m[2]!.toLowerCase()]!;
  } else return 'is not a rate; write e.g. 8kb/s, 512b/s or a number of bytes per second';
  if (!Number.isFinite(rate) || rate < 1) return 'is below 1 byte per second; use hang: true to stall completely';
  return rate;
}

export function duration(field: Field, subject: string): number | undefined {
  if (field.kind !== 'scalar') {
    field.report(`${subject} must be a duration (got ${shown(field)}); write e.g. 600ms`);
    return undefined;
  }
  const ms = parseDuration(field.value);
  if (typeof ms === 'string') field.report(`${subject} ${shown(field)} ${ms}`);
  return typeof ms === 'number' ? ms : undefined;
}

export function rate(field: Field, subject: string): void {
  const parsed = field.kind === 'scalar' ? parseRate(field.value) : 'is not a rate; write e.g. 8kb/s';
  if (typeof parsed === 'string') field.report(`${subject} ${shown(field)} ${parsed}`);
}

export function status(field: Field, subject: string, min: number): void {
  integer(field, subject, min, 599, min >= 400 ? '503' : '200');
}

