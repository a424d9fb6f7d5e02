/**
 * A new runtime rule drafted from an exchange: its match pre-filled from what the exchange was
 * (protocol and operation, host, and for plain HTTP the method and path), and the actions the
 * rule files know (docs/rules.md "Actions"), each with an example argument to edit. The server
 * checks the rule with the validator the YAML files go through and answers each issue.
 */
import { hostAndPath } from './format.js';
import type { ExchangeRecord } from './types.js';

/** docs/rules.md's action table: name, an example argument, what it does. */
export const ACTIONS: ReadonlyArray<{ name: string; example: unknown; says: string }> = [
  { name: 'reject', example: 'client-too-old', says: 'refuse without the upstream: FPSE status (client-too-old, 0x…), MAPI/HTTP X-ResponseCode name, or an HTTP status' },
  { name: 'clientVersion', example: '6.0.2.5523', says: "rewrite the client's version (MAPI X-ClientApplication, FPSE method version)" },
  { name: 'serverVersion', example: '5.0.2.6790', says: "rewrite the server's version (MAPI X-ServerApplication, FPSE server version and method line)" },
  { name: 'status', example: 503, says: "replace the upstream's status" },
  { name: 'respond', example: { status: 200, body: 'hello' }, says: 'answer without the upstream' },
  { name: 'setHeader', example: { name: 'X-Test', value: '1', on: 'request' }, says: 'set a header on the request or response' },
  { name: 'removeHeader', example: 'X-Test', says: 'remove a header' },
  { name: 'delay', example: '600ms', says: 'wait before passing the request or response head on' },
  { name: 'throttle', example: '8kb/s', says: 'limit the rate of bodies' },
  { name: 'close', example: true, says: 'close without an answer' },
  { name: 'reset', example: true, says: 'TCP reset' },
  { name: 'hang', example: true, says: 'never answer' },
];

export interface RuleDraft {
  match: Record<string, unknown>;
  /** The exchange it came from, for the form's heading. */
  from?: string;
}

export function draftFrom(x: ExchangeRecord): RuleDraft {
  const { host, path } = hostAndPath(x.url);
  const hostname = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  const match: Record<string, unknown> = {};
  if (x.protocol !== undefined) {
    match.protocol = x.protocol.protocol;
    if (x.protocol.protocol === 'fpse') match.fpseMethod = x.protocol.operation;
    else match.requestType = x.protocol.operation;
  } else {
    match.method = x.request.method;
    match.path = path.replace(/\?.*$/, '');
  }
  if (hostname !== '') match.host = hostname;
  return { match, from: `${x.request.method} ${x.url}` };
}
