/**
 * Follows one FPSE exchange: the first line of an RPC request body (method name and client
 * version, MS-FPSE 2.2.2), never reading further; the response packet (a small HTML "vermeer
 * RPC packet", MS-FPSE 2.2.4) or the _vti_inf.html page, kept up to a cap and parsed at the end.
 */
import type { RawHeaders } from '../core/raw-headers.js';
import { BoundedCollector } from './bounded-collector.js';
import { observeFpseRequestHeaders, observeFpseResponseHeaders, type FpseEndpoint, type FpseHeaderFacts } from './fpse.js';
import { parseFpsePacket, type FpsePacketFacts } from './fpse-packet.js';
import { FpseRequestScanner, type FpseRequestFacts } from './fpse-request.js';
import { parseVtiInf, type VtiInfFacts } from './fpse-vti-inf.js';
import type { Observation, RequestHeadView } from './observer.js';

/** Real packets are a few KiB; anything larger is not a packet worth decoding whole. */
const RESPONSE_CAP = 256 * 1024;

export interface FpseFacts {
  endpoint: FpseEndpoint;
  requestHeaders: FpseHeaderFacts;
  request?: FpseRequestFacts;
  responseHeaders?: FpseHeaderFacts;
  packet?: FpsePacketFacts;
  vtiInf?: VtiInfFacts;
}

export class FpseObservation implements Observation {
  readonly protocol = 'fpse' as const;
  private readonly requestHeaders: FpseHeaderFacts;
  private readonly scanner: FpseRequestScanner | undefined;
  private scanned = false;
  private responseHeaders: FpseHeaderFacts | undefined;
  private collector: BoundedCollector | undefined;

  constructor(
    readonly endpoint: FpseEndpoint,
    head: RequestHeadView,
  ) {
    this.requestHeaders = observeFpseRequestHeaders(head.rawHeaders, endpoint);
    // owssvr.dll POSTs carry Cmd=/CAML, not a method= line (MS-FPSE 2.2.2 covers the RPC DLLs).
    if (endpoint !== 'vti-inf' && endpoint !== 'owssvr' && head.method.toUpperCase() === 'POST') this.scanner = new FpseRequestScanner();
  }

  wantsRequestBody(): boolean {
    return this.scanner !== undefined && !this.scanned;
  }

  requestBody(chunk: Buffer): void {
    if (this.scanner && !this.scanned) this.scanned = this.scanner.push(chunk);
  }

  requestEnd(): void {
    this.scanner?.end();
  }

  responseHead(statusCode: number, rawHeaders: RawHeaders): void {
    this.responseHeaders = observeFpseResponseHeaders(rawHeaders);
    if (statusCode === 200) this.collector = new BoundedCollector(RESPONSE_CAP);
  }

  wantsResponseBody(): boolean {
    return this.collector !== undefined;
  }

  responseBody(chunk: Buffer): void {
    this.collector?.push(chunk);
  }

  conclude(): { facts: FpseFacts; problems: string[] } {
    const facts: FpseFacts = { endpoint: this.endpoint, requestHeaders: this.requestHeaders, request: this.scanner?.result(), responseHeaders: this.responseHeaders };
    if (this.collector) {
      const body = this.collector.bytes();
      if (this.endpoint === 'vti-inf') facts.vtiInf = parseVtiInf(body);
      else facts.packet = parseFpsePacket(body);
      if (this.collector.truncated) {
        (facts.vtiInf ?? facts.packet)?.problems.push(`response body of ${this.collector.total} bytes is over ${RESPONSE_CAP} bytes: only its start was decoded`);
      }
    }
    const problems = [
      ...facts.requestHeaders.problems,
      ...(facts.request?.problems ?? []),
      ...(facts.responseHeaders?.problems ?? []),
      ...(facts.packet?.problems ?? []),
      ...(facts.vtiInf?.problems ?? []),
    ];
    return { facts, problems };
  }
}
