/**
 * WebSocket connections in HAR. HAR 1.2 has no field for them; this follows Chrome's convention,
 * which DevTools and HAR viewers read: the upgrade's entry has `_resourceType: "websocket"` and
 * `_webSocketMessages`, one object per message as the recorder kept it (RFC 6455 §5: data frames
 * joined, control frames as they came). `_webSocket` adds what the recorder counted and dropped.
 * Pure: no I/O; har.ts calls it for an upgrade's entry.
 */
import { constants, inflateRawSync } from 'node:zlib';
import { getHeader, type RawHeaders } from '../core/raw-headers.js';
import { decodeBytes, type ExchangeLine, type JournalWebSocketMessage } from './entry.js';
import { MAX_DECODED, utf8Text } from './har-text.js';
import type { HarEntry, HarWebSocketMessage } from './har-types.js';

/** An upgrade to WebSocket (RFC 6455 §4.1: `Upgrade: websocket`, case-insensitive). */
export function isWebSocket(raw: RawHeaders): boolean {
  return (getHeader(raw, 'upgrade') ?? '').toLowerCase().includes('websocket');
}

/** Marks a WebSocket upgrade's entry as Chrome does and adds its messages when the journal has them. */
export function addWebSocket(entry: HarEntry, line: ExchangeLine): void {
  entry._resourceType = 'websocket';
  if (line.websocket !== undefined) {
    entry._webSocketMessages = line.websocket.messages.map(harWebSocketMessage);
    entry._webSocket = { counts: line.websocket.counts, dropped: line.websocket.dropped, problems: line.websocket.problems };
  }
}

/**
 * Chrome's `_webSocketMessages`: client → server is "send", epoch seconds, binary (opcode 2) as
 * base64. Other payloads are text when they are UTF-8, else base64 flagged with `_encoding`.
 * permessage-deflate payloads (RFC 7692) are inflated when they stand alone; one that needs the
 * earlier messages' window (context takeover, §7.1.1) stays compressed, flagged `_compressed`.
 * A cut message has `_truncated` and its real size in `_realSize` (`data` holds what was kept).
 */
function harWebSocketMessage(m: JournalWebSocketMessage): HarWebSocketMessage {
  let bytes = decodeBytes(m);
  let compressed = m.compressed === true;
  if (compressed && m.truncated !== true) {
    try {
      // RFC 7692 §7.2.2: the sender removed the final empty block's 00 00 FF FF; put it back.
      bytes = inflateRawSync(Buffer.concat([bytes, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED });
      compressed = false;
    } catch {
      // Kept compressed, as it passed.
    }
  }
  const message: HarWebSocketMessage = { type: m.from === 'client' ? 'send' : 'receive', time: m.time / 1000, opcode: m.opcode, data: '' };
  const text = m.opcode === 2 || compressed ? undefined : utf8Text(bytes);
  if (text !== undefined) message.data = text;
  else {
    message.data = bytes.toString('base64');
    if (m.opcode !== 2) message._encoding = 'base64';
  }
  if (m.truncated === true) {
    message._truncated = true;
    message._realSize = m.size;
  }
  if (compressed) message._compressed = true;
  return message;
}
