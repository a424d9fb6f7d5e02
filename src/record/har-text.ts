/**
 * Captured bytes as HAR text, for bodies (har.ts) and WebSocket messages (har-websocket.ts) alike:
 * HAR 1.2 "content" carries `text` as a string, with `encoding: "base64"` for bytes that are not
 * text; here the bytes stay text only when they are valid UTF-8, so nothing is replaced on the way.
 */
import { isUtf8 } from 'node:buffer';

/** Decoded bodies past this are left encoded: a viewer gains nothing from a 64 MiB string. */
export const MAX_DECODED = 64 * 1024 * 1024;

/** The bytes as a string when they are valid UTF-8, so nothing is replaced on the way. */
export function utf8Text(bytes: Buffer): string | undefined {
  return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}
