/**
 * TLS fixtures for tests, made with the same library as src/tls/ca.ts: a test CA of its own for
 * HTTPS upstreams (so the proxy's upstream verification has something to trust or refuse), leaves
 * that are expired, not yet valid or for the wrong name, self-signed certificates, and an HTTPS
 * server on 127.0.0.1 port 0 that close() tears down completely.
 */
// First: @peculiar/x509 loads tsyringe, which needs the Reflect metadata polyfill already in place.
import 'reflect-metadata';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  type Extension,
} from '@peculiar/x509';
import { createPrivateKey, type webcrypto } from 'node:crypto';
import https from 'node:https';
import type http from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';

const DAY_MS = 24 * 60 * 60 * 1000;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  /** Valid from 30 days ago until yesterday. */
  expired?: boolean;
  /** Valid from tomorrow on. */
  notYetValid?: boolean;
}

export interface TestCa extends CertAndKey {
  /** A server leaf for `names` (DNS names and/or IPs), each with a key of its own. */
  issue(names: string[], options?: IssueOptions): Promise<CertAndKey>;
}

/** A CA named `<name> test CA`, valid from yesterday for a year. */
export async function makeTestCa(name: string): Promise<TestCa> {
  const keys = await newKeyPair();
  const subject = `CN=${name} test CA`;
  const now = Date.now();
  const ski = await SubjectKeyIdentifierExtension.create(keys.publicKey);
  const caCert = await X509CertificateGenerator.createSelfSigned({
    name: subject,
    keys,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new BasicConstraintsExtension(true, undefined, true), new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true), ski],
  });
  return {
    certPem: caCert.toString('pem'),
    keyPem: await exportKeyPem(keys.privateKey),
    async issue(names, options = {}) {
      const leafKeys = await newKeyPair();
      const cert = await X509CertificateGenerator.create({
        subject: `CN=${names[0] ?? 'leaf'}`,
        issuer: caCert.subjectName,
        ...validity(options),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [...leafExtensions(names), await SubjectKeyIdentifierExtension.create(leafKeys.publicKey), new AuthorityKeyIdentifierExtension(ski.keyId)],
      });
      return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(leafKeys.privateKey) };
    },
  };
}

/** A self-signed server certificate for `names`: what a lab server with no CA behind it presents. */
export async function makeSelfSigned(names: string[], options: IssueOptions = {}): Promise<CertAndKey> {
  const keys = await newKeyPair();
  const cert = await X509CertificateGenerator.createSelfSigned({
    name: `CN=${names[0] ?? 'self-signed'}`,
    keys,
    ...validity(options),
    signingAlgorithm: ECDSA_SHA256,
    extensions: leafExtensions(names),
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

export interface HttpsTestServer {
  server: https.Server;
  port: number;
  /** `https://127.0.0.1:PORT` */
  url: string;
  /** Stops listening and destroys every socket still open, mid-handshake ones included. */
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 port 0 presenting `certPem` (a chain may follow the leaf). */
export async function startHttpsServer(handler: http.RequestListener, tls: CertAndKey): Promise<HttpsTestServer> {
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, handler);
  // Tracked from the TCP accept: closeAllConnections() only knows sockets that got past TLS.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function validity(options: IssueOptions): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  if (options.expired) return { notBefore: new Date(now - 30 * DAY_MS), notAfter: new Date(now - DAY_MS) };
  if (options.notYetValid) return { notBefore: new Date(now + DAY_MS), notAfter: new Date(now + 30 * DAY_MS) };
  return { notBefore: new Date(now - DAY_MS), notAfter: new Date(now + 90 * DAY_MS) };
}

function leafExtensions(names: string[]): Extension[] {
  return [
    new BasicConstraintsExtension(false, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
    new SubjectAlternativeNameExtension(names.map((value) => ({ type: isIP(value) ? 'ip' : 'dns', value }))),
  ];
}

function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}
