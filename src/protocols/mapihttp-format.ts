/**
 * Writes the MAPI/HTTP response inner stream (MS-OXCMAPIHTTP 2.2.2.2, 2.2.7; docs/protocols.md §1.8):
 *
 *   META-TAGS            PROCESSING CRLF, PENDING CRLF …, DONE CRLF
 *   ADDITIONAL HEADERS   X-ResponseCode: 0 CRLF, X-ElapsedTime: <ms> CRLF, X-StartTime: <date> CRLF
 *   CRLF
 *   RESPONSE BODY        little-endian binary (§1.6)
 *
 * and the text/html diagnostic page sent with a non-zero X-ResponseCode (§1.7, §4.5), plus the
 * small response bodies of §1.6. Pure formatting: the caller decides timing and chunking (the
 * spec example 4.2 sends each meta-tag as its own chunk).
 */

/** MS-OXCMAPIHTTP 2.2.3.1.1: request and success-response Content-Type. */
export const MAPI_HTTP_CONTENT_TYPE = 'application/mapi-http';

/** The three meta-tags of §1.8. */
export type MetaTag = 'PROCESSING' | 'PENDING' | 'DONE';

/** `PROCESSING\r\n` (12 bytes = chunk size C of §4.3), `PENDING\r\n` (9), `DONE\r\n` (6). */
export function formatMetaTag(tag: MetaTag): Buffer {
  return Buffer.from(`${tag}\r\n`, 'latin1');
}

/** `Name: value` CRLF lines followed by the blank line that ends the additional headers. */
export function formatAdditionalHeaders(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.from(`${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`, 'latin1');
}

export interface DoneSection {
  /** Additional X-ResponseCode; may differ from the outer header to signal a late failure (§1.8). */
  responseCode: number;
  /** X-ElapsedTime, milliseconds the server spent (SPEC; gromox writes seconds, §1.7). */
  elapsedMs: number;
  /** X-StartTime, written in RFC 2616 date format (`Wed, 31 Jan 2018 05:15:08 GMT`). */
  startTime: Date;
  /** Further additional headers after the three standard ones. */
  extra?: ReadonlyArray<readonly [string, string]>;
  body?: Buffer;
}

/** `DONE` CRLF + additional headers + CRLF + body: everything after the keep-alives. */
export function formatDone(done: DoneSection): Buffer {
  const headers: Array<readonly [string, string]> = [
    ['X-ResponseCode', String(done.responseCode)],
    ['X-ElapsedTime', String(Math.max(0, Math.round(done.elapsedMs)))],
    ['X-StartTime', done.startTime.toUTCString()],
    ...(done.extra ?? []),
  ];
  return Buffer.concat([formatMetaTag('DONE'), formatAdditionalHeaders(headers), done.body ?? Buffer.alloc(0)]);
}

/** A whole inner stream at once, for Content-Length responses (spec example 4.1). */
export function formatInnerStream(keepAlives: readonly MetaTag[], done: DoneSection): Buffer {
  return Buffer.concat([...keepAlives.map(formatMetaTag), formatDone(done)]);
}

/**
 * The diagnostic page of a non-zero X-ResponseCode (§1.7: the body MUST be text/html). The page
 * text is not specified; this follows gromox's (§4.5) with CRLF lines.
 */
export function formatErrorPage(message: string): Buffer {
  const safe = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return Buffer.from(
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n<title>MAPI OVER HTTP ERROR</title>\r\n' +
      `</head><body>\r\n<h1>Diagnostic Information</h1>\r\n<p>${safe}</p>\r\n</body></html>\r\n`,
    'utf8',
  );
}

// ---- response bodies (MS-OXCMAPIHTTP 2.2.4/2.2.5; §1.6), little-endian ----

/** Writes u32s, NUL-terminated ASCII and UTF-16LE strings, GUIDs, in order. */
export class BodyWriter {
  private readonly parts: Buffer[] = [];

  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    this.parts.push(b);
    return this;
  }

  u8(value: number): this {
    this.parts.push(Buffer.from([value & 0xff]));
    return this;
  }

  ascii(text: string): this {
    this.parts.push(Buffer.from(`${text}\0`, 'latin1'));
    return this;
  }

  utf16(text: string): this {
    this.parts.push(Buffer.from(`${text}\0`, 'utf16le'));
    return this;
  }

  bytes(data: Buffer): this {
    this.parts.push(data);
    return this;
  }

  /** An empty auxiliary buffer: AuxiliaryBufferSize 0. */
  noAux(): this {
    return this.u32(0);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface ConnectResponse {
  errorCode?: number;
  pollsMax?: number;
  retryCount?: number;
  retryDelay?: number;
  dnPrefix: string;
  displayName: string;
}

/**
 * Connect success response (§1.6): StatusCode 0 | ErrorCode | PollsMax | RetryCount |
 * RetryDelay | DnPrefix (ASCII) | DisplayName (UTF-16LE) | aux. A refused client build would put
 * ecClientVerDisallowed (0x4DF) in ErrorCode with StatusCode still 0 (§4.6, CONSTRUCTED).
 */
export function formatConnectResponse(r: ConnectResponse): Buffer {
  return new BodyWriter()
    .u32(0)
    .u32(r.errorCode ?? 0)
    .u32(r.pollsMax ?? 60000)
    .u32(r.retryCount ?? 6)
    .u32(r.retryDelay ?? 10000)
    .ascii(r.dnPrefix)
    .utf16(r.displayName)
    .noAux()
    .toBuffer();
}

/** Execute success response (§1.6): StatusCode | ErrorCode | Flags 0 | RopBufferSize | RopBuffer | aux. */
export function formatExecuteResponse(ropBuffer: Buffer, errorCode = 0): Buffer {
  return new BodyWriter().u32(0).u32(errorCode).u32(0).u32(ropBuffer.length).bytes(ropBuffer).noAux().toBuffer();
}

/** NotificationWait response (§1.6): StatusCode | ErrorCode | EventPending (1 = call Execute) | aux. */
export function formatNotificationWaitResponse(eventPending: boolean): Buffer {
  return new BodyWriter().u32(0).u32(0).u32(eventPending ? 1 : 0).noAux().toBuffer();
}

/** Disconnect / Unbind response: StatusCode | ErrorCode | aux. */
export function formatStatusResponse(errorCode = 0): Buffer {
  return new BodyWriter().u32(0).u32(errorCode).noAux().toBuffer();
}

/** NSPI Bind response: StatusCode | ErrorCode | ServerGuid (16 bytes) | aux. */
export function formatBindResponse(serverGuid: Buffer): Buffer {
  return new BodyWriter().u32(0).u32(0).bytes(serverGuid.subarray(0, 16)).noAux().toBuffer();
}

/** GetMailboxUrl / GetAddressBookUrl response: StatusCode | ErrorCode | ServerUrl (UTF-16LE) | aux. */
export function formatUrlResponse(serverUrl: string): Buffer {
  return new BodyWriter().u32(0).u32(0).utf16(serverUrl).noAux().toBuffer();
}
