/** The `match:` vocabulary (docs/rules.md): each matcher by name with the check of its argument. */
import { isIP } from 'node:net';

import { REQUEST_TYPES, canonicalRequestType } from '../protocols/mapihttp.js';

import { suggestion } from './issues.js';
import { Field, PROTOCOLS, RuleContext, TOKEN, compiles, headerKey, headerValue, oneOf, range, shown, text } from './field-checks.js';

const ALL_REQUEST_TYPES = [...new Set([...REQUEST_TYPES.emsmdb, ...REQUEST_TYPES.nspi])];

export const MATCHERS: Readonly<Record<string, (field: Field, ctx: RuleContext) => void>> = Object.freeze({
  host: (f) => {
    const host = text(f, 'host', '"*.contoso.com"');
    if (host !== undefined && /[\s/]/.test(host)) f.report(`host ${JSON.stringify(host)} has a space or "/"; write a host name or glob like "*.contoso.com" (no scheme or path)`);
  },
  path: (f) => {
    const path = text(f, 'path', '"/mapi/*"');
    if (path === undefined || compiles(f, 'path', path)) return;
    if (!path.startsWith('/') && !path.startsWith('*')) f.report(`path ${JSON.stringify(path)} does not start with "/"; write ${JSON.stringify(`/${path}`)}, or /…/ for a regex`);
  },
  method: (f) => {
    const one = (item: Field): void => {
      const m = text(item, 'method', '"POST"');
      if (m !== undefined && !TOKEN.test(m)) item.report(`method ${JSON.stringify(m)} is not an HTTP method name; write e.g. POST`);
    };
    if (f.kind !== 'list') return one(f);
    if (f.items().length === 0) f.report('method is an empty list, which matches nothing; list at least one method, like [GET, POST]');
    f.items().forEach(one);
  },
  protocol: (f) => void oneOf(f, 'protocol', PROTOCOLS),
  requestType: (f, ctx) => {
    const t = text(f, 'requestType', '"Connect"');
    if (t === undefined) return;
    if (canonicalRequestType(t) === undefined) f.report(`requestType ${JSON.stringify(t)} is not a MAPI/HTTP request type; ${suggestion(t, ALL_REQUEST_TYPES, 'request types')}`);
    else if (ctx.protocol !== undefined && ctx.protocol !== 'mapihttp') f.report(`requestType only matches MAPI/HTTP exchanges, but this rule matches protocol ${ctx.protocol}; set protocol: mapihttp or remove requestType`);
  },
  fpseMethod: (f, ctx) => {
    if (text(f, 'fpseMethod', '"open service"') === undefined) return;
    if (ctx.protocol !== undefined && ctx.protocol !== 'fpse') f.report(`fpseMethod only matches FPSE exchanges, but this rule matches protocol ${ctx.protocol}; set protocol: fpse or remove fpseMethod`);
  },
  clientVersion: (f) => range(f, 'clientVersion'),
  serverVersion: (f) => range(f, 'serverVersion'),
  header: (f) => {
    if (f.kind !== 'map') return f.report(`header must be a map of header names (got ${shown(f)}); write e.g. header: { X-ClientInfo: true }`);
    for (const entry of f.entries()) {
      headerKey(entry, 'header name');
      const v = entry.field;
      if (v.value === true) continue;
      if (v.value === false) {
        v.report(`header ${entry.key}: false is not supported; write true to match on presence, or a value or /regex/`);
        continue;
      }
      const subject = `header ${entry.key}`;
      headerValue(v, subject);
      if (typeof v.value === 'string') compiles(v, subject, v.value);
    }
  },
  client: (f) => {
    const c = text(f, 'client', '"10.0.0.0/8"');
    if (c === undefined) return;
    const [address = '', prefix, extra] = c.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined) f.report(`client ${JSON.stringify(c)} is not an IP address or CIDR; write e.g. "192.168.1.20" or "10.0.0.0/8"`);
    else if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= max)) f.report(`client ${JSON.stringify(c)} has a bad prefix length; use /0 to /${max}`);
  },
});

