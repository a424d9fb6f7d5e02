/**
 * Windows authentication under interception (issue 5, item 6). Exchange with Extended
 * Protection binds NTLM/Kerberos authentication to the TLS channel the client sees (channel
 * binding, RFC 5929 tls-server-end-point): behind an intercepting proxy the server sees another
 * channel and answers the client's final authentication message with 401 again. That pattern
 * is recognised here, logged once per host, and the record carries the hint.
 */
import type { Logger } from 'pino';
import type { Exchange } from '../core/exchange.js';
import { getHeaderValues } from '../core/raw-headers.js';

const NTLMSSP = Buffer.from('NTLMSSP\0', 'latin1');

/**
 * True for the client's last authentication message: NTLM type 3 (AUTHENTICATE, MS-NLMP
 * 2.2.1.3), bare or wrapped in SPNEGO, or a Kerberos AP-REQ under Negotiate (a GSS-API token,
 * RFC 2743 §3.1, that carries no NTLMSSP).
 */
export function isFinalAuthMessage(authorization: string): boolean {
  const m = /^\s*(NTLM|Negotiate)\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (m === null) return false;
  const token = Buffer.from(m[2]!, 'base64');
  const at = token.indexOf(NTLMSSP);
  if (at >= 0) return token.length >= at + 12 && token.readUInt32LE(at + 8) === 3;
  return m[1]!.toLowerCase() === 'negotiate' && token[0] === 0x60;
}

export class WindowsAuthHints {
  private readonly hinted = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** Called as an exchange finishes; cheap unless it is an intercepted 401. */
  check(exchange: Exchange): void {
    if (exchange.intercepted !== true || exchange.response?.statusCode !== 401) return;
    const sent = getHeaderValues(exchange.request.rawHeaders, 'authorization');
    if (!sent.some(isFinalAuthMessage)) return;
    const host = /^https:\/\/([^/]+)/i.exec(exchange.url)?.[1] ?? exchange.url;
    const hint =
      `${host} refused the client's final NTLM/Negotiate message (401 again) over an intercepted TLS connection: ` +
      `Extended Protection may be binding authentication to the TLS channel, which interception changes; ` +
      `tunnel this host untouched with --no-intercept ${host.replace(/:\d+$/, '')} (or turn Extended Protection off in the lab)`;
    (exchange.hints ??= []).push(hint);
    if (this.hinted.has(host)) return;
    if (this.hinted.size < 10_000) this.hinted.add(host);
    this.log.warn({ xid: exchange.id, host }, hint);
  }
}
