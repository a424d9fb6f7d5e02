/**
 * HAR 1.2 as ./proxy har writes it (http://www.softwareishard.com/blog/har-12-spec/): the objects
 * of one entry, typed, on their own so the conversion (har.ts, har-websocket.ts) and the tests
 * that read HAR files share one declaration. Fields with a leading underscore are custom fields,
 * which HAR 1.2 allows ("Custom fields"); har.ts says what each one holds.
 */
import type { ResponseHead } from '../core/exchange.js';

/** HAR 1.2 "headers" and "queryString" items. */
export interface HarNameValue {
  name: string;
  value: string;
}

/** HAR 1.2 "cookies" (from Cookie and Set-Cookie, RFC 6265). */
export interface HarCookie extends HarNameValue {
  path?: string;
  domain?: string;
  expires?: string;
  httpOnly?: boolean;
  secure?: boolean;
}

/** HAR 1.2 "content" of a response. */
export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  encoding?: 'base64';
  _truncated?: true;
  /** Bytes kept when `_truncated` (`size` is the real size). */
  _size?: number;
  _contentEncoding?: string;
}

/** HAR 1.2 "postData" of a request. */
export interface HarPostData {
  mimeType: string;
  text?: string;
  /** HAR 1.2 postData has no `encoding` field: base64 text is flagged with this custom field. */
  _encoding?: 'base64';
  _truncated?: true;
  _size?: number;
}

/** HAR 1.2 "timings", milliseconds, -1 where unknown (har.ts harTimings says which). */
export interface HarTimings {
  blocked: number;
  dns: number;
  connect: number;
  send: number;
  wait: number;
  receive: number;
  ssl: number;
}

/** Chrome's shape for one WebSocket message (`time` in epoch seconds). */
export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  time: number;
  opcode: number;
  data: string;
  _encoding?: 'base64';
  _truncated?: true;
  _realSize?: number;
  _compressed?: true;
}

/** HAR 1.2 "entries": one exchange. */
export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarCookie[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: HarPostData;
    headersSize: -1;
    bodySize: number;
    comment?: string;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarCookie[];
    headers: HarNameValue[];
    content: HarContent;
    redirectURL: string;
    headersSize: -1;
    bodySize: number;
    _source?: ResponseHead['source'];
  };
  cache: Record<string, never>;
  timings: HarTimings;
  connection?: string;
  [custom: `_${string}`]: unknown;
}
