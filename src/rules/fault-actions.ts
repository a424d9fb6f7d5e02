/**
 * The fault actions (docs/rules.md "Actions"): `delay` and `throttle` edit the drafts' timing,
 * `close`, `reset` and `hang` end the exchange without an answer. Like every action they edit a
 * draft; src/proxy/ carries the timing and the endings out on the sockets.
 */
import { parseDuration, parseRate } from './field-checks.js';
import type { ActionContext, Compile, CompiledAction } from './actions.js';
import type { ActionSide, Change } from './rule.js';

export function ending(kind: 'close' | 'reset' | 'hang', explain: string): Compile {
  return () => ({
    name: kind,
    final: true,
    explain,
    request(draft) {
      draft.end = { kind };
      return [{ action: kind, target: 'connection', after: explain }];
    },
  });
}

interface DelayArg {
  duration: string | number;
  jitter?: string | number;
  phase?: 'request-head' | 'response-head';
}

export function delay(arg: unknown, ruleSide: ActionSide): CompiledAction {
  const spec: DelayArg = typeof arg === 'object' && arg !== null ? (arg as DelayArg) : { duration: arg as string | number };
  const base = parseDuration(spec.duration) as number;
  const jitter = spec.jitter === undefined ? 0 : (parseDuration(spec.jitter) as number);
  const side: ActionSide = spec.phase === 'request-head' ? 'request' : spec.phase === 'response-head' ? 'response' : ruleSide;
  const where = side === 'request' ? 'before forwarding the request' : 'before the response head';
  const edit = (draft: { delayMs: number }, ctx: ActionContext): Change[] => {
    // Uniform in [base - jitter, base + jitter], from the rule's seeded stream.
    const ms = Math.max(0, Math.round(base + (jitter === 0 ? 0 : (ctx.random() * 2 - 1) * jitter)));
    draft.delayMs += ms;
    return [{ action: 'delay', target: side === 'request' ? 'request-head' : 'response-head', after: `${ms} ms` }];
  };
  return { name: 'delay', final: false, explain: `delay ${withUnit(spec.duration, 'ms')}${jitter === 0 ? '' : ` ± ${withUnit(spec.jitter!, 'ms')}`} ${where}`, [side]: edit };
}

export function throttle(arg: unknown, ruleSide: ActionSide): CompiledAction {
  const spec = typeof arg === 'object' && arg !== null ? (arg as { rate: string | number; direction?: 'request' | 'response' | 'both' }) : { rate: arg as string | number };
  const rate = parseRate(spec.rate) as number;
  // Unsaid, a request-side rule slows both directions; a rule decided on the response can
  // only slow the response.
  const direction = spec.direction ?? (ruleSide === 'request' ? 'both' : 'response');
  const action: CompiledAction = { name: 'throttle', final: false, explain: `throttle ${direction === 'both' ? 'both directions' : `the ${direction}`} to ${withUnit(spec.rate, ' bytes/s')}` };
  const change = (target: string): Change[] => [{ action: 'throttle', target, after: `${rate} bytes/s` }];
  if (direction !== 'response') {
    action.request = (draft) => {
      draft.throttle.request = Math.min(draft.throttle.request ?? Infinity, rate);
      return change('request body');
    };
  }
  if (direction !== 'request') {
    action.response = (draft) => {
      draft.throttle = Math.min(draft.throttle ?? Infinity, rate);
      return change('response body');
    };
  }
  return action;
}

/** A bare number in a rule is milliseconds or bytes per second; say so in explanations. */
function withUnit(value: string | number, unit: string): string {
  return typeof value === 'number' ? `${value}${unit}` : value;
}

