/**
 * Follows one MAPI/HTTP exchange: headers at each head, and the response's inner stream
 * (PROCESSING / PENDING / DONE, MS-OXCMAPIHTTP 2.2.7) parsed as chunks pass. The request body
 * (binary ROP buffers, MS-OXCMAPIHTTP 2.2.4) carries no version and is not read.
 */
import { getHeader, type RawHeaders } from '../core/raw-headers.js';
import { observeMapiRequest, observeMapiResponse, type MapiEndpoint, type MapiRequestFacts, type MapiResponseFacts } from './mapihttp.js';
import { MapiStreamParser, type MapiStreamFacts } from './mapihttp-stream.js';
import type { Observation, RequestHeadView } from './observer.js';

export interface MapiFacts {
  request: MapiRequestFacts;
  response?: MapiResponseFacts;
  stream?: MapiStreamFacts;
}

export class MapiObservation implements Observation {
  readonly protocol = 'mapihttp' as const;
  private readonly request: MapiRequestFacts;
  private response: MapiResponseFacts | undefined;
  private stream: MapiStreamParser | undefined;
  /** Raw Cookie header, kept only to tell sessions apart (negotiation.ts); never recorded. */
  readonly cookieHeader: string | undefined;

  constructor(head: RequestHeadView, endpoint?: MapiEndpoint) {
    this.request = observeMapiRequest(head.path, head.rawHeaders, endpoint);
    this.cookieHeader = getHeader(head.rawHeaders, 'cookie');
  }

  wantsRequestBody(): boolean {
    return false;
  }

  requestBody(): void {}

  requestEnd(): void {}

  responseHead(statusCode: number, rawHeaders: RawHeaders): void {
    this.response = observeMapiResponse(statusCode, rawHeaders);
    // Only a success carries the meta-tag framing; errors are text/html diagnostics (2.2.2.2).
    const type = (getHeader(rawHeaders, 'content-type') ?? '').toLowerCase();
    if (statusCode === 200 && type.startsWith('application/mapi-http')) this.stream = new MapiStreamParser();
  }

  wantsResponseBody(): boolean {
    return this.stream !== undefined;
  }

  responseBody(chunk: Buffer): void {
    this.stream?.push(chunk);
  }

  conclude(): { facts: MapiFacts; problems: string[] } {
    const facts: MapiFacts = { request: this.request, response: this.response, stream: this.stream?.end() };
    const problems = [...facts.request.problems, ...(facts.response?.problems ?? []), ...(facts.stream?.problems ?? [])];
    return { facts, problems };
  }
}
