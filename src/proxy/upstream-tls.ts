/**
 * TLS towards upstreams (issue 5, item 4): verified by default against the system store plus
 * `--upstream-ca` files; `--insecure-upstream` globs skip verification for lab servers with
 * self-signed certificates. A verification failure is explained in words a user can act on.
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { ProgramError } from '../errors.js';
import { compilePattern } from '../rules/matchers.js';

export interface UpstreamTlsOptions {
  /** Extra trusted CA certificates (PEM), from --upstream-ca. */
  extraCa?: string[];
  /** Host globs whose certificates are not verified; an empty list means every host. */
  insecure?: string[];
}

export interface UpstreamTls {
  /** Options for tls.connect / https.Agent towards `hostname` (one of two shared, frozen objects). */
  optionsFor(hostname: string): Readonly<tls.ConnectionOptions>;
}

export function createUpstreamTls(options: UpstreamTlsOptions = {}): UpstreamTls {
  // Node's own store plus ours: passing `ca` replaces the default store, so it is joined here,
  // once. Passed as `ca`, the ~150 certificates would be parsed into a new context on every
  // upstream connection (~17 ms on the event loop) and joined into the agent's pool key on every
  // request; one shared secure context costs neither.
  const secureContext = options.extraCa !== undefined && options.extraCa.length > 0 ? tls.createSecureContext({ ca: [...tls.rootCertificates, ...options.extraCa] }) : undefined;
  const insecure = options.insecure?.map((glob) => compilePattern(glob).regex);
  const skip = (host: string): boolean => insecure !== undefined && (insecure.length === 0 || insecure.some((r) => r.test(host)));
  // Asked for on every request to an https: origin: the two possible answers are made once.
  const verified = Object.freeze({ ...(secureContext && { secureContext }), rejectUnauthorized: true });
  const unverified = Object.freeze({ ...(secureContext && { secureContext }), rejectUnauthorized: false });
  return {
    optionsFor: (hostname) => (skip(hostname) ? unverified : verified),
  };
}

/**
 * The upstream TLS of `./proxy start` and `./proxy replay`: `--upstream-ca` files read once, at
 * start (a missing or non-PEM file is a config error, before any traffic), and `--insecure-upstream` globs.
 */
export async function loadUpstreamTls(options: { caFiles?: string[]; insecure?: string[] }): Promise<UpstreamTls> {
  return createUpstreamTls({ extraCa: await readUpstreamCa(options.caFiles ?? []), ...(options.insecure !== undefined && { insecure: options.insecure }) });
}

async function readUpstreamCa(files: string[]): Promise<string[]> {
  const pems: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ProgramError('ERR_BAD_OPTION', `--upstream-ca ${file} cannot be read (${err.code ?? err.message})`, 'pass a PEM file with the CA certificate that signed the upstream');
    });
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ProgramError('ERR_BAD_OPTION', `--upstream-ca ${file} holds no PEM certificate`, 'pass a PEM file (-----BEGIN CERTIFICATE-----); convert DER with openssl x509 -inform der');
    }
    pems.push(text);
  }
  return pems;
}

/** Certificate verification codes (OpenSSL via Node) and what they mean for the user. */
const REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate is for another host name',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed (unknown issuer)',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends in an unknown, self-signed CA (unknown issuer)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is issued by an unknown CA (unknown issuer)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is issued by an unknown CA (unknown issuer)',
  UNABLE_TO_GET_ISSUER_CERT: 'its certificate is issued by an unknown CA (unknown issuer)',
  CERT_REVOKED: 'its certificate has been revoked',
  CERT_SIGNATURE_FAILURE: 'its certificate signature does not verify',
};

/** `the upstream's certificate …; fix`, when `err` is a certificate verification failure. */
export function describeTlsFailure(err: NodeJS.ErrnoException, hostname: string): string | undefined {
  const reason = err.code === undefined ? undefined : REASONS[err.code];
  if (reason === undefined) return undefined;
  const fix = err.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || err.code === 'CERT_HAS_EXPIRED' || err.code === 'CERT_NOT_YET_VALID'
    ? `for a lab server, --insecure-upstream ${hostname} skips verification`
    : `trust its CA with --upstream-ca FILE, or for a lab server skip verification with --insecure-upstream ${hostname}`;
  return `TLS verification of ${hostname} failed: ${reason} (${err.code}); ${fix}`;
}
