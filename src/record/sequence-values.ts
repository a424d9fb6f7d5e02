/**
 * The values a sequence diagram's arrows carry, read from an exchange record (sequence-call.ts
 * says which view each arrow reads): the FPSE packet's method-line version (MS-FPSE 1.7.1), its
 * `server version` list (3.1.5.3.14) and status (2.2.4.1), the discovery page's FPVersion
 * (3.1.3.2.1), MAPI/HTTP X-ServerApplication (MS-OXCMAPIHTTP 2.2.3.3.7) and X-ResponseCode
 * (2.2.3.3.3). The facts are `object` in the record and may come from a journal on disk, so
 * every field is read defensively and every string is clipped to TEXT_LIMIT.
 * Pure: no node: imports, no DOM.
 */
import type { SidedChange } from './sequence-call.js';

/** Longest string kept from the traffic; the SVG elides further and keeps this much in a <title>. */
export const TEXT_LIMIT = 300;

/** The value a response rule replaced at `target`: the server's own. */
function changedTarget(changes: SidedChange[], target: string): string | undefined {
  return changes.find((c) => c.target === target)?.before;
}

/**
 * What the server's answer said: the values a response rule replaced are the server's own
 * (`before`); the rest are as delivered, because nothing changed them.
 */
export function fpseServerSaid(facts: unknown, changes: SidedChange[]): string | undefined {
  const vtiInf = field(facts, 'vtiInf');
  if (vtiInf !== undefined) {
    const build = changedTarget(changes, 'response body: FPVersion') ?? text(field(vtiInf, 'fpVersionText'));
    return build === undefined ? undefined : `FPVersion ${build}`;
  }
  const packet = field(facts, 'packet');
  return fpsePacketText(packet, changedTarget(changes, 'response body: method line'), changedTarget(changes, 'response body: server version'));
}

export function fpseClientGot(facts: unknown): string | undefined {
  const vtiInf = field(facts, 'vtiInf');
  if (vtiInf !== undefined) {
    const build = text(field(vtiInf, 'fpVersionText'));
    return build === undefined ? undefined : `FPVersion ${build}`;
  }
  return fpsePacketText(field(facts, 'packet'), undefined, undefined);
}

/** `method line 12.0.0.6415, server 14.0.0.6029` or `status 262156 (0x0004000C, client too old)` (MS-FPSE 2.2.4.1, 1.7.1). */
function fpsePacketText(packet: unknown, methodLine: string | undefined, serverList: string | undefined): string | undefined {
  if (packet === undefined) return undefined;
  const parts: string[] = [];
  const status = field(packet, 'status');
  if (status !== undefined) {
    const code = text(field(status, 'status'));
    const hex = text(field(status, 'hex'));
    const name = text(field(status, 'name'));
    const meaning = code === '262156' ? 'client too old' : name;
    parts.push(`status ${code ?? '?'}${hex === undefined && meaning === undefined ? '' : ` (${[hex, meaning].filter((s) => s !== undefined).join(', ')})`}`);
  }
  const line = methodLine ?? versionText(field(packet, 'methodVersion'));
  if (line !== undefined) parts.push(`method line ${line}`);
  const server = serverList ?? versionText(field(packet, 'serverVersion', 'version'));
  if (server !== undefined) parts.push(`server ${server}`);
  return parts.length === 0 ? undefined : parts.join(', ');
}

/** X-ServerApplication and a failing X-ResponseCode (MS-OXCMAPIHTTP 2.2.3.3.7, 2.2.3.3.3); the one after DONE when the facts have it. */
export function mapiSaid(rawHeaders: unknown, facts: unknown): string | undefined {
  const parts: string[] = [];
  const server = header(rawHeaders, 'X-ServerApplication');
  if (server !== undefined) parts.push(server);
  const code = header(rawHeaders, 'X-ResponseCode');
  if (code !== undefined && code.trim() !== '0') parts.push(`X-ResponseCode ${code}`);
  const late = text(field(facts, 'stream', 'responseCode', 'value'));
  if (late !== undefined && late !== '0') parts.push(`X-ResponseCode ${late} after DONE`);
  return parts.length === 0 ? undefined : parts.join(', ');
}

/** The first value of a header, case-insensitively, from a raw list that may not be one. */
export function header(rawHeaders: unknown, name: string): string | undefined {
  if (!Array.isArray(rawHeaders)) return undefined;
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key: unknown = rawHeaders[i];
    if (typeof key === 'string' && key.toLowerCase() === lower) return clip(String(rawHeaders[i + 1]));
  }
  return undefined;
}

/** A nested field of untyped data (protocol facts are `object` in the record). */
function field(value: unknown, ...path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? clip(value) : typeof value === 'number' ? String(value) : undefined;
}

/** A parsed version's text, or the text that failed to parse (core/version.ts VersionResult). */
function versionText(result: unknown): string | undefined {
  return field(result, 'ok') === true ? text(field(result, 'version', 'text')) : text(field(result, 'text'));
}

export function clip(value: string): string {
  return value.length <= TEXT_LIMIT ? value : `${value.slice(0, TEXT_LIMIT - 1)}…`;
}
