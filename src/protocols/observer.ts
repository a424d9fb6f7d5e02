/**
 * Protocol observers (the pipeline in src/proxy/http-exchange.ts, steps 2, 4 and 7): the first observer that
 * claims a request head follows the exchange, reading bytes as they pass without holding them
 * up. An observer reads; it never changes traffic (STYLE.md habit 8). What it decodes becomes
 * facts on the record, judged by negotiation.ts when the exchange ends.
 */
import type { RawHeaders } from '../core/raw-headers.js';
import { claimsFpse } from './fpse.js';
import { FpseObservation } from './fpse-observation.js';
import { mapiClaim } from './mapihttp.js';
import { MapiObservation } from './mapihttp-observation.js';

export interface Observation {
  readonly protocol: 'mapihttp' | 'fpse';
  /** False once the observer has what it needs from the request body (FPSE: its first line). */
  wantsRequestBody(): boolean;
  requestBody(chunk: Buffer): void;
  /** The request body ended (not called when the client aborted). */
  requestEnd(): void;
  responseHead(statusCode: number, rawHeaders: RawHeaders): void;
  wantsResponseBody(): boolean;
  responseBody(chunk: Buffer): void;
  /**
   * Called once when the exchange has ended (or was cut short): the decoded facts, as plain data
   * for the record, and everything that could not be decoded (the traffic passed unchanged).
   */
  conclude(): Conclusion;
}

export interface Conclusion {
  facts: object;
  problems: string[];
}

export interface RequestHeadView {
  method: string;
  /** Origin-form path with query. */
  path: string;
  rawHeaders: RawHeaders;
}

/** The observer that claims this request, if any: MAPI/HTTP first (its claim is narrower). */
export function observeRequest(head: RequestHeadView): Observation | undefined {
  const mapi = mapiClaim(head.method, head.path, head.rawHeaders);
  if (mapi !== undefined) return new MapiObservation(head, mapi);
  const endpoint = claimsFpse(head.method, head.path);
  if (endpoint !== undefined) return new FpseObservation(endpoint, head);
  return undefined;
}
