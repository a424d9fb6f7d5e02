/**
 * An upstream that failed, as data (docs/running.md "Failures are answers"): the `exchange.error` the record
 * keeps, and the answer a client can act on while no response is under way: 502 when the
 * upstream refused, reset or could not be verified, 504 when it stayed silent past
 * --upstream-timeout. The pipeline (http-exchange.ts) decides whether the answer can still go out.
 */
import type { Phase, TrafficError } from '../core/exchange.js';
import type { ProxyAnswer } from './respond.js';
import { describeTlsFailure } from './upstream-tls.js';

export interface UpstreamFailure {
  /** For the record. */
  error: TrafficError;
  /** For the client, when no response head has gone out yet. */
  answer: ProxyAnswer;
}

/** A request error of the upstream request (`phase` says how far the exchange got). */
export function upstreamErrorOf(err: NodeJS.ErrnoException, url: string, phase: Phase): UpstreamFailure {
  const code = err.code ?? 'EUPSTREAM';
  // A certificate the proxy could not verify is said in words, with the flag that fixes it.
  const tlsFailure = describeTlsFailure(err, hostOfUrl(url));
  const where = originOf(url);
  const message =
    tlsFailure !== undefined
      ? `could not connect to the upstream ${where}: ${tlsFailure}`
      : phase === 'connect'
        ? `could not connect to the upstream ${where}: ${code} (${err.message})`
        : `the upstream ${where} failed before answering: ${code} (${err.message})`;
  return { error: { code, message: tlsFailure ?? err.message, phase }, answer: { status: 502, code, message } };
}

/** The upstream's socket sat idle for `timeoutMs` while the exchange waited on it. */
export function upstreamTimeoutOf(timeoutMs: number, url: string, phase: Phase): UpstreamFailure {
  const seconds = timeoutMs / 1000;
  return {
    error: { code: 'UPSTREAM_TIMEOUT', message: `no data from the upstream for ${seconds} s (--upstream-timeout)`, phase },
    answer: { status: 504, code: 'UPSTREAM_TIMEOUT', message: `the upstream ${originOf(url)} sent nothing for ${seconds} s; raise --upstream-timeout if it needs longer` },
  };
}

function hostOfUrl(url: string): string {
  return /^[a-z]+:\/\/\[?([^\]/:]*)/i.exec(url)?.[1] ?? url;
}

function originOf(url: string): string {
  const match = /^[a-z]+:\/\/[^/]*/i.exec(url);
  return match ? match[0] : url;
}
