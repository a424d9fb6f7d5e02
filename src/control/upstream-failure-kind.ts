/**
 * Which finished exchanges failed because of the upstream, and how, for the metrics
 * (`version_proxy_upstream_failures_total`). The record keeps every traffic failure as
 * `exchange.error` (docs/running.md "Failures are answers"), whoever caused it; faults a rule
 * injected are not errors at all: they are applied rules with their changes (docs/rules.md
 * "Actions"), so a reset by a rule never reaches this function's answer. What is left to tell
 * apart is the upstream's failures from the client's and from the proxy's own refusals:
 *
 * - the request side (`request-head`, `request-body` phases) is the client's or the proxy's
 *   refusal of it (a bad head, a loop, a broken body), never the upstream's;
 * - `CLIENT_ABORTED` is the client going away, `ERR_CA` the proxy's own CA;
 * - in an intercepted tunnel, a `tunnel`-phase error is the client's TLS handshake with the
 *   proxy (intercept.ts); its upstream failures are on the HTTP exchanges inside;
 * - the rest is counted when its code is one the network, DNS, TLS or the upstream's HTTP can
 *   produce: Node's codes (ECONNREFUSED, ENOTFOUND, ERR_TLS_*, certificate codes, HPE_*) and the
 *   proxy's UPSTREAM_TIMEOUT and BAD_UPSTREAM_HEAD (upstream-failure.ts, http-exchange.ts), and
 *   the E… fallbacks it records when Node gave no code (EUPSTREAM, ETUNNEL). The proxy's
 *   refusal codes of a CONNECT (BAD_CONNECT_TARGET, FORWARDING_LOOP, …) are none of these.
 *
 * The kind is a small fixed set and the code a constant of Node or the proxy: both are bounded
 * label values (never a host, URL or message).
 */
import type { Exchange } from '../core/exchange.js';

export type UpstreamFailureKind = 'refused' | 'dns' | 'timeout' | 'reset' | 'unreachable' | 'tls' | 'protocol' | 'other';

export interface UpstreamFailure {
  kind: UpstreamFailureKind;
  code: string;
}

const KIND_BY_CODE: Readonly<Record<string, UpstreamFailureKind>> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NONAME: 'dns',
  EAI_NODATA: 'dns',
  UPSTREAM_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'reset',
  ECONNABORTED: 'reset',
  EPIPE: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  EPROTO: 'tls',
  BAD_UPSTREAM_HEAD: 'protocol',
};

/** OpenSSL's and Node's certificate and TLS codes (tls.TLSSocket's verifyError, ERR_TLS_*, ERR_SSL_*). */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|INVALID_CA$|PATH_LENGTH_EXCEEDED$|INVALID_PURPOSE$|CERT_UNTRUSTED$|CERT_REJECTED$)/;

/** Any other errno (E…) or Node (ERR_…) code, e.g. ERR_INVALID_CHAR for an upstream head Node will not relay. */
const NODE_CODE = /^(E|ERR_)[A-Z0-9_]{2,40}$/;

/** The upstream's failure on this exchange, or undefined when there was none (or it was not the upstream's). */
export function upstreamFailureOf(x: Exchange): UpstreamFailure | undefined {
  const error = x.error;
  if (error === undefined) return undefined;
  const { code, phase } = error;
  if (phase === 'request-head' || phase === 'request-body') return undefined;
  if (code === 'CLIENT_ABORTED' || code === 'ERR_CA') return undefined;
  if (x.kind === 'tunnel' && x.intercepted === true && phase === 'tunnel') return undefined;
  const kind = KIND_BY_CODE[code] ?? (TLS_CODE.test(code) ? 'tls' : code.startsWith('HPE_') ? 'protocol' : NODE_CODE.test(code) ? 'other' : undefined);
  return kind === undefined ? undefined : { kind, code };
}
