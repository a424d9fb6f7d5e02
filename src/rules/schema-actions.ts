/** The `actions:` vocabulary, exactly as docs/rules.md "Actions" names it: each action by name with its check, whether it is final, and the phase it acts in. */

import { responseCodeByName } from '../protocols/mapihttp-codes.js';
import { STATUS_CLIENT_TOO_OLD } from '../protocols/negotiation-fpse.js';
import { suggestion } from './issues.js';
import { ActionPhase, ActionSpec, Field, RuleContext, duration, exactlyTrue, headerKey, headerName, headerValue, mapOf, oneOf, parseDuration, rate, shown, status, text, version } from './field-checks.js';

const FPSE_STATUS = /^(?:0x[0-9a-fA-F]{1,8}|-?\d{1,10})$/;

function fpseStatus(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= -(2 ** 31) && value <= 2 ** 32 - 1;
  return typeof value === 'string' && FPSE_STATUS.test(value.trim()) && fpseStatus(Number(value.trim()));
}

function checkReject(f: Field, ctx: RuleContext): void {
  const v = f.value;
  if (f.kind !== 'scalar' || v === null || typeof v === 'boolean') {
    return f.report(`reject takes a name or a number (got ${shown(f)}); write e.g. reject: client-too-old (FPSE), reject: context-not-found (MAPI/HTTP) or reject: 403 (HTTP)`);
  }
  const word = typeof v === 'string' ? v.trim() : f.source;
  switch (ctx.protocol) {
    case 'fpse':
      if (word !== 'client-too-old' && !fpseStatus(v)) f.report(`reject ${shown(f)} is not an FPSE status; write client-too-old, a number like ${STATUS_CLIENT_TOO_OLD} or hex like 0x0004000C`);
      return;
    case 'mapihttp': {
      const code = typeof v === 'number' ? (Number.isInteger(v) ? responseCodeByName(String(v)) : undefined) : responseCodeByName(word);
      if (word === 'client-too-old') f.report('reject client-too-old is an FPSE refusal, not an X-ResponseCode; for MAPI/HTTP use a name like endpoint-disabled');
      else if (code === undefined) f.report(`reject ${shown(f)} is not an X-ResponseCode (MS-OXCMAPIHTTP 2.2.3.3.3); ${suggestion(word, codeNames(), 'names')}`);
      else if (code.value === 0) f.report('reject with X-ResponseCode 0 (success) refuses nothing; use a failure code like context-not-found or endpoint-disabled');
      return;
    }
    case 'http':
      if (typeof v !== 'number') return f.report(`reject ${shown(f)} is not an HTTP status; plain HTTP rejects take a status code, like reject: 403`);
      return status(f, 'reject status', 400);
    default:
      // No protocol known: accept whatever one of the three would read.
      if (typeof v === 'number' ? Number.isInteger(v) : word === 'client-too-old' || responseCodeByName(word) !== undefined || fpseStatus(v)) return;
      f.report(`reject ${shown(f)} is neither client-too-old (FPSE), an X-ResponseCode name (MAPI/HTTP) nor a number; ${suggestion(word, ['client-too-old', ...codeNames()], 'names')}`);
  }
}

function codeNames(): string[] {
  const names: string[] = [];
  for (let n = 1; ; n++) {
    const code = responseCodeByName(String(n));
    if (code === undefined) return names;
    names.push(code.kebab);
  }
}

function checkServerVersion(f: Field, ctx: RuleContext): void {
  if (f.kind !== 'map') return version(f, 'serverVersion', ctx, '5.0.2.6790');
  const keys = mapOf(f, 'serverVersion', {
    version: (v) => version(v, 'serverVersion version', ctx, '5.0.2.6790'),
    only: (v) => void oneOf(v, 'serverVersion only', ['method-line', 'server-list']),
  }, ['version'], '{ version: "5.0.2.6790", only: server-list }');
  const only = keys?.get('only');
  if (only !== undefined && ctx.protocol !== undefined && ctx.protocol !== 'fpse') {
    only.report(`serverVersion only applies to FPSE, but this rule matches protocol ${ctx.protocol}; remove only, or write serverVersion as a plain version`);
  }
}

function checkRespond(f: Field): void {
  const keys = mapOf(f, 'respond', {
    status: (v) => status(v, 'respond status', 200),
    headers: (v) => {
      if (v.kind !== 'map') return v.report(`respond headers must be a map (got ${shown(v)}); write e.g. headers: { Content-Type: text/plain }`);
      for (const entry of v.entries()) {
        headerKey(entry, 'respond header name');
        headerValue(entry.field, `respond header ${entry.key}`);
      }
    },
    body: (v) => void (typeof v.value === 'string' || text(v, 'respond body', '"…"')),
    file: (v) => void text(v, 'respond file', '"responses/error.html"'),
  }, [], '{ status: 200, body: "…" }');
  const file = keys?.get('file');
  if (file !== undefined && keys?.has('body')) file.report('respond has both body and file; keep one of them');
}

function onPhase(arg: unknown, key: string, fix: string): { phase: ActionPhase; toResponse?: string } {
  const side = arg !== null && typeof arg === 'object' ? (arg as Record<string, unknown>)[key] : undefined;
  if (side === 'request' || side === 'request-head') return { phase: 'request', toResponse: fix };
  if (side === 'response' || side === 'response-head') return { phase: 'response' };
  return { phase: 'either' };
}

const REQUEST_ONLY = { phase: 'request' as const };

export const ACTIONS: Readonly<Record<string, ActionSpec>> = Object.freeze({
  clientVersion: { final: false, check: (f, ctx) => version(f, 'clientVersion', ctx, '6.0.2.5523'), phase: () => REQUEST_ONLY },
  serverVersion: { final: false, check: checkServerVersion, phase: () => ({ phase: 'response' }) },
  reject: { final: true, check: checkReject, phase: () => REQUEST_ONLY },
  respond: { final: true, check: checkRespond, phase: () => REQUEST_ONLY },
  status: { final: false, check: (f) => status(f, 'status', 200), phase: () => ({ phase: 'response' }) },
  setHeader: {
    final: false,
    check: (f) => void mapOf(f, 'setHeader', {
      name: (v) => headerName(v, 'setHeader name'),
      value: (v) => headerValue(v, 'setHeader value'),
      on: (v) => void oneOf(v, 'setHeader on', ['request', 'response']),
    }, ['name', 'value'], '{ name: X-A, value: b }'),
    phase: (arg) => onPhase(arg, 'on', 'use on: response'),
  },
  removeHeader: {
    final: false,
    check: (f) => {
      if (f.kind !== 'map') return headerName(f, 'removeHeader');
      mapOf(f, 'removeHeader', { name: (v) => headerName(v, 'removeHeader name'), on: (v) => void oneOf(v, 'removeHeader on', ['request', 'response']) }, ['name'], '{ name: X-A, on: response }');
    },
    phase: (arg) => onPhase(arg, 'on', 'use on: response'),
  },
  delay: {
    final: false,
    check: (f) => {
      if (f.kind !== 'map') return void duration(f, 'delay');
      const keys = mapOf(f, 'delay', {
        duration: (v) => void duration(v, 'delay duration'),
        jitter: (v) => void duration(v, 'delay jitter'),
        phase: (v) => void oneOf(v, 'delay phase', ['request-head', 'response-head']),
      }, ['duration'], '{ duration: 600ms, jitter: 100ms }');
      const base = keys?.get('duration');
      const jitter = keys?.get('jitter');
      const [d, j] = [parseDuration(base?.value), parseDuration(jitter?.value)];
      if (jitter !== undefined && typeof d === 'number' && typeof j === 'number' && j > d) {
        jitter.report(`delay jitter ${shown(jitter)} is larger than the duration ${shown(base!)}, so some delays would be negative; make jitter at most the duration`);
      }
    },
    phase: (arg) => onPhase(arg, 'phase', 'use phase: response-head'),
  },
  throttle: {
    final: false,
    check: (f) => {
      if (f.kind !== 'map') return rate(f, 'throttle');
      mapOf(f, 'throttle', {
        rate: (v) => rate(v, 'throttle rate'),
        direction: (v) => void oneOf(v, 'throttle direction', ['request', 'response', 'both']),
      }, ['rate'], '{ rate: 8kb/s, direction: response }');
    },
    phase: (arg) => onPhase(arg, 'direction', 'use direction: response'),
  },
  close: { final: true, check: (f) => exactlyTrue(f, 'close'), phase: () => REQUEST_ONLY },
  reset: { final: true, check: (f) => exactlyTrue(f, 'reset'), phase: () => REQUEST_ONLY },
  hang: { final: true, check: (f) => exactlyTrue(f, 'hang'), phase: () => REQUEST_ONLY },
} satisfies Record<string, ActionSpec>);

